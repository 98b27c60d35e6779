// AllgatherFactorExchange: sufficient factors across nodes (Poseidon's hybrid communication,
// Xie et al. 2017). A Linear layer's weight gradient over the global batch is
//
//     dW = Σ_samples dyᵀ x        ([out, in], from x: [batch, in] and dy: [batch, out])
//
// so instead of allreducing dW (2(N−1)/N · in·out floats per rank on a ring), the ranks can
// allgather their rows of x and dy ((N−1) · rows · (in + out) floats) and every rank forms
// dW over the global batch itself. The input of the first layer is the data, which every
// rank has: it gathers the other ranks' samples itself, and only dy crosses the network.
// Each layer goes the cheaper way by a cost model of bytes and flops whose link bandwidth and
// GEMM rate are measured when the run starts (rank 0 decides for all). The layers that stay
// with gradients are packed with the tail; when that pack is small (or there are 2 ranks, where
// an allgather moves the bytes a ring allreduce does) it rides in the same allgather and every
// rank sums the ranks' packs in rank order — one collective per step, since OpenMPI's TCP
// collectives had a large fixed cost on a loaded machine (≈ 14 ms each at 1 Gbit/s; quiet:
// none measurable, docs/performance.md), and one collective is one round of latencies;
// a large pack goes in its own allreduce.
//
// Overlap (part 2 of the design for the allreduce, here for factors): a layer's factors are
// final once backward has its dy (x is known since forward), so each factor layer but the
// lowest goes in its own MPI_Iallgather as soon as backward reaches it, and the lower layers'
// dx GEMMs run, in column blocks, while it crosses the network; the lowest layer's factors
// and the pack go in one last allgather, which the upper layers' dW GEMMs (in row blocks)
// overlap. OpenMPI has no asynchronous progress, so the main thread tests the collectives in
// flight between blocks (`Communicator.startAllGather`); no second thread competes for the
// core. For the default MLP at 2 ranks: layer 1's x and dy (1 MB) during layer 1's dx GEMM,
// then layer 0's dy and the pack (0.5 MB) during layer 1's dW GEMMs.
//
// Rows (`--factor-form rows`, or where the cost model picks it): forming all of dW over the
// global batch costs each rank N times its own dW GEMMs. Instead each rank can form only its
// ⌈out ÷ N⌉ rows of dW over the global batch (one rank's GEMM work: a reduce-scatter done with
// factors), and the ranks allgather those rows: (N−1)/N · (in·out + out) floats more per rank
// than the factors alone, still fewer than a ring allreduce whenever the factors are. A layer's
// rows go in their own allgather as soon as they are formed, which the lower layers' dW GEMMs
// overlap; every rank ends with the same Floats (rank j's rows as rank j formed them).
//
// Exact: no approximation. Every rank computes the same dW (the same GEMMs on the same
// gathered rows, rank block after rank block), provided every rank runs the same number of
// BLAS threads (checked: else the strategy does not apply).
import Collectives
import Foundation
import NNCore
import NNData
import NeuralNet

/// `--exchange shared` across nodes (one rank per node, or no shared memory) and `--exchange factors`.
final class AllgatherFactorExchange: ExchangeStrategy {
    /// How a layer's gradient crosses ranks.
    enum Way: Double, Equatable {
        /// A ring allreduce of its gradient (here: packed with the tail).
        case gradient = 0
        /// Its factors are allgathered and every rank forms all of dW.
        case whole = 1
        /// Its factors are allgathered, each rank forms its rows of dW, and the rows are allgathered.
        case rows = 2
    }

    struct Layer {
        let index: Int
        let linear: Linear<Float>
        let way: Way
        /// Whether this layer's gradient is formed from allgathered factors.
        var factors: Bool { way != .gradient }
        /// The allgather of its rows of dW (`way == .rows`).
        let rowGather: RowGather?
        /// Offsets in `send` of its x rows (nil: the data input) and dy rows (factor layers).
        let xOffset: Int?
        let dyOffset: Int
        /// Private [perRank, in] / [perRank, out] rows for a layer that allreduces its gradient.
        let localX: Buffer<Float>?
        let localDY: Buffer<Float>?
        /// Offset of this layer's gradient in the packed allreduce (gradient layers).
        let packOffset: Int
    }

