// SharedFactorExchange: the sufficient-factor exchange within a node (Xie et al. 2016,
// "Poseidon"). For a Linear layer the weight gradient over a batch is dYᵀX, a sum of outer
// products of two factors per sample, the layer's input x and output gradient dy. When a
// node's batch has fewer rows than the layers have weights, the node's ranks share these
// factors instead of gradients: each rank writes its samples' rows into node shared memory,
// and after barrier A computes the rows of every layer's dW (and db) that it owns over ALL
// the node's samples, with one GEMM per layer. No gradient is summed or copied at all, and
// the owner then updates exactly those rows (barriers B and C as in SharedGradientsExchange).
// The sum runs over the node's samples in rank order — the order one process would use for
// the whole batch. With several nodes, each rank's rows are summed across nodes by MPI.
import Collectives
import NNCore
import NNData
import NeuralNet

/// `--exchange shared` for networks of Linear layers whose batch factors are fewer than their weights.
final class SharedFactorExchange: ExchangeStrategy {
    struct Layer {
        let index: Int
        let linear: Linear<Float>
        /// [rows, in] and [rows, out]: the node's inputs and output gradients of this layer.
        let x: UnsafeMutablePointer<Float>
        let dy: UnsafeMutablePointer<Float>
        /// The output units (rows of W, entries of b) this rank owns.
        let units: Range<Int>
    }
    let node: NodeShare
    let layers: [Layer]
    /// World rank of every local rank.
    let worldRanks: [Int]
    let worldSize: Int
    /// This rank's world rank.
    let rank: Int
    /// Rows each factor buffer holds.
    let rows: Int
    /// This rank's parameters: its rows of each weight and its entries of each bias.
    let updateRanges: [Range<Int>]
    /// The node's samples in the current step (set by `backward`).
    private var nodeRows = 0
    var label: String { "factors \(node.shape)" }

    /// The rows of node shared memory each factor buffer needs, or nil when factors do not
    /// apply: every parameter must belong to a Linear layer, every rank's slice of a global
    /// batch must fit one micro-batch, and the factors of a batch must be fewer than the
    /// gradients they stand for.
    static func rows(model: Sequential<Float>, globalBatch: Int, worldSize: Int, microBatch: Int) -> Int? {
        guard model.parametersAreAllLinear else { return nil }
        let perRank = (globalBatch + worldSize - 1) / worldSize
        guard perRank <= microBatch else { return nil }
        let rows = min(globalBatch, perRank * worldSize)
        let factorsPerRow = linearLayers(model).reduce(0) { $0 + $1.1.inFeatures + $1.1.outFeatures }
        return rows * factorsPerRow < model.parameterCount ? rows : nil
    }

    static func linearLayers(_ model: Sequential<Float>) -> [(Int, Linear<Float>)] {
        model.layers.enumerated().compactMap { k, l in (l as? Linear<Float>).map { (k, $0) } }
    }

    /// Floats of node shared memory the factor buffers take.
    static func sharedCount(model: Sequential<Float>, rows: Int) -> Int {
        linearLayers(model).reduce(0) { $0 + NodeSharedMemory.cacheLines(rows * $1.1.inFeatures) + NodeSharedMemory.cacheLines(rows * $1.1.outFeatures) }
    }

    /// Lays the factor buffers out in `node`'s extra shared memory (collective: the node's
    /// ranks exchange their world ranks through their slots).
    init(node: NodeShare, comm: Communicator, rows: Int) throws {
        let mem = node.memory, model = node.model
        // Which world rank each local rank is, for the row offsets of every step.
        let status = node.statusOffset
        mem.slot(mem.localRank)[status] = Float(comm.rank)
        try mem.barrier()
        worldRanks = (0..<mem.localSize).map { Int(mem.slot($0)[status]) }
        try mem.barrier()
        var p = node.extra
        var layers: [Layer] = []
        var ranges: [Range<Int>] = []
        for (k, lin) in SharedFactorExchange.linearLayers(model) {
            let x = p; p += NodeSharedMemory.cacheLines(rows * lin.inFeatures)
            let dy = p; p += NodeSharedMemory.cacheLines(rows * lin.outFeatures)
            let units = Sampler.slice(0..<lin.outFeatures, part: mem.localRank, of: mem.localSize)
            layers.append(Layer(index: k, linear: lin, x: x, dy: dy, units: units))
            let o = model.offsets[k], i = lin.inFeatures
            if !units.isEmpty {
                ranges.append(o + units.lowerBound * i ..< o + units.upperBound * i)
                if lin.useBias { ranges.append(o + lin.outFeatures * i + units.lowerBound ..< o + lin.outFeatures * i + units.upperBound) }
            }
        }
        self.node = node
        self.layers = layers
        self.worldSize = comm.size
        self.rank = comm.rank
        self.updateRanges = ranges
        self.rows = rows
    }

