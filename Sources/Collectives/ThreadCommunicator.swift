// ThreadCommunicator: N ranks as N threads of one process — the single-node fallback
// (`--workers N`) and the deterministic test double for the MPI communicator.
//
// Collectives meet at a barrier; each rank then reduces its share of the elements over all
// ranks in rank order 0, 1, …, N−1 (a fixed order, so results are reproducible run to run),
// and after a second barrier every rank copies the result.
import Foundation

/// The shared meeting point of the ranks of one in-process group.
///
/// Stalls: with a `stallTimeout` > 0, a rank that has waited that long at a barrier with no
/// other rank arriving meanwhile names the ranks that never arrived (the group knows who
/// did), fails the group with a `StallError`, and every waiting rank throws it. Ranks that
/// never arrived but are working alone (`StallWatch.alone`, rank 0 writing a checkpoint)
/// are waited for.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    /// Seconds a rank may wait at a barrier with no arrival before the group fails; 0 = never.
    public let stallTimeout: Double
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    /// Which ranks have arrived in the current generation (under `condition`).
    private var present: [Bool]
    /// When the last rank arrived at the current barrier (under `condition`).
    private var lastArrival = Date()
    /// One buffer address per rank, allocated once: rank r writes only `slots[r]`, before a
    /// barrier; the others read it after that barrier (the condition's lock orders the two).
    /// A Swift Array here would be mutated as a whole by every thread at once (a data race).
    fileprivate let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    fileprivate var scratch: UnsafeMutableRawPointer
    fileprivate var scratchBytes: Int
    fileprivate var sharedBlock: ThreadSharedBlock?
    /// Each rank's progress counters (rank r's communicator writes watches[r]).
    public let watches: [StallWatch]
    /// Set when a rank aborts: every rank waiting or arriving at a barrier then throws.
    private var abortMessage: String?
    /// Set when the group stalled (then abortMessage is its description).
    private var stallError: StallError?

    public init(size: Int, stallTimeout: Double = 0) {
        precondition(size >= 1)
        self.size = size
        self.stallTimeout = stallTimeout.isFinite && stallTimeout > 0 ? stallTimeout : 0
        present = Array(repeating: false, count: size)
        slots = .allocate(capacity: size)
        slots.initialize(repeating: nil, count: size)
        scratchBytes = 1 << 16
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        watches = (0..<size).map { _ in StallWatch() }
    }
    deinit { scratch.deallocate(); slots.deallocate() }

    /// The communicators of ranks 0..<size.
    public func communicators() -> [ThreadCommunicator] { (0..<size).map { ThreadCommunicator(group: self, rank: $0) } }

    /// The error a rank throws once the group failed (under `condition`).
    private func failureError() -> Error? {
        if let s = stallError { return s }
        return abortMessage.map { CommunicatorError("another worker failed: \($0)") }
    }

    /// Waits until all ranks arrive. Throws if any rank aborted, or (stall timeout) when no
    /// rank arrived for `stallTimeout` seconds.
    fileprivate func barrier(rank: Int) throws {
        condition.lock(); defer { condition.unlock() }
        if let e = failureError() { throw e }
        let gen = generation
        arrived += 1
        present[rank] = true
        lastArrival = Date()
        if arrived == size {
            arrived = 0; generation += 1
            for r in 0..<size { present[r] = false }
            condition.broadcast()
            return
        }
        while gen == generation && abortMessage == nil {
            guard stallTimeout > 0 else { condition.wait(); continue }
            let deadline = lastArrival.addingTimeInterval(stallTimeout)
            if Date() < deadline { _ = condition.wait(until: deadline); continue }
            let missing = (0..<size).filter { !present[$0] }
            let seen = missing.map { watches[$0].snapshot }
            if seen.allSatisfy(\.alone) { lastArrival = Date(); continue }   // working alone: wait on
            let mine = watches[rank].snapshot
            let details = zip(missing, seen).map { r, s in
                "rank \(r) is at step \(s.step), " + (s.inside ? "inside collective \(s.entered)" : "outside any collective after collective \(s.completed)")
            }
            let e = StallError(rank: rank, missing: missing, collective: mine.entered, step: mine.step,
                               seconds: Date().timeIntervalSince(lastArrival), details: details)
            stallError = e
            abortMessage = e.description
            condition.broadcast()
        }
        if let e = failureError() { throw e }
    }

    /// Marks the group failed and wakes every waiting rank.
    public func fail(_ message: String) {
        condition.lock()
        if abortMessage == nil { abortMessage = message }
        condition.broadcast()
        condition.unlock()
    }
    public var failure: String? { condition.lock(); defer { condition.unlock() }; return abortMessage }
    /// The stall that failed the group, if that is what happened.
    public var stall: StallError? { condition.lock(); defer { condition.unlock() }; return stallError }

    /// Makes sure the scratch space holds `bytes` (only rank 0 calls this, between barriers).
    fileprivate func ensureScratch(_ bytes: Int) {
        if bytes > scratchBytes {
            scratch.deallocate()
            scratchBytes = bytes
            scratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        }
    }
}