    /// The allgather of a `rows` layer's weight-gradient rows: rank j forms rows
    /// [out·j ÷ N, out·(j+1) ÷ N) over the global batch and sends them, with their bias entries,
    /// in a block of ⌈out ÷ N⌉ · (in + bias) Floats: its W rows, then its bias entries.
    final class RowGather {
        let out: Int, inFeatures: Int, bias: Bool, size: Int
        let blockFloats: Int
        /// My block, then every rank's.
        let wire: Buffer<Float>
        var pending: PendingCollective?
        init(linear: Linear<Float>, size: Int) {
            out = linear.outFeatures; inFeatures = linear.inFeatures; bias = linear.useBias; self.size = size
            blockFloats = (out + size - 1) / size * (inFeatures + (bias ? 1 : 0))
            wire = Buffer(count: (size + 1) * blockFloats)
        }
        func rows(of j: Int) -> Range<Int> { out * j / size ..< out * (j + 1) / size }
        func block(_ j: Int) -> UnsafeMutablePointer<Float> { wire.pointer + (1 + j) * blockFloats }
        /// Copies rank j's rows between the layer's gradient `g` ([out, in] then [out]) and `block`.
        func copy(rank j: Int, gradient g: UnsafeMutablePointer<Float>, block b: UnsafeMutablePointer<Float>, toBlock: Bool) {
            let r = rows(of: j), w = r.count * inFeatures
            let gw = g + r.lowerBound * inFeatures, gb = g + out * inFeatures + r.lowerBound
            if toBlock {
                b.update(from: gw, count: w)
                if bias { (b + w).update(from: gb, count: r.count) }
            } else {
                gw.update(from: b, count: w)
                if bias { gb.update(from: b + w, count: r.count) }
            }
        }
    }

    /// One allgather of a step: some factor layers' rows (and, for the last, the pack).
    final class Group {
        /// The factor layers it carries (indices into `layers`), top first.
        let layers: [Int]
        /// Started once backward has dy of this model layer (nil: after backward).
        let trigger: Int?
        /// Its factors: `send[offset ..< offset + floats]`.
        let offset: Int, floats: Int
        /// Whether the pack rides in it.
        let withPack: Bool
        /// Bytes of one rank's block on the wire: the factors (Floats or 16-bit words, padded
        /// to 4 bytes), then with `withPack` the pack as Floats.
        let factorWireBytes: Int
        let wireBlock: Int
        /// My block, then every rank's: (size + 1) · wireBlock bytes.
        let wire: Buffer<UInt32>
        /// Rank j's decoded factors at j · floats (compressed runs only).
        let decoded: Buffer<Float>
        /// Its allgather of this step, until a test or wait sees it finish.
        var pending: PendingCollective?
        /// Whether this step started it.
        var started = false
        init(layers: [Int], trigger: Int?, offset: Int, floats: Int, withPack: Bool, packFloats: Int, size: Int, compressed: Bool) {
            self.layers = layers; self.trigger = trigger; self.offset = offset; self.floats = floats; self.withPack = withPack
            factorWireBytes = compressed ? (floats * 2 + 3) / 4 * 4 : floats * 4
            wireBlock = factorWireBytes + (withPack ? packFloats * 4 : 0)
            wire = Buffer(count: max((size + 1) * wireBlock / 4, 1))
            decoded = Buffer(count: compressed ? max(floats * size, 1) : 0)
        }
        var mine: UnsafeMutableRawPointer { UnsafeMutableRawPointer(wire.pointer) }
        /// Rank j's block as received.
        func block(_ j: Int) -> UnsafeMutableRawPointer { mine + (1 + j) * wireBlock }
    }

