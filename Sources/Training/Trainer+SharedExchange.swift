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
//
// For networks of Linear layers whose batch factors are fewer than their weights, the ranks
// share those factors instead of gradients (FactorExchange, at the end of this file): the same
// barriers, but between A and B each rank computes its rows of the weight gradients itself.
import Collectives
import Foundation
import NNCore
import NeuralNet
import NNData

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
    /// Offset (in Floats) in every slot of [non-finite flag, Σθ² of the share, the node's
    /// tail (factor exchange, local rank 0's slot)].
    let statusOffset: Int
    static let statusSize = 2 + Tail.size
    let scratch = Buffer<Float>(count: 1024)
    /// The sufficient-factor exchange, when this run uses it (see `FactorExchange`).
    let factors: FactorExchange?
    /// The parameters this rank updates: its share, or with factors its rows of every layer.
    let updateRanges: [Range<Int>]

    /// Floats per slot for `parameterCount` parameters.
    static func slotCount(parameterCount P: Int, exact: Bool) -> Int { (exact ? 2 : 1) * (P + Tail.size) + statusSize }

    init(memory: NodeSharedMemory, parameterCount P: Int, exact: Bool, factors: FactorExchange?) {
        self.memory = memory
        self.exact = exact
        self.factors = factors
        count = P + Tail.size
        share = memory.share(of: count, rank: memory.localRank)
        parameterShare = share.clamped(to: 0..<P)
        statusOffset = (exact ? 2 : 1) * (P + Tail.size)
        updateRanges = factors?.ranges ?? [parameterShare]
    }

    /// After barrier B: whether every local rank found its part finite, and the sum of their
    /// Σθ² (local rank order; meaningful where the ranks wrote it, i.e. fast mode).
    func statuses() -> (finite: Bool, sumSquares: Double) {
        var finite = true, sumSquares = 0.0
        for r in 0..<memory.localSize {
            let s = memory.slot(r)
            if s[statusOffset] != 0 { finite = false }
            sumSquares += Double(s[statusOffset + 1])
        }
        return (finite, sumSquares)
    }

    /// The reduced value of element i (valid between barriers B and C).
    @inline(__always) func reduced(_ i: Int) -> Float { memory.slot(memory.owner(of: i, count: count))[i] }
    @inline(__always) func reducedInt64(_ i: Int) -> Int64 { memory.slotInt64(memory.owner(of: i, count: count))[i] }
}

