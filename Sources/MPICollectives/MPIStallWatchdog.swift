// MPIStallWatchdog: ends an MPI job whose collectives stopped making progress, naming the
// ranks that never arrived (see docs/reliability.md, "Stalled ranks").
//
// OpenMPI 4.1 has no fault tolerance (ULFM) and no asynchronous progress: a rank whose peer
// was stopped (SIGSTOP), hung or lost spins inside MPI_Allreduce forever. So each rank runs
// one watchdog thread (MPI_THREAD_MULTIPLE) on its own duplicate of MPI_COMM_WORLD. Every
// `interval` seconds it sends its StallWatch counters to every other rank (MPI_Isend, never
// waiting on a peer) and takes in theirs (MPI_Irecv/MPI_Test). When its own main thread has
// been inside one collective for `timeout` seconds with no change in its counters, it names
// the ranks whose heartbeats stopped, or, if all are alive, those that have not reached
// that collective (and are not working alone, e.g. writing a checkpoint), and ends the job
// through MPI_Abort. The main thread's cost is two relaxed atomic increments per collective.
import CMPI
import Collectives
import Foundation

/// One rank's watchdog thread and its heartbeat exchange.
final class MPIStallWatchdog: @unchecked Sendable {
    let rank: Int
    let size: Int
    /// Seconds inside one collective without progress before the job is ended.
    let timeout: Double
    /// Seconds between heartbeats (and checks).
    let interval: Double
    private let watch: StallWatch
    private let onStall: (String) -> Never
    /// The duplicate of MPI_COMM_WORLD that carries only heartbeats.
    private var hb: MPI_Comm?
    /// Heartbeat layout: entered, completed, sideEntered, sideCompleted, step, alone.
    private static let fields = 6
    private static let tag: Int32 = 7
    private let sendBuffers: UnsafeMutablePointer<Int64>
    private let recvBuffers: UnsafeMutablePointer<Int64>
    private let sendRequests: UnsafeMutablePointer<MPI_Request?>
    private let recvRequests: UnsafeMutablePointer<MPI_Request?>
    // Only the watchdog thread touches the state below once it has started.
    private var lastHeard: [Double]
    private var peers: [StallSnapshot]
    private var stopping = false
    private let wake = NSCondition()
    private let finished = DispatchSemaphore(value: 0)
    private var cleanupError: Error?

    /// Duplicates `world` (collective: every rank calls it) and posts the heartbeat receives.
    /// `onStall` ends the job with its message (MPI_Abort); it is called on the watchdog thread.
    init(world: MPI_Comm?, rank: Int, size: Int, watch: StallWatch, timeout: Double,
         onStall: @escaping (String) -> Never) throws {
        self.rank = rank; self.size = size; self.watch = watch; self.timeout = timeout
        self.interval = min(1.0, max(0.05, timeout / 5))
        self.onStall = onStall
        let n = size * MPIStallWatchdog.fields
        sendBuffers = .allocate(capacity: n); sendBuffers.initialize(repeating: 0, count: n)
        recvBuffers = .allocate(capacity: n); recvBuffers.initialize(repeating: 0, count: n)
        sendRequests = .allocate(capacity: size); sendRequests.initialize(repeating: cmpi_request_null(), count: size)
        recvRequests = .allocate(capacity: size); recvRequests.initialize(repeating: cmpi_request_null(), count: size)
        lastHeard = Array(repeating: MPIStallWatchdog.now(), count: size)
        peers = Array(repeating: StallSnapshot(), count: size)
        try MPICommunicator.check(MPI_Comm_dup(world, &hb), "MPI_Comm_dup(stall watchdog)")
        try MPICommunicator.check(MPI_Comm_set_errhandler(hb, cmpi_errors_return()), "MPI_Comm_set_errhandler(stall watchdog)")
        for p in 0..<size where p != rank { try postReceive(p) }
    }

    deinit {
        sendBuffers.deallocate(); recvBuffers.deallocate()
        sendRequests.deallocate(); recvRequests.deallocate()
    }

    /// Monotonic seconds.
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    func start() {
        let t = Thread { [self] in run() }
        t.name = "nntrain stall watchdog"
        t.start()
    }

    /// Stops the thread, cancels its requests and frees its communicator; returns the first
    /// MPI error met on the way (the job is ending; the caller reports it).
    func stop() -> Error? {
        wake.lock(); stopping = true; wake.signal(); wake.unlock()
        finished.wait()
        return cleanupError
    }

    private func run() {
        var lastPoll = MPIStallWatchdog.now()
        var insideSince: Double? = nil
        var seen = StallSnapshot()
        while true {
            wake.lock()
            if !stopping { _ = wake.wait(until: Date(timeIntervalSinceNow: interval)) }
            let stop = stopping
            wake.unlock()
            if stop { break }
            let now = MPIStallWatchdog.now()
            // This process was not scheduled for a while (stopped and continued, or starved):
            // its own view of time is stale; start over rather than blame the others.
            if now - lastPoll > 3 * interval + 1 {
                for p in 0..<size { lastHeard[p] = now }
                insideSince = nil
            }
            lastPoll = now
            do {
                try beat()
                try drain(now: now)
            } catch {
                onStall("the stall watchdog's heartbeat failed (\(error)); ending the job")
            }
            let me = watch.snapshot
            guard me.inside else { insideSince = nil; continue }
            guard let since = insideSince, me.sameProgress(as: seen) else { insideSince = now; seen = me; continue }
            guard now - since >= timeout else { continue }
            if let e = verdict(me: me, waited: now - since, now: now) { onStall(e.description) }
            insideSince = now   // everyone alive and arrived (or working alone): wait on
        }
        cleanup()
        finished.signal()
    }