    let comm: Communicator
    let model: Sequential<Float>
    let layers: [Layer]
    /// In the order they start: top layers first, the last one after backward.
    let groups: [Group]
    let size: Int, rank: Int
    /// Most samples of one rank in any step: ⌈global batch ÷ ranks⌉.
    let perRank: Int
    /// Every factor layer's rows of this rank, group after group.
    let send: Buffer<Float>
    /// The global batch's inputs, rank j's rows at j · perRank (when layer 0 uses factors).
    let inputs: Buffer<Float>?
    /// Gradients of the allreduce layers, then the tail.
    let pack: Buffer<Float>
    let updateRanges: [Range<Int>]
    /// 16-bit factors on the wire (`--compress`).
    let codec: WireCodec?
    /// Whether the pack rides in the last allgather (else: its own allreduce).
    let packInGather: Bool
    /// The ranks' sample counts in the current step.
    private var counts: [Int] = []
    /// The first failure of a collective started or tested inside backward's callbacks.
    private var failure: Error?
    /// Scratch for the labels and targets of gathered inputs.
    private let scratchLabels: Buffer<Int32>
    private let scratchTargets: Buffer<Float>
    private let scratchIndices: Buffer<Int32>
    var label: String {
        let rows = layers.filter { $0.way == .rows }.count
        return "factors \(size)x1\(codec.map { " \($0.kind)" } ?? "") (allgather \(layers.filter(\.factors).count)/\(layers.count) layers\(rows > 0 ? ", \(rows) by rows" : "")\(overlap ? ", overlapped" : ""))"
    }

    /// Factor bytes one step receives per rank, for `description`.
    let factorBytes: Int

    /// Whether factors can apply at all (fast mode, an MLP, each rank's slice in one micro-batch).
    static func applicable(_ c: ExchangeContext) -> Bool {
        c.config.reduction == .fast && c.comm.size > 1 && c.model.parametersAreAllLinear
            && (c.globalBatch + c.comm.size - 1) / c.comm.size <= c.microBatch
    }

    /// Measures the link and the GEMM rate, lets rank 0 choose each layer's way, and builds the
    /// exchange (collective). Nil when no layer would use factors or the ranks' BLAS threads differ.
    static func make(_ c: ExchangeContext, force: Bool) throws -> AllgatherFactorExchange? {
        guard applicable(c) else { return nil }
        let threads = try c.comm.allGather(UInt64(BLASThreads.current))
        guard threads.allSatisfy({ $0 == threads[0] }) else { return nil }
        let N = c.comm.size
        let perRank = (c.globalBatch + N - 1) / N
        let linears = SharedFactorExchange.linearLayers(c.model)
        let link = try LinkProbe.measure(c.comm)
        let flops = LinkProbe.gemmRate(rows: perRank)
        // Rank 0 decides (the layers and the overlap), so that every rank builds the same layout.
        let word = WireCodec(c.config.compress) == nil ? 4 : 2
        // Rows are formed from Float factors only (compressed factors go whole).
        let form = word == 4 ? c.config.factorForm : .whole
        var choice = choose(layers: linears.map { (input: $0.0 == 0, inFeatures: $0.1.inFeatures, outFeatures: $0.1.outFeatures) },
                            ranks: N, perRank: perRank, bytesPerSecond: link.bytesPerSecond, flopsPerSecond: flops, factorWordBytes: word,
                            form: form, force: force).map(\.rawValue)
        // The factors' transfer a step at the probed bandwidth, for `--factor-overlap auto`.
        var wireBytes = 0
        for ((k, lin), chosen) in zip(linears, choice) where chosen != Way.gradient.rawValue {
            wireBytes += (N - 1) * perRank * factorColumns(input: k == 0, inFeatures: lin.inFeatures, outFeatures: lin.outFeatures) * word
        }
        let wire = Double(wireBytes) / max(link.bytesPerSecond, 1)
        choice.append(overlaps(c.config.factorOverlap, wireSeconds: wire) ? 1 : 0)
        try choice.withUnsafeMutableBytes { try c.comm.broadcast($0, root: 0) }
        let overlap = choice.removeLast() == 1
        let ways = choice.map { Way(rawValue: $0) ?? .gradient }
        guard ways.contains(where: { $0 != .gradient }) else { return nil }
        return AllgatherFactorExchange(c, linears: linears, ways: ways, perRank: perRank, link: link, flops: flops, overlap: overlap)
    }

