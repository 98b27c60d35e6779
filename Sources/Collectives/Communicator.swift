// Communicator: the collectives nntrain's trainer needs, behind one protocol with three
// implementations (MPI, in-process threads, size 1). The trainer cannot tell them apart.

/// A failure inside a collective operation.
public struct CommunicatorError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `n` as the Int32 count an MPI call takes, or an error naming the call when it does not fit
/// (MPI-3's counts are C ints: a buffer of 2³¹ elements or more needs another layout).
public func mpiCount(_ n: Int, _ what: String) throws -> Int32 {
    guard let c = Int32(exactly: n) else {
        throw CommunicatorError("\(what): \(n) elements exceed MPI's count limit of \(Int32.max)")
    }
    return c
}

/// Collective operations over a fixed group of ranks 0..<size.
///
/// Every rank must call the same collectives in the same order with buffers of the same
/// length. Sums of floating-point values are computed in an order fixed by the implementation;
/// use the Int64 sum where the result must not depend on it.
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// A short name for logs: "mpi", "threads", "single".
    var kind: String { get }
    /// Elementwise sum over ranks, in place, on every rank.
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Elementwise maximum over ranks, in place.
    func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    /// Copies `root`'s bytes into every other rank's buffer.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// `received` = concatenation over ranks of each rank's `sent` (all the same length).
    func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws
    /// Starts `allGather(sent, received)` and returns while it may still be running (MPI_Iallgather):
    /// neither buffer may be touched until the returned collective's `wait` (or a `test` that
    /// returned true). Every rank starts the same collectives in the same order, as with the
    /// blocking ones; a rank may compute, and start further collectives, in between.
    func startAllGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws -> PendingCollective
    /// MPI_Alltoall: `sent` and `received` each hold `size` blocks of the same length (the same
    /// on every rank); this rank's block j goes to rank j, and `received`'s block j is what
    /// rank j's block for this rank held.
    func allToAll(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws
    func barrier() throws
    /// Maps memory shared by the ranks of this rank's node (collective: every rank calls it
    /// with the same counts). Nil when ranks share nothing (one rank, or one rank per node,
    /// or nodes with different numbers of ranks): then use `allReduceSum`.
    func nodeSharedMemory(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory?
    /// Ends the whole job with `message` (MPI_Abort under MPI). Never returns.
    func abort(_ message: String, code: Int32) -> Never
    /// This rank's progress counters, which every collective above advances; the stall
    /// watchdog reads them (see StallWatch).
    var stallWatch: StallWatch { get }
    /// Whether a rank's collectives may be called from a thread other than its main thread
    /// (one at a time, in the same order on every rank): what `CollectiveThread` needs.
    var collectivesFromAnyThread: Bool { get }
}

/// A collective in flight (`Communicator.startAllGather`).
///
/// OpenMPI 4.1 has no asynchronous progress: a started collective moves only inside MPI calls,
/// so a rank that computes while one is in flight calls `test` every few hundred microseconds.
public protocol PendingCollective: AnyObject {
    /// Advances the collective; true once it has finished (then the buffers are the caller's again).
    func test() throws -> Bool
    /// Blocks until the collective has finished.
    func wait() throws
}

/// A collective that finished before it was returned.
public final class FinishedCollective: PendingCollective {
    public init() {}
    public func test() throws -> Bool { true }
    public func wait() throws {}
}

extension Communicator {
    /// The default: the blocking allgather, finished when it returns (in-process workers, one rank).
    public func startAllGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws -> PendingCollective {
        try allGather(sent, received)
        return FinishedCollective()
    }

    /// The default for communicators that keep no counters: one shared watch nobody reads.
    /// A communicator that wraps another should return the inner one's.
    public var stallWatch: StallWatch { StallWatch.unwatched }
    /// The default: only the thread that made the communicator calls it.
    public var collectivesFromAnyThread: Bool { false }

    /// Tells the stall watchdog which step this rank is working on (1-based): one relaxed
    /// atomic store, so the trainer can call it every step.
    @inline(__always)
    public func note(step: Int) { stallWatch.note(step: step) }

    public func nodeSharedMemory(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? { nil }

    /// Broadcasts a string from root (length first, then bytes).
    public func broadcast(string: String, root: Int = 0) throws -> String {
        var bytes = Array(string.utf8)
        var len = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &len) { try broadcast($0, root: root) }
        if rank != root { bytes = Array(repeating: 0, count: Int(len)) }
        try bytes.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Gathers one UInt64 from every rank.
    public func allGather(_ value: UInt64) throws -> [UInt64] {
        var v = value
        var out = [UInt64](repeating: 0, count: size)
        try withUnsafeBytes(of: &v) { s in try out.withUnsafeMutableBytes { try allGather(s, $0) } }
        return out
    }

    /// Broadcasts a Double from root.
    public func broadcast(_ value: Double, root: Int = 0) throws -> Double {
        var v = value
        try withUnsafeMutableBytes(of: &v) { try broadcast($0, root: root) }
        return v
    }
}
