// SharedGradientsExchange: the ranks of one node sum their gradients (fast: Floats; exact:
// Int64 fixed-point sums) in node shared memory and each updates its share of the one shared
// copy of the parameters. A step:
//
//   backward into my slot ─ barrier A ─ sum my share of the slots (local rank order 0, 1, …)
//   into my slot; with several nodes, MPI_Allreduce of my share across nodes; add 2λθ; check
//   it is finite ─ barrier B ─ read the reduced tail and every rank's status ─ optimizer step
//   on my share ─ barrier C (didUpdate)
//
// Compared with an allreduce of the whole buffer followed by the same update on every rank,
// nothing is copied between processes and each rank updates 1/L of the parameters. The sum
// order is fixed (local rank order), the same as the in-process workers' allreduce, so
// `mpirun -np N` on one node and `--workers N` give the same bits.
import Collectives
import NNCore
import NeuralNet

/// `--exchange shared-gradients` (and `shared` where factors do not pay).
final class SharedGradientsExchange<S: Summand>: ExchangeStrategy {
    let summand: S
    let node: NodeShare
    let comm: Communicator
    /// Words reduced: the gradients and the tail.
    let count: Int
    /// This rank's share of 0..<count, and of the parameters 0..<P.
    let share: Range<Int>
    let parameterShare: Range<Int>
    let updateRanges: [Range<Int>]
    private let scratch = Buffer<Float>(count: 1024)
    var label: String { "shared \(node.shape)" }

    init(summand: S, node: NodeShare, comm: Communicator) {
        self.summand = summand; self.node = node; self.comm = comm
        let P = node.parameterCount
        count = P + Tail.size
        share = node.memory.share(of: count, rank: node.memory.localRank)
        parameterShare = share.clamped(to: 0..<P)
        updateRanges = [parameterShare]
    }

    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        let mine = summand.slot(node.memory, node.memory.localRank)
        let t = summand.contribute(pass, batch: batch, rank: comm.rank, of: comm.size, scale: scale, stop: stop, into: mine)
        clock.charge(.compute)
        return t
    }

    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        let mem = node.memory, model = node.model
        let P = node.parameterCount
        let w = model.parameters.pointer
        // World-size-invariant Σθ²: over all parameters in index order on every rank, as the
        // allreduce does (the same bits), and now: from barrier B on, other ranks update θ.
        var sqAll: Float = 0
        if summand.worldSizeInvariant && l2 > 0 { for i in 0..<P { sqAll += w[i] * w[i] } }
        try node.waitForNode(&clock)                                       // A
        let out = summand.slot(mem, mem.localRank)
        summand.sumSlots(mem, share, scratch: scratch.pointer, scratchCount: scratch.count)
        if mem.spansNodes {
            try summand.crossNodeSum(mem, UnsafeMutableBufferPointer(start: out + share.lowerBound, count: share.count))
        }
        // J(θ) = λ‖θ‖² + loss: gradient 2λθ; then the finiteness check, before anything
        // reaches the weights.
        let g = model.gradients.pointer
        let ps = parameterShare
        summand.gradients(UnsafePointer(out), ps, into: g)
        let sq = l2 > 0 ? addL2Gradient(g, w, l2: l2, ps) : 0
        node.setStatus(finite: allFinite(g + ps.lowerBound, count: ps.count), sumSquares: sq)
        try mem.barrier()                                                  // B
        let (finite, sumSquares) = node.statuses()
        let (lossSum, n, stop) = summand.tail { summand.slot(mem, mem.owner(of: P + $0, count: count))[P + $0] }
        clock.charge(.comm)
        return Reduced(lossSum: lossSum, count: n, stop: stop, finite: finite,
                       sumSquares: summand.worldSizeInvariant ? Double(sqAll) : sumSquares)
    }

    func didUpdate(clock: inout StepClock) throws {
        try node.memory.barrier()                                          // C: the update is complete
        clock.charge(.comm)
    }

    func detach() throws { try node.detach() }
}