    /// The cost model: for each Linear layer (`input`: it reads the data, which every rank
    /// has), the cheapest of
    ///
    ///     gradient:  2 (N−1)/N · (in·out + out) · 4 B ÷ bandwidth                    (a ring allreduce)
    ///     whole:     gather + 2 (N−1) · perRank · in · out ÷ FLOP/s                  (every rank forms all of dW)
    ///     rows:      gather + (N−1)/N · (in·out + out) · 4 B ÷ bandwidth             (each its rows, then their allgather)
    ///     gather  =  (N−1) · perRank · (in·[not input] + out) · w B ÷ bandwidth      (w = 4, or 2 compressed)
    ///
    /// among the ways `form` allows (`force`: never `gradient`). Latency is left out: every
    /// layer's messages ride in a few collectives. So is the overlap with backward, which only
    /// makes the factor ways cheaper. Rows cost no GEMM work beyond one rank's own dW.
    static func choose(layers: [(input: Bool, inFeatures: Int, outFeatures: Int)], ranks N: Int, perRank: Int,
                       bytesPerSecond bw: Double, flopsPerSecond flops: Double, factorWordBytes w: Int = 4,
                       form: FactorForm, force: Bool = false) -> [Way] {
        layers.map { l in
            let weights = Double(l.inFeatures * l.outFeatures)
            let allreduce = 2 * Double(N - 1) / Double(N) * (weights + Double(l.outFeatures)) * 4 / bw
            let gather = Double(N - 1) * Double(perRank) * Double(factorColumns(input: l.input, inFeatures: l.inFeatures, outFeatures: l.outFeatures)) * Double(w) / bw
            var costs: [(Way, Double)] = force ? [] : [(.gradient, allreduce)]
            if form != .rows { costs.append((.whole, gather + 2 * Double(N - 1) * Double(perRank) * weights / flops)) }
            if form != .whole { costs.append((.rows, gather + allreduce / 2)) }
            return costs.min { $0.1 < $1.1 }?.0 ?? .gradient
        }
    }

    /// Factor values one sample of a layer contributes: its x row (unless it reads the data,
    /// which every rank has) and its dy row.
    static func factorColumns(input: Bool, inFeatures: Int, outFeatures: Int) -> Int {
        (input ? 0 : inFeatures) + outFeatures
    }

