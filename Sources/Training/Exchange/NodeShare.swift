// NodeShare: moving a rank's parameters, optimizer state and gradients into the memory its
// node's ranks share, and back. The two shared-memory strategies (SharedGradientsExchange,
// SharedFactorExchange) are built on it.
//
// Layout of the node's shared part, in Floats (Ppad = P rounded up to a cache line):
//   [parameters | optimizer state 1 | … | state k | factor buffers (factor exchange only)]
// and of every local rank's slot:
//   fast:  [P gradients + Tail]                          [status]
//   exact: [P + Tail Int64 sums, 2 Floats each]          [status]
// status = [non-finite flag, Σθ² of the share, the node's tail (factor exchange)].
import Collectives
import NNCore
import NeuralNet

/// One rank's attachment to node shared memory.
final class NodeShare {
    let memory: NodeSharedMemory
    let model: Sequential<Float>
    let optimizer: Optimizer<Float>
    let exact: Bool
    let parameterCount: Int
    /// Padded parameter count: where each state buffer starts in the shared part.
    let paddedCount: Int
    /// Offset (in Floats) of the status block in every slot.
    let statusOffset: Int
    static let statusSize = 2 + Tail.size

    /// Floats per slot for `parameterCount` parameters.
    static func slotCount(parameterCount P: Int, exact: Bool) -> Int { (exact ? 2 : 1) * (P + Tail.size) + statusSize }

    /// Maps the node's shared memory (collective) with `extraShared` Floats after the
    /// parameters and state, and moves the model there. Nil when the ranks share no memory.
    static func attach(comm: Communicator, model: Sequential<Float>, optimizer: Optimizer<Float>, exact: Bool, extraShared: Int) throws -> NodeShare? {
        let P = model.parameterCount
        let Ppad = NodeSharedMemory.cacheLines(P)
        let states = optimizer.state.count
        guard let mem = try comm.nodeSharedMemory(sharedCount: Ppad * (1 + states) + extraShared,
                                                  slotCount: slotCount(parameterCount: P, exact: exact)) else { return nil }
        // Every rank holds the same parameters and state here (broadcast or loaded from one
        // file); local rank 0 copies them in.
        if mem.localRank == 0 {
            mem.shared.update(from: model.parameters.pointer, count: P)
            for k in 0..<states { (mem.shared + Ppad * (k + 1)).update(from: optimizer.state[k].pointer, count: P) }
        }
        try mem.barrier()
        // Fast mode: the gradients themselves live in the slot. Exact mode: the gradients of
        // each shard stay private and the slot holds the Int64 sums they are rounded into.
        model.rebind(parameters: Buffer(borrowing: mem.shared, count: P, owner: mem),
                     gradients: exact ? model.gradients : Buffer(borrowing: mem.slot(mem.localRank), count: P + Tail.size, owner: mem),
                     copyParameters: false)
        optimizer.rebind(state: (0..<states).map { Buffer(borrowing: mem.shared + Ppad * ($0 + 1), count: P, owner: mem) }, copy: false)
        return NodeShare(memory: mem, model: model, optimizer: optimizer, exact: exact, paddedCount: Ppad)
    }

    private init(memory: NodeSharedMemory, model: Sequential<Float>, optimizer: Optimizer<Float>, exact: Bool, paddedCount: Int) {
        self.memory = memory; self.model = model; self.optimizer = optimizer; self.exact = exact
        parameterCount = model.parameterCount
        self.paddedCount = paddedCount
        statusOffset = (exact ? 2 : 1) * (model.parameterCount + Tail.size)
    }

    /// Where the `extraShared` Floats start.
    var extra: UnsafeMutablePointer<Float> { memory.shared + paddedCount * (1 + optimizer.state.count) }

    /// "N nodes × L ranks", for labels.
    var shape: String { "\(memory.nodes)x\(memory.localSize)" }

    /// Barrier A: every rank's slot is written. The wait is the slower ranks' lead.
    func waitForNode(_ clock: inout StepClock) throws {
        let arrived = StepClock.now()
        try memory.barrier()
        clock.wait(StepClock.now() - arrived)
    }

    /// After barrier B: whether every local rank found its part finite, and the sum of their
    /// Σθ² in local rank order.
    func statuses() -> (finite: Bool, sumSquares: Double) {
        var finite = true, sumSquares = 0.0
        for r in 0..<memory.localSize {
            let s = memory.slot(r)
            if s[statusOffset] != 0 { finite = false }
            sumSquares += Double(s[statusOffset + 1])
        }
        return (finite, sumSquares)
    }

    /// Writes this rank's status for `statuses()`.
    func setStatus(finite: Bool, sumSquares: Float) {
        let s = memory.slot(memory.localRank)
        s[statusOffset] = finite ? 0 : 1
        s[statusOffset + 1] = sumSquares
    }

    /// Copies parameters and state back into private memory and frees the shared memory
    /// (collective). The model is then as before `attach`.
    func detach() throws {
        let P = parameterCount
        try memory.barrier()
        model.rebind(parameters: Buffer(count: P), gradients: exact ? model.gradients : Buffer(count: P + Tail.size))
        optimizer.rebind(state: optimizer.state.map { _ in Buffer<Float>(count: P) }, copy: true)
        try memory.barrier()
        try memory.release()
    }
}
