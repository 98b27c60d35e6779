// StallWatch: what one rank is doing, in a form a watchdog can read from another thread —
// how many collectives it has entered and completed, the step it is on, and whether it is
// working alone (rank 0 writing a checkpoint). The collectives and the trainer write it with
// relaxed atomic stores (a few nanoseconds); the watchdogs (ThreadGroup's waiting threads,
// MPIStallWatchdog) read it. See docs/reliability.md, "Stalled ranks".
import Synchronization

/// One rank's progress counters.
///
/// Collectives over all ranks (allreduce, broadcast, gather, barriers, the node barrier of
/// shared memory) advance `entered`/`completed` in the same order on every rank, so that
/// rank r's `entered` = k means "r has arrived at collective k". Sums between the ranks of
/// one local rank (`NodeSharedMemory.crossNodeSum`) are not called equally often by every
/// rank; they count separately (`sideEntered`/`sideCompleted`) and only make the rank
/// "inside a collective".
public final class StallWatch: Sendable {
    let entered = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let sideEntered = Atomic<Int>(0)
    let sideCompleted = Atomic<Int>(0)
    let stepValue = Atomic<Int>(0)
    let aloneDepth = Atomic<Int>(0)

    public init() {}

    /// The watch of communicators that keep none (`Communicator.stallWatch`'s default).
    public static let unwatched = StallWatch()

    /// Runs one collective over all ranks, counting it.
    @inline(__always)
    public func collective<R>(_ body: () throws -> R) rethrows -> R {
        enter()
        defer { complete() }
        return try body()
    }

    /// Counts a collective as entered: a blocking one (`collective`), or a started non-blocking
    /// one until a test or wait sees it finish (`complete`).
    @inline(__always)
    public func enter() { entered.wrappingAdd(1, ordering: .relaxed) }

    /// Counts an entered collective as completed.
    @inline(__always)
    public func complete() { completed.wrappingAdd(1, ordering: .relaxed) }

    /// Runs a collective over a subset of the ranks (not in the common sequence).
    @inline(__always)
    public func sideCollective<R>(_ body: () throws -> R) rethrows -> R {
        sideEntered.wrappingAdd(1, ordering: .relaxed)
        defer { sideCompleted.wrappingAdd(1, ordering: .relaxed) }
        return try body()
    }

    /// Records the step this rank is working on (1-based), for the stall message.
    @inline(__always)
    public func note(step: Int) { stepValue.store(step, ordering: .relaxed) }

    /// Runs work this rank does alone while the others may wait for it in a collective
    /// (rank 0 writing a checkpoint): while it runs and this rank is alive, the others'
    /// watchdogs do not count it as stalled.
    public func alone<R>(_ body: () throws -> R) rethrows -> R {
        aloneDepth.wrappingAdd(1, ordering: .relaxed)
        defer { aloneDepth.wrappingSubtract(1, ordering: .relaxed) }
        return try body()
    }

    /// A consistent-enough copy of the counters (each read is atomic; they may be a few
    /// nanoseconds apart, which only delays a verdict by one poll).
    public var snapshot: StallSnapshot {
        StallSnapshot(entered: entered.load(ordering: .relaxed), completed: completed.load(ordering: .relaxed),
                      sideEntered: sideEntered.load(ordering: .relaxed), sideCompleted: sideCompleted.load(ordering: .relaxed),
                      step: stepValue.load(ordering: .relaxed), alone: aloneDepth.load(ordering: .relaxed) > 0)
    }
}

/// One reading of a StallWatch (also what MPI heartbeats carry).
public struct StallSnapshot: Equatable, Sendable {
    public var entered = 0, completed = 0, sideEntered = 0, sideCompleted = 0, step = 0
    public var alone = false
    public init(entered: Int = 0, completed: Int = 0, sideEntered: Int = 0, sideCompleted: Int = 0, step: Int = 0, alone: Bool = false) {
        self.entered = entered; self.completed = completed
        self.sideEntered = sideEntered; self.sideCompleted = sideCompleted
        self.step = step; self.alone = alone
    }
    /// Whether the rank is waiting in (or working through) a collective.
    public var inside: Bool { entered != completed || sideEntered != sideCompleted }
    /// The counters only (progress is a change in these).
    var counters: [Int] { [entered, completed, sideEntered, sideCompleted] }
    public func sameProgress(as o: StallSnapshot) -> Bool { counters == o.counters }
}

/// The job stalled: `missing` ranks never arrived at collective `collective` while `rank`
/// waited `seconds` (≥ the stall timeout) for them.
public struct StallError: Error, CustomStringConvertible, Sendable {
    /// The rank that noticed.
    public let rank: Int
    public let missing: [Int]
    /// 1-based number of the collective the waiting rank is in.
    public let collective: Int
    /// The step the waiting rank is on (1-based; 0 = before training).
    public let step: Int
    public let seconds: Double
    /// Extra facts per missing rank ("last heard 16 s ago, at step 420").
    public let details: [String]
    public init(rank: Int, missing: [Int], collective: Int, step: Int, seconds: Double, details: [String] = []) {
        self.rank = rank; self.missing = missing; self.collective = collective
        self.step = step; self.seconds = seconds; self.details = details
    }
    public var description: String {
        let who = missing.count == 1 ? "rank \(missing[0])" : "ranks " + missing.map(String.init).joined(separator: ", ")
        let at = step > 0 ? " (step \(step))" : " (before the first step)"
        let extra = details.isEmpty ? "" : "; " + details.joined(separator: "; ")
        return "stalled: \(who) never arrived at collective \(collective)\(at): no progress for \(StallError.format(seconds)) s "
            + "(--stall-timeout)\(extra); ending the job, the last checkpoint is intact"
    }
    /// Seconds for messages: whole above 10, else one decimal.
    public static func format(_ s: Double) -> String { s >= 10 ? String(Int(s.rounded())) : String(Double(Int(s * 10)) / 10) }
    /// The exit status of a job ended by a stall (1 = failure, 2 = user error, 3 = stopped by a signal).
    public static let exitCode: Int32 = 4
}