    private init(_ c: ExchangeContext, linears: [(Int, Linear<Float>)], ways: [Way], perRank: Int, link: LinkProbe, flops: Double, overlap: Bool) {
        let factors = ways.map { $0 != .gradient }
        comm = c.comm; model = c.model; size = c.comm.size; rank = c.comm.rank
        self.perRank = perRank
        let codec = WireCodec(c.config.compress)
        self.codec = codec
        // Overlapped: groups top first, one per factor layer, started when backward has its
        // dy; the lowest one's (which backward finishes last) carries the pack and starts after
        // backward. Not overlapped: one group of every factor layer and the pack, after backward.
        // With one factor layer there is one group either way, after backward: nothing to
        // overlap, so the GEMMs stay uncut and the label does not claim it (every rank has the
        // same broadcast choice, hence the same answer).
        let factorLayers = linears.indices.filter { factors[$0] }.reversed().map { $0 }
        let overlap = overlap && factorLayers.count > 1
        self.overlap = overlap
        let groupLayers = overlap ? factorLayers.map { [$0] } : [factorLayers]
        var layers: [Layer] = []
        var pack = 0
        var offsets = [(x: Int?, dy: Int)](repeating: (nil, 0), count: linears.count)
        var groupRanges: [(offset: Int, floats: Int)] = []
        var off = 0
        for members in groupLayers {
            let start = off
            for j in members {
                let (k, lin) = linears[j]
                let xo: Int? = k == 0 ? nil : off
                if k != 0 { off += perRank * lin.inFeatures }
                offsets[j] = (xo, off)
                off += perRank * lin.outFeatures
            }
            groupRanges.append((start, off - start))
        }
        for (j, (k, lin)) in linears.enumerated() {
            if factors[j] {
                layers.append(Layer(index: k, linear: lin, way: ways[j], rowGather: ways[j] == .rows ? RowGather(linear: lin, size: c.comm.size) : nil,
                                    xOffset: offsets[j].x, dyOffset: offsets[j].dy, localX: nil, localDY: nil, packOffset: 0))
            } else {
                layers.append(Layer(index: k, linear: lin, way: .gradient, rowGather: nil, xOffset: nil, dyOffset: 0,
                                    localX: k == 0 ? nil : Buffer(count: perRank * lin.inFeatures), localDY: Buffer(count: perRank * lin.outFeatures),
                                    packOffset: pack))
                pack += lin.parameterCount
            }
        }
        self.layers = layers
        send = Buffer(count: max(off, 1))
        let in0 = model.inputSize
        inputs = layers.first.map { $0.index == 0 && $0.factors } == true ? Buffer(count: perRank * size * in0) : nil
        self.pack = Buffer(count: pack + Tail.size)
        let inGather = c.comm.size == 2 || pack + Tail.size <= 1 << 16
        packInGather = inGather
        let last = groupLayers.count - 1, ranks = c.comm.size, compressed = codec != nil
        groups = groupLayers.enumerated().map { g, members in
            Group(layers: members, trigger: g == last ? nil : linears[members[0]].0, offset: groupRanges[g].offset, floats: groupRanges[g].floats,
                  withPack: g == last && inGather, packFloats: pack + Tail.size, size: ranks, compressed: compressed)
        }
        updateRanges = [0..<model.parameterCount]
        scratchLabels = Buffer(count: perRank)
        scratchTargets = Buffer(count: perRank * max(model.outputSize, 1))
        scratchIndices = Buffer(count: perRank)
        factorBytes = (size - 1) * groups.reduce(0) { $0 + $1.factorWireBytes }
        if rank == 0 {
            let f = layers.filter(\.factors).map { "\($0.index)\($0.way == .rows ? " (rows)" : "")" }.joined(separator: ",")
            let g = layers.filter { !$0.factors }.map { String($0.index) }.joined(separator: ",")
            description = String(format: "layers %@ by allgathered factors (%.2f MB received per step, %@)%@; link ≈ %.2f Gbit/s, GEMM ≈ %.0f GFLOP/s",
                                 f, Double(factorBytes) / 1e6, overlap ? "\(groups.count) allgathers overlapped with backward" : "one allgather after backward", g.isEmpty ? "" : ", layers \(g) by gradient (\(packInGather ? "in the last allgather" : "allreduce"))", link.bytesPerSecond * 8 / 1e9, flops / 1e9)
        } else { description = "" }
    }

    /// What rank 0 chose, for the console.
    let description: String

    /// Whether the allgathers run during backward (else one after it, GEMMs uncut).
    let overlap: Bool

    /// `auto`: overlap when the factors' transfer at the probed bandwidth is ≥ 5 ms a step.
    static func overlaps(_ mode: FactorOverlap, wireSeconds: Double) -> Bool {
        switch mode {
        case .on: true
        case .off: false
        case .auto: wireSeconds >= 5e-3
        }
    }

    /// Copies (or encodes) group g's block and starts its allgather.
    private func start(_ g: Group) {
        guard failure == nil, !g.started else { return }
        g.started = true
        let mine = g.mine
        if let codec { codec.encode(send.pointer + g.offset, mine.assumingMemoryBound(to: UInt16.self), count: g.floats) }
        else { mine.copyMemory(from: send.pointer + g.offset, byteCount: g.floats * 4) }
        if g.withPack { (mine + g.factorWireBytes).copyMemory(from: pack.pointer, byteCount: pack.count * 4) }
        do {
            g.pending = try comm.startAllGather(UnsafeRawBufferPointer(start: mine, count: g.wireBlock),
                                                UnsafeMutableRawBufferPointer(start: g.block(0), count: g.wireBlock * size))
        } catch { failure = error }
    }

    /// Advances the collectives in flight (between GEMM blocks).
    private func poll() {
        guard failure == nil else { return }
        do {
            for g in groups { if let p = g.pending, try p.test() { g.pending = nil } }
            for l in layers { if let r = l.rowGather, let p = r.pending, try p.test() { r.pending = nil } }
        } catch { failure = error }
    }

