// Fast-mode gradient exchange through node shared memory (`--exchange shared`, the default).
//
// The ranks of one node keep ONE copy of the parameters and of the optimizer state, in memory
// they all map (NodeSharedMemory), and each writes its gradients into its own slot there.
// A step is then:
//
//   backward into my slot ─ barrier A ─ sum my share of the slots (rank order 0, 1, …) into my
//   slot; with several nodes, MPI_Allreduce of my share across nodes; add 2λθ; check it is
//   finite ─ barrier B ─ read the reduced loss/count/stop and every rank's status ─ optimizer
//   step on my share of the shared parameters ─ barrier C
//
// Compared with an allreduce of the whole buffer followed by the same optimizer step on every
// rank, nothing is copied between processes and each rank updates 1/L of the parameters: on
// this 2-core machine the exchange plus update takes ≈ 0.9 ms against ≈ 3.5 ms (docs/performance.md).
// The sum order is fixed (local rank order), the same as the in-process workers' allreduce,
// so `mpirun -np N` on one node and `--workers N` give the same bits.
import Collectives
import Foundation
import NNCore
import NeuralNet

/// One rank's part in the shared-memory exchange.
final class SharedExchange {
    let memory: NodeSharedMemory
    /// Elements reduced: the gradients and the tail.
    let count: Int
    /// This rank's share of 0..<count, and of the parameters 0..<P.
    let share: Range<Int>
    let parameterShare: Range<Int>
    /// Exact reduction: the slots hold the Int64 fixed-point sums instead of Float gradients.
    let exact: Bool
    /// Offset (in Floats) in every slot of [non-finite flag, Σθ² of the share].
    let statusOffset: Int
    static let statusSize = 2
    let scratch = Buffer<Float>(count: 1024)

    /// Floats per slot for `parameterCount` parameters.
    static func slotCount(parameterCount P: Int, exact: Bool) -> Int { (exact ? 2 : 1) * (P + Tail.size) + statusSize }

    init(memory: NodeSharedMemory, parameterCount P: Int, exact: Bool) {
        self.memory = memory
        self.exact = exact
        count = P + Tail.size
        share = memory.share(of: count, rank: memory.localRank)
        parameterShare = share.clamped(to: 0..<P)
        statusOffset = (exact ? 2 : 1) * (P + Tail.size)
    }

    /// The reduced value of element i (valid between barriers B and C).
    @inline(__always) func reduced(_ i: Int) -> Float { memory.slot(memory.owner(of: i, count: count))[i] }
    @inline(__always) func reducedInt64(_ i: Int) -> Int64 { memory.slotInt64(memory.owner(of: i, count: count))[i] }
}

extension Trainer {
    /// Moves parameters, optimizer state and gradients into node shared memory when the
    /// configuration and the communicator allow it (collective: every rank calls it).
    func attachSharedExchange() throws {
        guard shared == nil, config.exchange == .shared, comm.size > 1 else { return }
        let P = parameterCount
        let Ppad = NodeSharedMemory.cacheLines(P)
        let states = optimizer.state.count
        let exact = config.reduction == .exact
        guard let mem = try comm.nodeSharedMemory(sharedCount: Ppad * (1 + states),
                                                  slotCount: SharedExchange.slotCount(parameterCount: P, exact: exact)) else { return }
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
        shared = SharedExchange(memory: mem, parameterCount: P, exact: exact)
        if comm.rank == 0 {
            reporter?.message("gradient exchange: shared memory, \(mem.nodes) node(s) × \(mem.localSize) ranks\(mem.nodes > 1 ? " (MPI_Allreduce between nodes)" : "")")
        }
    }

    /// Copies parameters and state back into private memory and frees the shared memory
    /// (collective). The trainer is then as before `attachSharedExchange`.
    func detachSharedExchange() throws {
        guard let sh = shared else { return }
        let P = parameterCount
        try sh.memory.barrier()
        model.rebind(parameters: Buffer(count: P), gradients: sh.exact ? model.gradients : Buffer(count: P + Tail.size))
        optimizer.rebind(state: optimizer.state.map { _ in Buffer<Float>(count: P) }, copy: true)
        try sh.memory.barrier()
        shared = nil
        try sh.memory.release()
    }

    /// Barrier A: every rank's slot is written. The wait is the slower ranks' lead, counted
    /// as comm_wait_seconds.
    private func waitForNode(_ mem: NodeSharedMemory) throws {
        let arrived = Trainer.now()
        try mem.barrier()
        commWaitSeconds += Trainer.now() - arrived
    }

