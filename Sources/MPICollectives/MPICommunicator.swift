// MPICommunicator: the Communicator over OpenMPI's MPI_COMM_WORLD.
// Every MPI return code is checked; MPI errors are set to return (not abort) so that a
// failure becomes a Swift error carrying MPI_Error_string.
import CMPI
import Collectives
import Foundation

/// MPI collectives on MPI_COMM_WORLD. Create one per process, after nothing else touched MPI.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public var kind: String { "mpi" }
    public let stallWatch = StallWatch()
    private let comm = cmpi_comm_world()
    /// The thread level MPI_Init_thread provided.
    public let threadLevel: Int32
    private var watchdog: MPIStallWatchdog?
    /// MPI_THREAD_MULTIPLE lets a second thread call MPI (asked for with the stall watchdog,
    /// which the default `--stall-timeout` starts).
    public var collectivesFromAnyThread: Bool { threadLevel >= Int32(MPI_THREAD_MULTIPLE) }

    /// Whether this process was started by OpenMPI's mpirun (OMPI_COMM_WORLD_SIZE is set).
    public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Initializes MPI and reads rank and size. The thread level is MPI_THREAD_FUNNELED, or
    /// MPI_THREAD_MULTIPLE when a stall watchdog is to run (`startStallWatchdog`).
    public init(forStallWatchdog: Bool = false) throws {
        var provided: Int32 = 0
        let level = Int32(forStallWatchdog ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED)
        try MPICommunicator.check(MPI_Init_thread(nil, nil, level, &provided), "MPI_Init_thread")
        threadLevel = provided
        try MPICommunicator.check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(cmpi_comm_world(), &r), "MPI_Comm_rank")
        try MPICommunicator.check(MPI_Comm_size(cmpi_comm_world(), &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
    }

    /// Finalizes MPI (call once, at the end of a successful run), stopping the watchdog first.
    public func finalize() {
        if let w = watchdog, let e = w.stop() {
            FileHandle.standardError.write(Data("nntrain: warning (rank \(rank)): stopping the stall watchdog: \(e)\n".utf8))
        }
        watchdog = nil
        _ = MPI_Finalize()
    }

    /// Starts the stall watchdog (collective; idempotent): when this rank's main thread has
    /// been inside one collective for `timeout` seconds without progress, the job ends through
    /// MPI_Abort (exit status `StallError.exitCode`) naming the ranks that never arrived.
    /// Returns a note instead when MPI cannot run it (thread level below MPI_THREAD_MULTIPLE).
    public func startStallWatchdog(timeout: Double) throws -> String? {
        guard size > 1, timeout > 0, watchdog == nil else { return nil }
        guard threadLevel >= Int32(MPI_THREAD_MULTIPLE) else {
            return "this MPI provides thread level \(threadLevel), below MPI_THREAD_MULTIPLE: no stall watchdog (--stall-timeout is ignored)"
        }
        let w = try MPIStallWatchdog(world: comm, rank: rank, size: size, watch: stallWatch, timeout: timeout) { [self] message in
            abort(message, code: StallError.exitCode)
        }
        watchdog = w
        w.start()
        return nil
    }

    /// Throws a CommunicatorError with MPI_Error_string when `code` is not MPI_SUCCESS.
    static func check(_ code: Int32, _ what: String) throws {
        guard code != cmpi_success() else { return }
        var buf = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var len: Int32 = 0
        _ = MPI_Error_string(code, &buf, &len)
        let message = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw CommunicatorError("\(what) failed: \(message) (MPI error \(code))")
    }

    private func allReduce(_ p: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype?, _ op: MPI_Op?, _ what: String) throws {
        guard size > 1, count > 0 else { return }
        let n = try mpiCount(count, what)
        try stallWatch.collective {
            try MPICommunicator.check(MPI_Allreduce(cmpi_in_place(), p, n, type, op, comm), what)
        }
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_float(), cmpi_op_sum(), "MPI_Allreduce(float, sum)")
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_double(), cmpi_op_sum(), "MPI_Allreduce(double, sum)")
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_int64(), cmpi_op_sum(), "MPI_Allreduce(int64, sum)")
    }
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_double(), cmpi_op_max(), "MPI_Allreduce(double, max)")
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard size > 1, buffer.count > 0 else { return }
        let n = try mpiCount(buffer.count, "MPI_Bcast")
        try stallWatch.collective {
            try MPICommunicator.check(MPI_Bcast(buffer.baseAddress, n, cmpi_byte(), Int32(root), comm), "MPI_Bcast")
        }
    }

    public func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        precondition(received.count == sent.count * size, "allGather: received must hold size × sent bytes")
        if size == 1 { received.copyMemory(from: sent); return }
        let n = try mpiCount(sent.count, "MPI_Allgather")
        try stallWatch.collective {
            try MPICommunicator.check(MPI_Allgather(sent.baseAddress, n, cmpi_byte(), received.baseAddress, n, cmpi_byte(), comm), "MPI_Allgather")
        }
    }

    /// MPI_Iallgather. The stall watch counts the collective as entered now and completed when
    /// a `test` or `wait` sees it finish, so a peer that never arrives is caught while this
    /// rank computes or waits.
    public func startAllGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws -> PendingCollective {
        precondition(received.count == sent.count * size, "startAllGather: received must hold size × sent bytes")
        if size == 1 { received.copyMemory(from: sent); return FinishedCollective() }
        let count = try mpiCount(sent.count, "MPI_Iallgather")
        return try MPIPendingCollective(watch: stallWatch, what: "MPI_Iallgather") { request in
            MPI_Iallgather(sent.baseAddress, count, cmpi_byte(), received.baseAddress, count, cmpi_byte(), comm, request)
        }
    }

    public func allToAll(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        precondition(sent.count == received.count && sent.count % size == 0, "allToAll: sent and received must hold size equal blocks")
        if size == 1 { received.copyMemory(from: sent); return }
        let count = try mpiCount(sent.count / size, "MPI_Alltoall")
        try stallWatch.collective {
            try MPICommunicator.check(MPI_Alltoall(sent.baseAddress, count, cmpi_byte(), received.baseAddress, count, cmpi_byte(), comm), "MPI_Alltoall")
        }
    }

    public func barrier() throws { try stallWatch.collective { try MPICommunicator.check(MPI_Barrier(comm), "MPI_Barrier") } }

    /// An MPI-3 shared-memory window over this node's ranks (MPI_Comm_split_type with
    /// MPI_COMM_TYPE_SHARED, MPI_Win_allocate_shared): local rank 0's segment holds the shared
    /// part and its slot, every other rank's segment its slot. The barrier is MPI_Win_sync,
    /// MPI_Barrier on the node, MPI_Win_sync (the unified memory model's fence, in a
    /// lock_all epoch). With several nodes, `crossNodeSum` is MPI_Allreduce over the ranks
    /// with the same local rank (MPI_Comm_split by local rank).
    public func nodeSharedMemory(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? {
        guard size > 1 else { return nil }
        return try stallWatch.collective { try nodeSharedMemoryBody(sharedCount: sharedCount, slotCount: slotCount) }
    }

    private func nodeSharedMemoryBody(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? {
        var node: MPI_Comm? = nil
        try MPICommunicator.check(MPI_Comm_split_type(comm, cmpi_comm_type_shared(), Int32(rank), cmpi_info_null(), &node),
                                  "MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)")
        var lr: Int32 = 0, ls: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(node, &lr), "MPI_Comm_rank(node)")
        try MPICommunicator.check(MPI_Comm_size(node, &ls), "MPI_Comm_size(node)")
        let sc = NodeSharedMemory.cacheLines(sharedCount), sl = NodeSharedMemory.cacheLines(slotCount)
        // The window lives in a file of OpenMPI's osc/sm backing directory (/dev/shm): a tmpfs
        // too small for it would not fail here but kill the job with SIGBUS on first touch
        // (containers often give /dev/shm 64 MB), so check its free space first.
        let dir = ProcessInfo.processInfo.environment["OMPI_MCA_osc_sm_backing_directory"] ?? "/dev/shm"
        let need = UInt64((sc + Int(ls) * sl) * MemoryLayout<Float>.stride)
        var fs = statvfs()
        let free = statvfs(dir, &fs) == 0 ? UInt64(fs.f_bavail) * UInt64(fs.f_frsize) : 0
        let roomy = free >= need + max(need / 8, 8 << 20)
        // Every node must hold the same number of ranks, so that the ranks with one local rank
        // own the same share everywhere, and have room; otherwise (and with one rank per node)
        // every rank uses the allreduce.
        let all = try allGather(UInt64(ls) | (roomy ? 0 : 1 << 32))
        if ls == 1 || all.contains(where: { $0 != UInt64(ls) }) {
            _ = MPI_Comm_free(&node)
            if rank == 0, all.contains(where: { $0 & 0xffff_ffff > 1 }), let short = all.firstIndex(where: { $0 >> 32 != 0 }) {
                FileHandle.standardError.write(Data(("nntrain: note: rank \(short)'s \(dir) has too little free space for the shared gradient exchange "
                    + "(\(need >> 20) MiB + margin needed\(short == 0 ? ", \(free >> 20) MiB free" : "")); using one allreduce per step instead "
                    + "(enlarge \(dir), or set OMPI_MCA_osc_sm_backing_directory to a local directory with room)\n").utf8))
            }
            return nil
        }
        let nodes = size / Int(ls)
        var cross: MPI_Comm? = nil
        if nodes > 1 {
            try MPICommunicator.check(MPI_Comm_split(comm, lr, Int32(rank), &cross), "MPI_Comm_split(local rank)")
        }
        let bytes = MPI_Aint((lr == 0 ? sc + sl : sl) * MemoryLayout<Float>.stride)
        var info: MPI_Info? = nil
        try MPICommunicator.check(MPI_Info_create(&info), "MPI_Info_create")
        // Each rank's segment on its own pages, first touched by that rank.
        _ = MPI_Info_set(info, "alloc_shared_noncontig", "true")
        var base: UnsafeMutableRawPointer? = nil
        var win: MPI_Win? = nil
        let rc = withUnsafeMutablePointer(to: &base) {
            MPI_Win_allocate_shared(bytes, Int32(MemoryLayout<Float>.stride), info, node, UnsafeMutableRawPointer($0), &win)
        }
        _ = MPI_Info_free(&info)
        try MPICommunicator.check(rc, "MPI_Win_allocate_shared(\(Int(bytes) >> 20) MiB)")
        // Windows do not inherit the communicator's handler: errors must return here too.
        try MPICommunicator.check(MPI_Win_set_errhandler(win, cmpi_errors_return()), "MPI_Win_set_errhandler")
        var shared: UnsafeMutablePointer<Float>? = nil
        var slots: [UnsafeMutablePointer<Float>] = []
        for r in 0..<ls {
            var segment: MPI_Aint = 0, unit: Int32 = 0
            var p: UnsafeMutableRawPointer? = nil
            let rc = withUnsafeMutablePointer(to: &p) { MPI_Win_shared_query(win, r, &segment, &unit, UnsafeMutableRawPointer($0)) }
            try MPICommunicator.check(rc, "MPI_Win_shared_query")
            guard let f = p?.assumingMemoryBound(to: Float.self) else { throw CommunicatorError("MPI_Win_shared_query gave no memory for local rank \(r)") }
            if r == 0 { shared = f; slots.append(f + sc) } else { slots.append(f) }
        }
        try MPICommunicator.check(MPI_Win_lock_all(cmpi_mode_nocheck(), win), "MPI_Win_lock_all")
        let w = win, n = node, c = cross, watch = stallWatch
        // The node barrier is in every rank's sequence of collectives; the sums across nodes
        // are not (only some local ranks make some of them), so they count on the side.
        let barrier: () throws -> Void = {
            try watch.collective {
                try MPICommunicator.check(MPI_Win_sync(w), "MPI_Win_sync")
                try MPICommunicator.check(MPI_Barrier(n), "MPI_Barrier(node)")
                try MPICommunicator.check(MPI_Win_sync(w), "MPI_Win_sync")
            }
        }
        let crossSum: ((UnsafeMutableBufferPointer<Float>) throws -> Void)? = c == nil ? nil : { b in
            guard b.count > 0 else { return }
            let n = try mpiCount(b.count, "MPI_Allreduce(float, sum, across nodes)")
            try watch.sideCollective {
                try MPICommunicator.check(MPI_Allreduce(cmpi_in_place(), b.baseAddress, n, cmpi_float(), cmpi_op_sum(), c), "MPI_Allreduce(float, sum, across nodes)")
            }
        }
        let crossSumInt64: ((UnsafeMutableBufferPointer<Int64>) throws -> Void)? = c == nil ? nil : { b in
            guard b.count > 0 else { return }
            let n = try mpiCount(b.count, "MPI_Allreduce(int64, sum, across nodes)")
            try watch.sideCollective {
                try MPICommunicator.check(MPI_Allreduce(cmpi_in_place(), b.baseAddress, n, cmpi_int64(), cmpi_op_sum(), c), "MPI_Allreduce(int64, sum, across nodes)")
            }
        }
        let release: () throws -> Void = {
            var w2 = w, n2 = n, c2 = c
            try MPICommunicator.check(MPI_Win_unlock_all(w2), "MPI_Win_unlock_all")
            try MPICommunicator.check(MPI_Win_free(&w2), "MPI_Win_free")
            _ = MPI_Comm_free(&n2)
            if c2 != nil { _ = MPI_Comm_free(&c2) }
        }
        return NodeSharedMemory(localRank: Int(lr), localSize: Int(ls), nodes: nodes, sharedCount: sharedCount, slotCount: slotCount,
                                shared: shared!, slots: slots, barrier: barrier, crossNodeSum: crossSum,
                                crossNodeSumInt64: crossSumInt64, release: release)
    }

    /// Prints the message (prefixed with the rank) and calls MPI_Abort, which ends every rank.
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("nntrain: error (rank \(rank) of \(size)): \(message)\n".utf8))
        _ = MPI_Abort(comm, code)
        exit(code)
    }

    /// Number of ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE), 1 if unknown.
    public static var localSize: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    }
}

