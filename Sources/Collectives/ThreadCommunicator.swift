// ThreadCommunicator: N ranks as N threads of one process — the single-node fallback
// (`--workers N`) and the deterministic test double for the MPI communicator.
//
// Collectives meet at a barrier; each rank then reduces its share of the elements over all
// ranks in rank order 0, 1, …, N−1 (a fixed order, so results are reproducible run to run),
// and after a second barrier every rank copies the result.
import Foundation

/// The shared meeting point of the ranks of one in-process group.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    fileprivate var slots: [UnsafeMutableRawPointer?]
    fileprivate var scratch: UnsafeMutableRawPointer
    fileprivate var scratchBytes: Int
    fileprivate var sharedBlock: ThreadSharedBlock?
    /// Set when a rank aborts: every rank waiting or arriving at a barrier then throws.
    private var abortMessage: String?

    public init(size: Int) {
        precondition(size >= 1)
        self.size = size
        slots = Array(repeating: nil, count: size)
        scratchBytes = 1 << 16
        scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
    }
    deinit { scratch.deallocate() }

    /// The communicators of ranks 0..<size.
    public func communicators() -> [ThreadCommunicator] { (0..<size).map { ThreadCommunicator(group: self, rank: $0) } }

    /// Waits until all ranks arrive. Throws if any rank aborted.
    fileprivate func barrier() throws {
        condition.lock(); defer { condition.unlock() }
        if let m = abortMessage { throw CommunicatorError("another worker failed: \(m)") }
        let gen = generation
        arrived += 1
        if arrived == size {
            arrived = 0; generation += 1; condition.broadcast()
        } else {
            while gen == generation && abortMessage == nil { condition.wait() }
            if let m = abortMessage { throw CommunicatorError("another worker failed: \(m)") }
        }
    }

    /// Marks the group failed and wakes every waiting rank.
    public func fail(_ message: String) {
        condition.lock()
        if abortMessage == nil { abortMessage = message }
        condition.broadcast()
        condition.unlock()
    }
    public var failure: String? { condition.lock(); defer { condition.unlock() }; return abortMessage }

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

    init(group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }

    private func reduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: (T, T) -> T) throws {
        let n = buffer.count
        if size == 1 || n == 0 { return }
        group.slots[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        if rank == 0 { group.ensureScratch(n * MemoryLayout<T>.stride) }
        try group.barrier()
        let out = group.scratch.assumingMemoryBound(to: T.self)
        let lo = rank * n / size, hi = (rank + 1) * n / size
        let first = group.slots[0]!.assumingMemoryBound(to: T.self)
        for i in lo..<hi { out[i] = first[i] }
        for r in 1..<size {
            let src = group.slots[r]!.assumingMemoryBound(to: T.self)
            for i in lo..<hi { out[i] = op(out[i], src[i]) }
        }
        try group.barrier()
        buffer.baseAddress!.update(from: out, count: n)
        try group.barrier()
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try reduce(buffer, +) }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try reduce(buffer, +) }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try reduce(buffer, &+) }
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try reduce(buffer) { Swift.max($0, $1) } }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        if size == 1 || buffer.count == 0 { return }
        group.slots[rank] = buffer.baseAddress
        try group.barrier()
        if rank != root { buffer.baseAddress!.copyMemory(from: group.slots[root]!, byteCount: buffer.count) }
        try group.barrier()
    }

    public func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        let n = sent.count
        precondition(received.count == n * size, "allGather: received must hold size × sent bytes")
        group.slots[rank] = UnsafeMutableRawPointer(mutating: sent.baseAddress)
        try group.barrier()
        for r in 0..<size where n > 0 { (received.baseAddress! + r * n).copyMemory(from: group.slots[r]!, byteCount: n) }
        try group.barrier()
    }

    public func barrier() throws { try group.barrier() }

    /// One block of ordinary memory for the group: the shared part, then one slot per rank.
    public func nodeSharedMemory(sharedCount: Int, slotCount: Int) throws -> NodeSharedMemory? {
        guard size > 1 else { return nil }
        let sc = NodeSharedMemory.cacheLines(sharedCount), sl = NodeSharedMemory.cacheLines(slotCount)
        if rank == 0 { group.sharedBlock = ThreadSharedBlock(count: sc + size * sl) }
        try group.barrier()
        var block: ThreadSharedBlock? = group.sharedBlock!
        try group.barrier()
        if rank == 0 { group.sharedBlock = nil }   // each rank's view keeps the block alive
        let base = block!.base
        let g = group
        return NodeSharedMemory(localRank: rank, localSize: size, nodes: 1, sharedCount: sharedCount, slotCount: slotCount,
                                shared: base, slots: (0..<size).map { base + sc + $0 * sl },
                                barrier: { try g.barrier() }, crossNodeSum: nil,
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