    /// Barrier A to B of the step above. Returns the reduced loss sum, sample count and stop
    /// flag, whether every share was finite, and Σθ² (for the L2 term of the loss).
    func sharedReduce(_ sh: SharedExchange) throws -> (lossSum: Double, count: Int, stop: Bool, finite: Bool, sumSquares: Double) {
        let mem = sh.memory
        let L = mem.localSize
        let out = mem.slot(mem.localRank)
        try waitForNode(mem)                                               // A
        // Σ over local ranks in rank order, block by block through a small scratch buffer.
        let t = sh.scratch.pointer, B = sh.scratch.count
        var lo = sh.share.lowerBound
        while lo < sh.share.upperBound {
            let n = min(B, sh.share.upperBound - lo)
            let s0 = mem.slot(0) + lo
            if L == 2 {
                let s1 = mem.slot(1) + lo, o = out + lo
                for i in 0..<n { o[i] = s0[i] + s1[i] }
            } else {
                for i in 0..<n { t[i] = s0[i] }
                for r in 1..<L {
                    let s = mem.slot(r) + lo
                    for i in 0..<n { t[i] += s[i] }
                }
                (out + lo).update(from: t, count: n)
            }
            lo += n
        }
        if mem.spansNodes {
            try mem.crossNodeSum(UnsafeMutableBufferPointer(start: out + sh.share.lowerBound, count: sh.share.count))
        }
        // J(θ) = λ‖θ‖² + loss: gradient 2λθ; then the finiteness check, before anything
        // reaches the weights.
        let ps = sh.parameterShare
        let sq = config.l2 > 0 ? addL2Gradient(out, ps) : 0
        out[sh.statusOffset] = allFinite(out + ps.lowerBound, count: ps.count) ? 0 : 1
        out[sh.statusOffset + 1] = sq
        try mem.barrier()                                                  // B
        let P = parameterCount
        var finite = true, sumSquares = 0.0
        for r in 0..<L {
            let s = mem.slot(r)
            if s[sh.statusOffset] != 0 { finite = false }
            sumSquares += Double(s[sh.statusOffset + 1])
        }
        return (Double(sh.reduced(P + Tail.lossSum)), Int(sh.reduced(P + Tail.count)), sh.reduced(P + Tail.stop) > 0, finite, sumSquares)
    }
}

extension Trainer {
    /// Exact reduction's barrier A to B: every slot holds its rank's Int64 fixed-point sums
    /// (and tail); this rank sums its share of them over the node's ranks (and across nodes),
    /// converts its share of the parameters' gradients to Float into the private gradient
    /// buffer, adds 2λθ and checks it. Integer sums are associative, so the bits are those of
    /// the Int64 allreduce, for any number of ranks.
    func sharedReduceExact(_ sh: SharedExchange) throws -> (lossSum: Double, count: Int, stop: Bool, finite: Bool) {
        let mem = sh.memory
        let L = mem.localSize
        let out = mem.slotInt64(mem.localRank)
        try waitForNode(mem)                                               // A
        for r in 0..<L where r != mem.localRank {
            let s = mem.slotInt64(r)
            for i in sh.share { out[i] &+= s[i] }
        }
        if mem.spansNodes {
            try mem.crossNodeSum(UnsafeMutableBufferPointer(start: out + sh.share.lowerBound, count: sh.share.count))
        }
        let g = model.gradients.pointer
        let ps = sh.parameterShare
        let inv = 1 / Trainer.fixedScale
        for i in ps { g[i] = Float(Double(out[i]) * inv) }
        if config.l2 > 0 { _ = addL2Gradient(g, ps) }   // Σθ² of the loss: over all θ, before (see step)
        mem.slot(mem.localRank)[sh.statusOffset] = allFinite(g + ps.lowerBound, count: ps.count) ? 0 : 1
        try mem.barrier()                                                  // B
        var finite = true
        for r in 0..<L where mem.slot(r)[sh.statusOffset] != 0 { finite = false }
        let P = parameterCount
        let lossSum = sh.reducedInt64(P + Tail.overflow) > 0 ? Double.nan : Double(sh.reducedInt64(P + Tail.lossSum)) * inv
        return (lossSum, Int(sh.reducedInt64(P + Tail.count)), sh.reducedInt64(P + Tail.stop) > 0, finite)
    }
}