    /// Copies my rows of layer l's dW (formed) into its row allgather's block and starts it.
    private func startRows(_ l: Layer) {
        guard failure == nil, let r = l.rowGather else { return }
        r.copy(rank: rank, gradient: model.gradients.pointer + model.offsets[l.index], block: r.wire.pointer, toBlock: true)
        do {
            r.pending = try comm.startAllGather(UnsafeRawBufferPointer(start: r.wire.pointer, count: r.blockFloats * 4),
                                                UnsafeMutableRawBufferPointer(start: r.block(0), count: r.blockFloats * 4 * size))
        } catch { failure = error }
    }

    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        counts = (0..<size).map { Sampler.slice(batch, part: $0, of: size).count }
        failure = nil
        for g in groups { g.started = false; g.pending = nil }
        for l in layers { l.rowGather?.pending = nil }
        let mine = Sampler.slice(batch, part: rank, of: size)
        let n = mine.count
        precondition(n <= perRank && n <= model.capacity, "factor exchange: \(n) rows exceed \(perRank)")
        // The first layer's input: the whole global batch when it uses factors (my rows are
        // gathered by the forward pass), else the pass's own buffer.
        var x = pass.x.pointer
        if let all = inputs {
            let in0 = model.inputSize
            x = all.pointer + rank * perRank * in0
            for j in 0..<size where j != rank {
                let s = Sampler.slice(batch, part: j, of: size)
                guard !s.isEmpty else { continue }
                pass.gather(s, into: all.pointer + j * perRank * in0, labels: scratchLabels.pointer,
                            targets: scratchTargets.pointer, indices: scratchIndices.pointer)
            }
        }
        var lossSum = 0.0
        if n > 0 {
            for l in layers {
                let xp = l.factors ? l.xOffset.map { send.pointer + $0 } : l.localX?.pointer
                if let xp { model.place(layer: l.index - 1, output: xp, gradient: nil) }
                model.place(layer: l.index, output: nil, gradient: l.factors ? send.pointer + l.dyOffset : l.localDY!.pointer)
            }
            defer { model.usePrivateStorage() }
            lossSum = pass.forwardAndLoss(mine, into: x, scale: scale)
            let groups = self.groups
            if overlap {
                model.backwardInputs(x, batch: n, dyReady: { k in
                    for g in groups where g.trigger == k { self.start(g) }
                }, between: { self.poll() })
            } else {
                model.backwardInputs(x, batch: n)
            }
        }
        // The gradient layers: their dW over my rows, packed for the allreduce.
        let g = model.gradients.pointer, p = pack.pointer
        for l in layers where !l.factors {
            let lx = l.localX.map { UnsafePointer($0.pointer) } ?? UnsafePointer(x)
            l.linear.weightGradient(rows: 0..<l.linear.outFeatures, x: lx, dy: l.localDY!.pointer, batch: n)
            (p + l.packOffset).update(from: g + model.offsets[l.index], count: l.linear.parameterCount)
        }
        let t = LocalTail(lossSum: lossSum, count: n, stop: stop)
        FastSum.write(t, into: p + pack.count - Tail.size)
        // Every group not yet started (all of them on a rank without samples), in order.
        for group in groups { start(group) }
        if let failure { throw failure }
        clock.charge(.compute)
        return t
    }

    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        let g = model.gradients.pointer, p = pack.pointer
        let in0 = model.inputSize
        for group in groups {
            clock.charge(.compute)
            if let pending = group.pending { try pending.wait(); group.pending = nil }
            clock.charge(.comm)
            if group.withPack {
                // Σ over ranks in rank order: the same bits on every rank.
                for j in 0..<size {
                    let pj = UnsafeRawPointer(group.block(j) + group.factorWireBytes).assumingMemoryBound(to: Float.self)
                    if j == 0 { p.update(from: pj, count: pack.count) } else { for i in 0..<pack.count { p[i] += pj[i] } }
                }
            }
            // Rank j's factors: in the wire buffer as Floats, or decoded from its 16-bit words.
            if let codec {
                for j in 0..<size {
                    codec.decode(group.block(j).assumingMemoryBound(to: UInt16.self), group.decoded.pointer + j * group.floats, count: group.floats, add: false)
                }
            }
            func factorsOf(_ j: Int) -> UnsafePointer<Float> {
                codec != nil ? UnsafePointer(group.decoded.pointer + j * group.floats) : UnsafePointer(group.block(j).assumingMemoryBound(to: Float.self))
            }
            // dW = Σ over rank blocks in rank order of dy_jᵀ x_j: the same sum on every rank;
            // in row blocks, between which the later groups' allgathers advance. A `rows`
            // layer forms my rows only and starts their allgather.
            for li in group.layers {
                let l = layers[li]
                let mine = l.rowGather?.rows(of: rank) ?? 0..<l.linear.outFeatures
                let cut = overlap ? model.blocks(of: mine.count).map { mine.lowerBound + $0.lowerBound ..< mine.lowerBound + $0.upperBound } : [mine]
                for rows in cut {
                    for j in 0..<size {
                        let base = factorsOf(j)
                        let xj = l.xOffset.map { UnsafePointer(base + $0 - group.offset) } ?? UnsafePointer(inputs!.pointer + j * perRank * in0)
                        l.linear.weightGradient(rows: rows, x: xj, dy: base + l.dyOffset - group.offset, batch: counts[j], accumulate: j > 0)
                    }
                    poll()
                }
                startRows(l)
            }
            if let failure { throw failure }
        }
        // The other ranks' rows, as they formed them.
        for l in layers {
            guard let r = l.rowGather else { continue }
            clock.charge(.compute)
            if let pending = r.pending { try pending.wait(); r.pending = nil }
            clock.charge(.comm)
            for j in 0..<size where j != rank {
                r.copy(rank: j, gradient: g + model.offsets[l.index], block: r.block(j), toBlock: false)
            }
        }
        if !packInGather {
            clock.charge(.compute)
            try comm.allReduceSum(pack.buffer)
            clock.charge(.comm)
        }
        for l in layers where !l.factors {
            (g + model.offsets[l.index]).update(from: p + l.packOffset, count: l.linear.parameterCount)
        }
        let (lossSum, count, stop) = FastSum().tail { p[pack.count - Tail.size + $0] }
        let r = Reduced.wholeModel(model, lossSum: lossSum, count: count, stop: stop, l2: l2)
        clock.charge(.compute)
        return r
    }
}