/// One rank of a ThreadGroup.
public final class ThreadCommunicator: Communicator, @unchecked Sendable {
    public let group: ThreadGroup
    public let rank: Int
    public var size: Int { group.size }
    public var kind: String { "threads" }
    public var stallWatch: StallWatch { group.watches[rank] }
    /// A rank is whichever thread calls it: the group's barriers key on the rank, not the thread.
    public var collectivesFromAnyThread: Bool { true }

    init(group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }

    private func reduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: (T, T) -> T) throws {
        let n = buffer.count
        if size == 1 || n == 0 { return }
        group.slots[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        if rank == 0 { group.ensureScratch(n * MemoryLayout<T>.stride) }
        try group.barrier(rank: rank)
        let out = group.scratch.assumingMemoryBound(to: T.self)
        let lo = rank * n / size, hi = (rank + 1) * n / size
        let first = group.slots[0]!.assumingMemoryBound(to: T.self)
        for i in lo..<hi { out[i] = first[i] }
        for r in 1..<size {
            let src = group.slots[r]!.assumingMemoryBound(to: T.self)
            for i in lo..<hi { out[i] = op(out[i], src[i]) }
        }
        try group.barrier(rank: rank)
        buffer.baseAddress!.update(from: out, count: n)
        try group.barrier(rank: rank)
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try stallWatch.collective { try reduce(buffer, +) } }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try stallWatch.collective { try reduce(buffer, +) } }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try stallWatch.collective { try reduce(buffer, &+) } }
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try stallWatch.collective { try reduce(buffer) { Swift.max($0, $1) } }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try stallWatch.collective { try broadcastBody(buffer, root: root) }
    }

    private func broadcastBody(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        if size == 1 || buffer.count == 0 { return }
        group.slots[rank] = buffer.baseAddress
        try group.barrier(rank: rank)
        if rank != root { buffer.baseAddress!.copyMemory(from: group.slots[root]!, byteCount: buffer.count) }
        try group.barrier(rank: rank)
    }

    public func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        try stallWatch.collective { try allGatherBody(sent, received) }
    }

    private func allGatherBody(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        let n = sent.count
        precondition(received.count == n * size, "allGather: received must hold size × sent bytes")
        group.slots[rank] = UnsafeMutableRawPointer(mutating: sent.baseAddress)
        try group.barrier(rank: rank)
        for r in 0..<size where n > 0 { (received.baseAddress! + r * n).copyMemory(from: group.slots[r]!, byteCount: n) }
        try group.barrier(rank: rank)
    }

    public func allToAll(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        try stallWatch.collective { try allToAllBody(sent, received) }
    }

    private func allToAllBody(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        precondition(sent.count == received.count && sent.count % size == 0, "allToAll: sent and received must hold size equal blocks")
        let n = sent.count / size
        group.slots[rank] = UnsafeMutableRawPointer(mutating: sent.baseAddress)
        try group.barrier(rank: rank)
        for r in 0..<size where n > 0 { (received.baseAddress! + r * n).copyMemory(from: group.slots[r]! + rank * n, byteCount: n) }
        try group.barrier(rank: rank)
    }

    public func barrier() throws { try stallWatch.collective { try group.barrier(rank: rank) } }

    /// One block of ordinary memory for the group: the shared part, then one slot per rank.
    public func nodeSharedMemory(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? {
        guard size > 1 else { return nil }
        return try stallWatch.collective { try nodeSharedMemoryBody(sharedCount: sharedCount, slotCount: slotCount) }
    }

    private func nodeSharedMemoryBody(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? {
        let sc = NodeSharedMemory.cacheLines(sharedCount), sl = NodeSharedMemory.cacheLines(slotCount)
        if rank == 0 { group.sharedBlock = ThreadSharedBlock(count: sc + size * sl) }
        try group.barrier(rank: rank)
        var block: ThreadSharedBlock? = group.sharedBlock!
        try group.barrier(rank: rank)
        if rank == 0 { group.sharedBlock = nil }   // each rank's view keeps the block alive
        let base = block!.base
        let g = group, r = rank, watch = stallWatch
        return NodeSharedMemory(localRank: rank, localSize: size, nodes: 1, sharedCount: sharedCount, slotCount: slotCount,
                                shared: base, slots: (0..<size).map { base + sc + $0 * sl },
                                barrier: { try watch.collective { try g.barrier(rank: r) } }, crossNodeSum: nil,
                                release: { block = nil })
    }

    /// Marks the group failed (waking the other workers, which then throw) and ends the process
    /// with the message.
    public func abort(_ message: String, code: Int32) -> Never {
        group.fail(message)
        FileHandle.standardError.write(Data("nntrain: error: \(message)\n".utf8))
        exit(code)
    }
}