/// A started MPI collective: its request, tested or waited on by the thread that started it.
final class MPIPendingCollective: PendingCollective {
    private var request: MPI_Request? = cmpi_request_null()
    private let watch: StallWatch
    private let what: String
    private var finished = false

    /// Counts the collective as entered and starts it (`start` fills in the request).
    init(watch: StallWatch, what: String, start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        self.watch = watch; self.what = what
        watch.enter()
        do { try MPICommunicator.check(start(&request), what) } catch { watch.complete(); throw error }
    }

    func test() throws -> Bool {
        guard !finished else { return true }
        var done: Int32 = 0
        try finishing { try MPICommunicator.check(MPI_Test(&request, &done, cmpi_status_ignore()), "MPI_Test(\(what))") ; return done != 0 }
        return finished
    }

    func wait() throws {
        guard !finished else { return }
        try finishing { try MPICommunicator.check(MPI_Wait(&request, cmpi_status_ignore()), "MPI_Wait(\(what))"); return true }
    }

    /// Runs a test or wait; marks the collective completed when it finished or failed.
    private func finishing(_ body: () throws -> Bool) throws {
        do {
            if try body() { finished = true; watch.complete() }
        } catch {
            finished = true; watch.complete(); throw error
        }
    }

    deinit {
        // A collective dropped unfinished (an error elsewhere ended the step): the run is over,
        // the request is left to MPI_Finalize/MPI_Abort.
        if !finished { watch.complete() }
    }
}