    /// For global batch `range`: where this rank's rows start in the factor buffers (after
    /// those of the node's lower local ranks) and how many rows the node has.
    func rows(of range: Range<Int>) -> (offset: Int, node: Int) {
        var offset = 0, node = 0
        for (j, w) in worldRanks.enumerated() {
            let c = Sampler.slice(range, part: w, of: worldSize).count
            if j < self.node.memory.localRank { offset += c }
            node += c
        }
        return (offset, node)
    }

    /// Forward and backward for this rank's samples (at most one micro-batch): each Linear
    /// layer's input and output gradient are written straight into my rows of the shared
    /// factor buffers (the samples are gathered there too); no dL/dθ is formed here.
    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        let model = node.model, P = node.parameterCount
        let rowsOfBatch = rows(of: batch)
        nodeRows = rowsOfBatch.node
        let positions = Sampler.slice(batch, part: rank, of: worldSize)
        let n = positions.count
        var lossSum = 0.0
        if n > 0 {
            let rowOffset = rowsOfBatch.offset
            // `rows(model:…)` guarantees both; a larger batch would make forward re-reserve
            // its buffers and silently drop the placements below.
            precondition(n <= model.capacity && rowOffset + n <= rows, "factor exchange: \(n) rows at \(rowOffset) exceed the buffers")
            var x = pass.x.pointer
            for l in layers {
                let input = l.x + rowOffset * l.linear.inFeatures
                if l.index == 0 { x = input } else { model.place(layer: l.index - 1, output: input, gradient: nil) }
                model.place(layer: l.index, output: nil, gradient: l.dy + rowOffset * l.linear.outFeatures)
            }
            defer { model.usePrivateStorage() }
            lossSum = pass.forwardAndLoss(positions, into: x, scale: scale)
            model.backwardInputs(x, batch: n)
        }
        let t = LocalTail(lossSum: lossSum, count: n, stop: stop)
        FastSum.write(t, into: model.gradients.pointer + P)
        clock.charge(.compute)
        return t
    }

    /// Barrier A to B: every rank computes its rows of each layer's gradient over the node's
    /// samples (with several nodes, sums them across nodes), adds 2λθ and checks them; local
    /// rank 0 sums the node's tails.
    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        let mem = node.memory, model = node.model
        let L = mem.localSize
        let P = node.parameterCount
        let mine = mem.slot(mem.localRank)
        try node.waitForNode(&clock)                                       // A
        // The weight gradients are compute, though they run inside the exchange.
        let g0 = StepClock.now()
        for l in layers {
            l.linear.weightGradient(rows: l.units, x: l.x, dy: l.dy, batch: nodeRows)
        }
        clock.move(StepClock.now() - g0, from: .comm, to: .compute)
        let g = model.gradients.pointer
        if mem.spansNodes {
            for r in updateRanges { try mem.crossNodeSum(UnsafeMutableBufferPointer(start: g + r.lowerBound, count: r.count)) }
        }
        // The node's tail in local rank order, into local rank 0's status; summed across
        // nodes by the local ranks 0.
        let tail = node.statusOffset + 2
        if mem.localRank == 0 {
            for t in 0..<Tail.size {
                var v = mem.slot(0)[P + t]
                for r in 1..<L { v += mem.slot(r)[P + t] }
                mine[tail + t] = v
            }
            if mem.spansNodes { try mem.crossNodeSum(UnsafeMutableBufferPointer(start: mine + tail, count: Tail.size)) }
        }
        var sq: Float = 0, finite = true
        let w = model.parameters.pointer
        for r in updateRanges {
            if l2 > 0 { sq += addL2Gradient(g, w, l2: l2, r) }
            if !allFinite(g + r.lowerBound, count: r.count) { finite = false }
        }
        node.setStatus(finite: finite, sumSquares: sq)
        try mem.barrier()                                                  // B
        let (allFiniteRanks, sumSquares) = node.statuses()
        let t0 = mem.slot(0) + tail
        let (lossSum, n, stop) = FastSum().tail { t0[$0] }
        clock.charge(.comm)
        return Reduced(lossSum: lossSum, count: n, stop: stop, finite: allFiniteRanks, sumSquares: sumSquares)
    }

    func didUpdate(clock: inout StepClock) throws {
        try node.memory.barrier()                                          // C: the update is complete
        clock.charge(.comm)
    }

    func detach() throws { try node.detach() }
}