extension Trainer {
    /// Moves parameters, optimizer state and gradients into node shared memory when the
    /// configuration and the communicator allow it (collective: every rank calls it).
    func attachSharedExchange() throws {
        guard shared == nil, config.exchange != .allreduce, comm.size > 1 else { return }
        let P = parameterCount
        let Ppad = NodeSharedMemory.cacheLines(P)
        let states = optimizer.state.count
        let exact = config.reduction == .exact
        let factorRows = exact || config.exchange != .shared ? nil : FactorExchange.rows(model: model, globalBatch: globalBatch, worldSize: comm.size,
                                                           microBatch: xBuffer.count / inputSize)
        let factorCount = factorRows.map { FactorExchange.sharedCount(model: model, rows: $0) } ?? 0
        guard let mem = try comm.nodeSharedMemory(sharedCount: Ppad * (1 + states) + factorCount,
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
        var factors: FactorExchange?
        if let rows = factorRows {
            // Which world rank each local rank is, for the row offsets of every step.
            let status = SharedExchange.slotCount(parameterCount: P, exact: false) - SharedExchange.statusSize
            mem.slot(mem.localRank)[status] = Float(comm.rank)
            try mem.barrier()
            let worldRanks = (0..<mem.localSize).map { Int(mem.slot($0)[status]) }
            try mem.barrier()
            factors = FactorExchange(model: model, memory: mem, base: mem.shared + Ppad * (1 + states), rows: rows, worldRanks: worldRanks, worldSize: comm.size)
        }
        shared = SharedExchange(memory: mem, parameterCount: P, exact: exact, factors: factors)
        if comm.rank == 0 {
            reporter?.message("gradient exchange: shared memory, \(mem.nodes) node(s) × \(mem.localSize) ranks\(factors != nil ? ", sufficient factors" : "")\(mem.nodes > 1 ? " (MPI_Allreduce between nodes)" : "")")
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
        let (finite, sumSquares) = sh.statuses()
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
        let finite = sh.statuses().finite
        let P = parameterCount
        let lossSum = sh.reducedInt64(P + Tail.overflow) > 0 ? Double.nan : Double(sh.reducedInt64(P + Tail.lossSum)) * inv
        return (lossSum, Int(sh.reducedInt64(P + Tail.count)), sh.reducedInt64(P + Tail.stop) > 0, finite)
    }
}

/// The sufficient-factor exchange (Xie et al. 2016, "Poseidon"): for a Linear layer the weight
/// gradient over a batch is dYᵀX, a sum of outer products of two factors per sample, the
/// layer's input x and output gradient dy. When a node's batch has fewer rows than the
/// layers have weights, the node's ranks share these factors instead of gradients: each
/// rank writes its samples' rows into node shared memory, and after one barrier computes
/// the rows of every layer's dW (and db) that it owns over ALL the node's samples, with one
/// GEMM per layer. No gradient is summed or copied at all, and the owner then updates
/// exactly those rows. The sum runs over the node's samples in rank order — the order one
/// process would use for the whole batch.
final class FactorExchange {
    struct Layer {
        let index: Int
        let linear: Linear<Float>
        /// [rows, in] and [rows, out]: the node's inputs and output gradients of this layer.
        let x: UnsafeMutablePointer<Float>
        let dy: UnsafeMutablePointer<Float>
        /// The output units (rows of W, entries of b) this rank owns.
        let units: Range<Int>
    }
    let layers: [Layer]
    /// World rank of every local rank.
    let worldRanks: [Int]
    let localRank: Int
    let worldSize: Int
    /// Rows each factor buffer holds.
    let rows: Int
    /// This rank's parameters: its rows of each weight and its entries of each bias.
    let ranges: [Range<Int>]

    /// The rows of node shared memory each factor buffer needs, or nil when factors do not
    /// apply: exact mode aside, every parameter must belong to a Linear layer, every rank's
    /// slice of a global batch must fit one micro-batch, and the factors of a batch must be
    /// fewer than the gradients they stand for.
    static func rows(model: Sequential<Float>, globalBatch: Int, worldSize: Int, microBatch: Int) -> Int? {
        guard model.parametersAreAllLinear else { return nil }
        let perRank = (globalBatch + worldSize - 1) / worldSize
        guard perRank <= microBatch else { return nil }
        let rows = min(globalBatch, perRank * worldSize)
        let factorsPerRow = linearLayers(model).reduce(0) { $0 + $1.1.inFeatures + $1.1.outFeatures }
        return rows * factorsPerRow < model.parameterCount ? rows : nil
    }

    /// For global batch `range`: where this rank's rows start in the factor buffers (after
    /// those of the node's lower local ranks) and how many rows the node has.
    func rows(of range: Range<Int>) -> (offset: Int, node: Int) {
        var offset = 0, node = 0
        for (j, w) in worldRanks.enumerated() {
            let c = Sampler.slice(range, part: w, of: worldSize).count
            if j < localRank { offset += c }
            node += c
        }
        return (offset, node)
    }

    static func linearLayers(_ model: Sequential<Float>) -> [(Int, Linear<Float>)] {
        model.layers.enumerated().compactMap { k, l in (l as? Linear<Float>).map { (k, $0) } }
    }

    static func sharedCount(model: Sequential<Float>, rows: Int) -> Int {
        linearLayers(model).reduce(0) { $0 + NodeSharedMemory.cacheLines(rows * $1.1.inFeatures) + NodeSharedMemory.cacheLines(rows * $1.1.outFeatures) }
    }

    init(model: Sequential<Float>, memory: NodeSharedMemory, base: UnsafeMutablePointer<Float>, rows: Int, worldRanks: [Int], worldSize: Int) {
        var p = base
        var layers: [Layer] = []
        var ranges: [Range<Int>] = []
        for (k, lin) in FactorExchange.linearLayers(model) {
            let x = p; p += NodeSharedMemory.cacheLines(rows * lin.inFeatures)
            let dy = p; p += NodeSharedMemory.cacheLines(rows * lin.outFeatures)
            let units = Sampler.slice(0..<lin.outFeatures, part: memory.localRank, of: memory.localSize)
            layers.append(Layer(index: k, linear: lin, x: x, dy: dy, units: units))
            let o = model.offsets[k], i = lin.inFeatures
            if !units.isEmpty {
                ranges.append(o + units.lowerBound * i ..< o + units.upperBound * i)
                if lin.useBias { ranges.append(o + lin.outFeatures * i + units.lowerBound ..< o + lin.outFeatures * i + units.upperBound) }
            }
        }
        self.layers = layers
        self.worldRanks = worldRanks
        self.localRank = memory.localRank
        self.worldSize = worldSize
        self.ranges = ranges
        self.rows = rows
    }
}

extension Trainer {
    /// The factor exchange's forward and backward for this rank's `positions` (at most one
    /// micro-batch): the loss sum, with this rank's rows of every Linear layer's input and
    /// output gradient written into node shared memory, rows `rowOffset…` of each buffer.
    func factorGradient(_ f: FactorExchange, positions: Range<Int>, scale: Float, rowOffset: Int) -> Double {
        let n = positions.count
        guard n > 0 else { return 0 }
        // FactorExchange.rows guarantees both; a larger batch would make forward re-reserve
        // its buffers and silently drop the placements below.
        precondition(n <= model.capacity && rowOffset + n <= f.rows, "factor exchange: \(n) rows at \(rowOffset) exceed the buffers")
        // Forward and backward write each Linear layer's input and output gradient straight
        // into my rows of the shared factor buffers; the samples are gathered there too.
        var x = xBuffer.pointer
        for l in f.layers {
            let input = l.x + rowOffset * l.linear.inFeatures
            if l.index == 0 { x = input } else { model.place(layer: l.index - 1, output: input, gradient: nil) }
            model.place(layer: l.index, output: nil, gradient: l.dy + rowOffset * l.linear.outFeatures)
        }
        defer { model.usePrivateStorage() }
        let lossSum = forwardAndLoss(positions, into: x, scale: scale)
        model.backwardInputs(x, batch: n)
        return lossSum
    }

    /// Barrier A to B with factors: every rank computes its rows of each layer's gradient over
    /// the node's `rows` samples (with several nodes, sums them across nodes), adds 2λθ and
    /// checks them; local rank 0 sums the node's tails. Same results as `sharedReduce`.
    func factorReduce(_ sh: SharedExchange, _ f: FactorExchange, rows: Int) throws -> (lossSum: Double, count: Int, stop: Bool, finite: Bool, sumSquares: Double) {
        let mem = sh.memory
        let L = mem.localSize
        let P = parameterCount
        let mine = mem.slot(mem.localRank)
        try waitForNode(mem)                                               // A
        // The weight gradients are compute, though they run inside the exchange: the caller
        // counts everything from A to B as comm, so their time moves over here.
        let g0 = Trainer.now()
        for l in f.layers {
            l.linear.weightGradient(rows: l.units, x: l.x, dy: l.dy, batch: rows)
        }
        let gemm = Trainer.now() - g0
        computeSeconds += gemm
        commSeconds -= gemm
        let g = model.gradients.pointer
        if mem.spansNodes {
            for r in f.ranges { try mem.crossNodeSum(UnsafeMutableBufferPointer(start: g + r.lowerBound, count: r.count)) }
        }
        // The node's tail (loss sum, count, stop) in local rank order, into local rank 0's
        // status; summed across nodes by the local ranks 0.
        let tail = sh.statusOffset + 2
        if mem.localRank == 0 {
            for t in 0..<Tail.size {
                var v = mem.slot(0)[P + t]
                for r in 1..<L { v += mem.slot(r)[P + t] }
                mine[tail + t] = v
            }
            if mem.spansNodes { try mem.crossNodeSum(UnsafeMutableBufferPointer(start: mine + tail, count: Tail.size)) }
        }
        var sq: Float = 0, finite = true
        for r in f.ranges {
            if config.l2 > 0 { sq += addL2Gradient(g, r) }
            if !allFinite(g + r.lowerBound, count: r.count) { finite = false }
        }
        mine[sh.statusOffset] = finite ? 0 : 1
        mine[sh.statusOffset + 1] = sq
        try mem.barrier()                                                  // B
        let (allFiniteRanks, sumSquares) = sh.statuses()
        let t0 = mem.slot(0) + tail
        return (Double(t0[Tail.lossSum]), Int(t0[Tail.count]), t0[Tail.stop] > 0, allFiniteRanks, sumSquares)
    }
}
