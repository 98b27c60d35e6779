// NodeSharedMemory: memory that the ranks of one node (one machine) map together, so that a
// training step can sum the gradients of the node's ranks in place instead of copying them
// through an allreduce (see docs/architecture.md, "Gradient exchange").
//
// MPI provides it with MPI-3 shared-memory windows (MPI_Comm_split_type + MPI_Win_allocate_shared);
// the in-process workers with ordinary memory. Ranks of other nodes are reached through
// `crossNodeSum`, an MPI_Allreduce among the ranks that have the same local rank.

/// One rank's view of its node's shared memory.
///
/// Layout: `shared` holds `sharedCount` floats every local rank reads and writes (parameters,
/// optimizer state); `slot(r)` holds `slotCount` floats that local rank r writes and every
/// local rank may read (its gradients). Who writes what when is the caller's protocol;
/// `barrier()` orders it: every write made before a rank's barrier is visible to every rank
/// after its own barrier.
public final class NodeSharedMemory {
    public let localRank: Int
    public let localSize: Int
    /// Number of nodes (each with `localSize` ranks).
    public let nodes: Int
    public let sharedCount: Int
    public let slotCount: Int
    public let shared: UnsafeMutablePointer<Float>
    private let slots: [UnsafeMutablePointer<Float>]
    private let barrierBody: () throws -> Void
    private let crossNodeBody: ((UnsafeMutableBufferPointer<Float>) throws -> Void)?
    private let crossNodeInt64Body: ((UnsafeMutableBufferPointer<Int64>) throws -> Void)?
    private var releaseBody: (() throws -> Void)?

    public init(localRank: Int, localSize: Int, nodes: Int, sharedCount: Int, slotCount: Int,
                shared: UnsafeMutablePointer<Float>, slots: [UnsafeMutablePointer<Float>],
                barrier: @escaping () throws -> Void,
                crossNodeSum: ((UnsafeMutableBufferPointer<Float>) throws -> Void)?,
                crossNodeSumInt64: ((UnsafeMutableBufferPointer<Int64>) throws -> Void)? = nil,
                release: @escaping () throws -> Void) {
        precondition((crossNodeSum == nil) == (crossNodeSumInt64 == nil), "both cross-node sums or neither")
        precondition(slots.count == localSize && localRank >= 0 && localRank < localSize)
        self.localRank = localRank; self.localSize = localSize; self.nodes = nodes
        self.sharedCount = sharedCount; self.slotCount = slotCount
        self.shared = shared; self.slots = slots
        barrierBody = barrier; crossNodeBody = crossNodeSum; crossNodeInt64Body = crossNodeSumInt64; releaseBody = release
    }

    /// Local rank r's slot.
    public func slot(_ r: Int) -> UnsafeMutablePointer<Float> { slots[r] }

    /// Waits for every local rank; orders memory as described above.
    public func barrier() throws { try barrierBody() }

    /// Whether ranks on other nodes take part (then `crossNodeSum` must be called).
    public var spansNodes: Bool { crossNodeBody != nil }

    /// Sums `buffer` in place over the ranks of all nodes that have this local rank.
    public func crossNodeSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try crossNodeBody?(buffer)
    }

    /// The same for Int64 values (exact reduction's fixed-point sums).
    public func crossNodeSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try crossNodeInt64Body?(buffer)
    }

    /// Local rank r's slot seen as Int64 values (8-byte aligned: slots start on 64 bytes).
    public func slotInt64(_ r: Int) -> UnsafeMutablePointer<Int64> {
        UnsafeMutableRawPointer(slots[r]).assumingMemoryBound(to: Int64.self)
    }

    /// The part of 0..<count that local rank r reduces: contiguous, in rank order, with
    /// boundaries on multiples of 16 elements (64 bytes) so no two ranks write one cache line.
    public func share(of count: Int, rank r: Int) -> Range<Int> {
        let chunk = shareSize(of: count)
        let lo = min(r * chunk, count)
        return lo..<min(lo + chunk, count)
    }

    /// The local rank whose share of 0..<count holds element i.
    public func owner(of i: Int, count: Int) -> Int {
        min(i / max(shareSize(of: count), 1), localSize - 1)
    }

    /// Elements per share: count ÷ local ranks, rounded up to a multiple of 16.
    private func shareSize(of count: Int) -> Int { NodeSharedMemory.cacheLines((count + localSize - 1) / localSize) }

    /// `count` rounded up to whole 64-byte cache lines of 16 floats: where the layout puts the
    /// slots and the shares so that no two ranks write one line.
    public static func cacheLines(_ count: Int) -> Int { (count + 15) / 16 * 16 }

    /// Frees the memory (collective over the node's ranks; every pointer above dies).
    public func release() throws {
        guard let body = releaseBody else { return }
        releaseBody = nil
        try body()
    }
}

/// Plain memory shared by the threads of one ThreadGroup.
final class ThreadSharedBlock: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    init(count: Int) {
        // 64-byte aligned, so that the shares' 16-float boundaries are cache-line boundaries.
        base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: count)
    }
    deinit { base.deallocate() }
}