    /// The stall, if any rank is to blame: ranks without heartbeats, else ranks that have not
    /// reached this rank's collective, else (in a sum between nodes) ranks outside any
    /// collective. Ranks working alone are not blamed while they are alive.
    private func verdict(me: StallSnapshot, waited: Double, now: Double) -> StallError? {
        let staleAfter = max(3 * interval, min(timeout / 2, 10))
        var missing: [Int] = [], details: [String] = []
        let others = (0..<size).filter { $0 != rank }
        for p in others where now - lastHeard[p] > staleAfter {
            missing.append(p)
            details.append("rank \(p) sent no heartbeat for \(StallError.format(now - lastHeard[p])) s (stopped, hung, or its host lost; last at step \(peers[p].step))")
        }
        let alive = others.filter { !missing.contains($0) && !peers[$0].alone }
        var behind: [Int] = []
        if me.entered != me.completed { behind = alive.filter { peers[$0].entered < me.entered } }
        if missing.isEmpty && behind.isEmpty { behind = alive.filter { !peers[$0].inside } }
        for p in behind {
            missing.append(p)
            let s = peers[p]
            details.append("rank \(p) is alive at step \(s.step), " + (s.inside ? "inside collective \(s.entered)" : "outside any collective after collective \(s.completed)"))
        }
        guard !missing.isEmpty else { return nil }
        return StallError(rank: rank, missing: missing.sorted(), collective: me.entered, step: me.step, seconds: waited, details: details)
    }

    private func postReceive(_ p: Int) throws {
        try MPICommunicator.check(MPI_Irecv(recvBuffers + p * MPIStallWatchdog.fields, Int32(MPIStallWatchdog.fields), cmpi_int64(),
                                            Int32(p), MPIStallWatchdog.tag, hb, recvRequests + p), "MPI_Irecv(heartbeat)")
    }

    /// Sends this rank's counters to every peer whose previous heartbeat has gone out.
    private func beat() throws {
        let s = watch.snapshot
        let values: [Int64] = [Int64(s.entered), Int64(s.completed), Int64(s.sideEntered), Int64(s.sideCompleted), Int64(s.step), s.alone ? 1 : 0]
        for p in 0..<size where p != rank {
            if sendRequests[p] != cmpi_request_null() {
                var done: Int32 = 0
                try MPICommunicator.check(MPI_Test(sendRequests + p, &done, cmpi_status_ignore()), "MPI_Test(heartbeat send)")
                if done == 0 { continue }   // that peer is not taking them in: never pile up
            }
            let b = sendBuffers + p * MPIStallWatchdog.fields
            for (i, v) in values.enumerated() { b[i] = v }
            try MPICommunicator.check(MPI_Isend(b, Int32(MPIStallWatchdog.fields), cmpi_int64(), Int32(p), MPIStallWatchdog.tag, hb, sendRequests + p),
                                      "MPI_Isend(heartbeat)")
        }
    }

    /// Takes in every heartbeat that has arrived, keeping each peer's newest.
    private func drain(now: Double) throws {
        for p in 0..<size where p != rank {
            while true {
                var done: Int32 = 0
                try MPICommunicator.check(MPI_Test(recvRequests + p, &done, cmpi_status_ignore()), "MPI_Test(heartbeat receive)")
                if done == 0 { break }
                let b = recvBuffers + p * MPIStallWatchdog.fields
                peers[p] = StallSnapshot(entered: Int(b[0]), completed: Int(b[1]), sideEntered: Int(b[2]), sideCompleted: Int(b[3]),
                                         step: Int(b[4]), alone: b[5] != 0)
                lastHeard[p] = now
                try postReceive(p)
            }
        }
    }

    /// Cancels the receives, lets the sends finish (at most a second), frees the communicator.
    private func cleanup() {
        func note(_ r: Int32, _ what: String) {
            do { try MPICommunicator.check(r, what) } catch { if cleanupError == nil { cleanupError = error } }
        }
        for p in 0..<size where p != rank && recvRequests[p] != cmpi_request_null() {
            note(MPI_Cancel(recvRequests + p), "MPI_Cancel(heartbeat receive)")
            note(MPI_Wait(recvRequests + p, cmpi_status_ignore()), "MPI_Wait(cancelled heartbeat receive)")
        }
        let deadline = MPIStallWatchdog.now() + 1
        for p in 0..<size where p != rank {
            while sendRequests[p] != cmpi_request_null() {
                var done: Int32 = 0
                note(MPI_Test(sendRequests + p, &done, cmpi_status_ignore()), "MPI_Test(heartbeat send)")
                if done != 0 { break }
                if MPIStallWatchdog.now() > deadline {
                    note(MPI_Request_free(sendRequests + p), "MPI_Request_free(heartbeat send)")
                    break
                }
                usleep(1000)
            }
        }
        note(MPI_Comm_free(&hb), "MPI_Comm_free(stall watchdog)")
    }
}