/// What the factor exchange's cost model measures when a run starts.
struct LinkProbe {
    /// Effective bytes per second of the link, from the time of a ring allreduce.
    let bytesPerSecond: Double

    /// Times an allreduce of 1 Mi floats (the best of 3 after a warm-up) on every rank; rank 0's
    /// figure is what counts (it decides).
    static func measure(_ comm: Communicator) throws -> LinkProbe {
        let b = Buffer<Float>(count: 1 << 20)
        var best = Double.infinity
        for rep in 0..<4 {
            let t0 = StepClock.now()
            try comm.allReduceSum(b.buffer)
            if rep > 0 { best = min(best, StepClock.now() - t0) }
        }
        let N = Double(comm.size)
        let bytes = 2 * (N - 1) / N * Double(b.count * 4)
        return LinkProbe(bytesPerSecond: bytes / max(best, 1e-6))
    }

    /// FLOP/s of this rank's sgemm on a weight-gradient-like product with `rows` rows (best of 3).
    static func gemmRate(rows: Int) -> Double {
        let m = 512, n = 512, k = max(rows, 1)
        let a = Buffer<Float>(count: k * m), b = Buffer<Float>(count: k * n), c = Buffer<Float>(count: m * n)
        var best = Double.infinity
        for _ in 0..<3 {
            let t0 = StepClock.now()
            Float.gemm(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, a: a.pointer, lda: m, b: b.pointer, ldb: n, beta: 1, c: c.pointer, ldc: n)
            best = min(best, StepClock.now() - t0)
        }
        return 2 * Double(m * n * k) / max(best, 1e-9)
    }
}
