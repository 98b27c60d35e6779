// --compress bf16|fp16: 16-bit words on the wire, Float32 sums. Pinned encodings, and runs
// whose ranks keep identical parameters and stay near the uncompressed run.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData
import NeuralNet
import CKernels

@Suite(.serialized) struct CompressionTests {
    @Test func bf16RoundsToNearestEven() {
        let codec = WireCodec(.bf16)!
        // 1, a tie that stays (even), a tie that rounds up (odd), above a tie, −2, NaN, the largest Float.
        let x: [Float] = [1, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001), -2, .nan, .greatestFiniteMagnitude]
        var w = [UInt16](repeating: 0, count: x.count)
        codec.encode(x, &w, count: x.count)
        #expect(w == [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC000, 0x7FC0, 0x7F80])
        var back = [Float](repeating: 0, count: 4)
        codec.decode(w, &back, count: 4, add: false)
        #expect(back == [1, 1, Float(bitPattern: 0x3F82_0000), Float(bitPattern: 0x3F81_0000)])
        codec.decode(w, &back, count: 1, add: true)
        #expect(back[0] == 2)
    }

    @Test func fp16PinnedValues() {
        let codec = WireCodec(.fp16)!
        let x: [Float] = [1, 65504, 1e5, -0.5, 1e-8]
        var w = [UInt16](repeating: 0, count: x.count)
        codec.encode(x, &w, count: x.count)
        #expect(w == [0x3C00, 0x7BFF, 0x7C00, 0xB800, 0x0000])
        #expect(WireCodec(.none) == nil)
    }

    /// Trains on `workers` ranks without shared memory; every rank's parameter hash and rank 0's parameters.
    func run(_ c: TrainConfig, workers: Int, data: DataSplit) throws -> (hashes: [UInt64], parameters: [Float], done: DoneMetrics) {
        try runOnRanks(RunPlan(workers: workers, blasThreads: 1, quiet: true)) { comm in
            let t = try Trainer(config: c, data: data, comm: NoSharedMemory(comm))
            let done = try t.run()
            let p = t.model.parameters.array
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for v in p { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
            return (try comm.allGather(h), p, done)
        }
    }

    @Test(arguments: [Compression.bf16, .fp16])
    func compressedExchangesKeepRanksIdenticalAndNearFloat32(_ codec: Compression) throws {
        let data = try DataParallelTests.fashion.get()
        var base = DataParallelTests.factorConfig(); base.momentum = 0.9
        let (ref, refDone) = try trainParameters(base, workers: 1, data: data)
        for exchange in [GradientExchange.allreduce, .factors] {
            for n in [2, 3] {
                var c = base
                c.exchange = exchange
                c.compress = codec
                let r = try run(c, workers: n, data: data)
                #expect(Set(r.hashes).count == 1, "\(exchange) \(codec) on \(n) ranks: ranks' parameters differ")
                #expect(r.done.exchange.contains(codec.description), "label \(r.done.exchange)")
                // Rounded to 8 (bf16) or 11 (fp16) mantissa bits on the wire: not the float32
                // bits, but the same training: parameters within a few per cent, loss within 2 %.
                let d = relativeDifference(r.parameters, ref)
                #expect(d > 0 && d < 0.05, "\(exchange) \(codec) on \(n) ranks: relative difference \(d)")
                #expect(abs(r.done.train_loss! - refDone.train_loss!) <= 0.02 * refDone.train_loss!)
            }
        }
    }

    @Test(arguments: [2, 3, 4])
    func compressedAllreduceSumsTheDecodedWordsInRankOrder(_ n: Int) throws {
        // P = 1001 gradients (not a multiple of 3 or 4) and the tail. Two ranks: every rank
        // gets Σ_j decode(encode(x_j)) in rank order, unrounded. Three or more (reduce-scatter by
        // alltoall, then allgather): that sum encoded and decoded once more, the shard owner's
        // rounding. Every rank the same bits; the tail summed in Float32.
        let P = 1001
        func x(_ r: Int, _ i: Int) -> Float { Float(sin(Double(i * (r + 3)) * 0.37)) * Float(1 + i % 7) * 1e-3 }
        for kind in [Compression.bf16, .fp16] {
            let codec = WireCodec(kind)!
            let (_, all) = try runOnRanks(RunPlan(workers: n, blasThreads: 1, quiet: true)) { comm -> (Int, [Float]) in
                var b = (0..<P).map { x(comm.rank, $0) } + (0..<Tail.size).map { Float(comm.rank + $0) }
                try b.withUnsafeMutableBufferPointer { try CompressedSum(codec: codec).allReduce(comm, $0) }
                var mine = b
                var every = [Float](repeating: 0, count: b.count * comm.size)
                try mine.withUnsafeMutableBytes { m in try every.withUnsafeMutableBytes { try comm.allGather(UnsafeRawBufferPointer(m), $0) } }
                return (0, every)
            }
            var want = [Float](repeating: 0, count: P)
            for r in 0..<n {
                var enc = [UInt16](repeating: 0, count: P)
                let v = (0..<P).map { x(r, $0) }
                v.withUnsafeBufferPointer { codec.encode($0.baseAddress!, &enc, count: P) }
                enc.withUnsafeBufferPointer { e in want.withUnsafeMutableBufferPointer { codec.decode(e.baseAddress!, $0.baseAddress!, count: P, add: r > 0) } }
            }
            if n > 2 {
                var enc = [UInt16](repeating: 0, count: P)
                want.withUnsafeBufferPointer { codec.encode($0.baseAddress!, &enc, count: P) }
                enc.withUnsafeBufferPointer { e in want.withUnsafeMutableBufferPointer { codec.decode(e.baseAddress!, $0.baseAddress!, count: P, add: false) } }
            }
            let tail = (0..<Tail.size).map { k in (0..<n).reduce(Float(0)) { $0 + Float($1 + k) } }
            let width = P + Tail.size
            for r in 0..<n {
                let got = Array(all[r * width ..< (r + 1) * width])
                #expect(Array(got[..<P]) == want, "\(kind) \(n) ranks: rank \(r)'s sums")
                #expect(Array(got[P...]) == tail, "\(kind) \(n) ranks: rank \(r)'s tail")
            }
        }
    }

    @Test func powerSGDKeepsRanksIdenticalAndTrainsLikeFloat32() throws {
        // Rank 4 with error feedback on the 784-256-256-10 MLP (all three weights compressed):
        // ranks identical, the loss within 5 % of the uncompressed run's after 30 steps.
        let data = try DataParallelTests.fashion.get()
        var base = DataParallelTests.factorConfig(); base.momentum = 0.9
        let (_, refDone) = try trainParameters(base, workers: 1, data: data)
        for n in [2, 3] {
            var c = base
            c.compress = .powerSGD(rank: 4)
            let r = try run(c, workers: n, data: data)
            #expect(Set(r.hashes).count == 1, "powersgd on \(n) ranks: ranks' parameters differ")
            #expect(r.done.exchange == "allreduce (powersgd:4 on 3 matrices)")
            #expect(abs(r.done.train_loss! - refDone.train_loss!) <= 0.05 * refDone.train_loss!,
                    "powersgd \(n) ranks: loss \(r.done.train_loss!) against \(refDone.train_loss!)")
        }
    }

    @Test func powerSGDsPassesComputeTheFormulas() {
        // 150 rows × 37 columns (not a multiple of any vector width), rank 3, 2 ranks: the
        // passes against the formulas summed in Double, element by element.
        let rows = 150, cols = 37, R = 3
        var rng = RNG(seed: 11, stream: 1)
        func draw(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
        let g0 = draw(rows * cols), e0 = draw(rows * cols), qT = draw(R * cols), pHat = draw(rows * R)
        func checkP(_ p: [Float], _ e: [Float]) {
            for i in 0..<rows {
                for r in 0..<R {
                    var want = 0.0
                    for j in 0..<cols { want += Double(e[i * cols + j]) * Double(qT[r * cols + j]) }
                    #expect(abs(Double(p[i * R + r]) - want) <= 1e-4 * max(1, abs(want)), "p[\(i), \(r)]")
                }
            }
        }
        // The first step: nothing owed, e = e + g exactly.
        var e = e0, p = [Float](repeating: .nan, count: rows * R)
        PowerSGDExchange.accumulateAndProject(error: &e, gradient: g0, owed: nil, q: qT, p: &p, rows: rows, cols: cols, rank: R, inverseRanks: 0.5)
        #expect(e == zip(e0, g0).map { $0 + $1 })
        checkP(p, e)
        // Later steps: e held the last M; e = M − p̂Qᵀ ÷ 2 + g.
        var e2 = e0, p2 = p
        PowerSGDExchange.accumulateAndProject(error: &e2, gradient: g0, owed: pHat, q: qT, p: &p2, rows: rows, cols: cols, rank: R, inverseRanks: 0.5)
        for i in 0..<rows {
            for j in 0..<cols {
                var m = 0.0
                for r in 0..<R { m += Double(pHat[i * R + r]) * Double(qT[r * cols + j]) }
                let want = Double(e0[i * cols + j]) - m / 2 + Double(g0[i * cols + j])
                #expect(abs(Double(e2[i * cols + j]) - want) <= 1e-5 * max(1, abs(want)), "e[\(i), \(j)]")
            }
        }
        checkP(p2, e2)
        // Qᵀ = (Mᵀ P̂)ᵀ.
        var q = [Float](repeating: .nan, count: R * cols)
        PowerSGDExchange.projectTransposed(error: e2, pHat: pHat, q: &q, rows: rows, cols: cols, rank: R)
        for r in 0..<R {
            for j in 0..<cols {
                var want = 0.0
                for i in 0..<rows { want += Double(e2[i * cols + j]) * Double(pHat[i * R + r]) }
                #expect(abs(Double(q[r * cols + j]) - want) <= 1e-4 * max(1, abs(want)), "q[\(r), \(j)]")
            }
        }
        // M̃ = P̂Qᵀ, each element ((p̂₀q₀ + p̂₁q₁) + p̂₂q₂) in Float without fused multiply-adds:
        // these exact bits on every CPU.
        var g = [Float](repeating: .nan, count: rows * cols)
        #expect(PowerSGDExchange.expand(p: pHat, q: qT, gradient: &g, rows: rows, cols: cols, rank: R))
        for i in 0..<rows {
            for j in 0..<cols {
                var want = pHat[i * R] * qT[j]
                want = want + pHat[i * R + 1] * qT[cols + j]
                want = want + pHat[i * R + 2] * qT[2 * cols + j]
                #expect(g[i * cols + j] == want, "g[\(i), \(j)]")
            }
        }
        // A non-finite factor anywhere makes some element of M̃ non-finite, and expand says so.
        var qBad = qT
        qBad[R * cols - 1] = .infinity
        #expect(!PowerSGDExchange.expand(p: pHat, q: qBad, gradient: &g, rows: rows, cols: cols, rank: R))
    }

    @Test func powerSGDsPassesGiveTheSameResultAtEveryVectorWidth() {
        // The C passes run an AVX2 body where the CPU has one and a baseline one elsewhere.
        // Ranks on different CPUs must still apply the same M̃: expand's bits are the same in
        // both; the other passes (each rank's own contribution to a sum) agree within rounding.
        defer { nn_kernels_select(-1) }
        for R in [1, 3, 4] {
            let rows = 70, cols = 45
            var rng = RNG(seed: 12, stream: UInt64(R))
            func draw(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
            let g0 = draw(rows * cols), e0 = draw(rows * cols), qT = draw(R * cols), pHat = draw(rows * R)
            func run(_ which: Int32) -> (e: [Float], p: [Float], q: [Float], g: [Float]) {
                nn_kernels_select(which)
                var e = e0, p = [Float](repeating: 0, count: rows * R), q = [Float](repeating: 0, count: R * cols), g = [Float](repeating: 0, count: rows * cols)
                PowerSGDExchange.accumulateAndProject(error: &e, gradient: g0, owed: pHat, q: qT, p: &p, rows: rows, cols: cols, rank: R, inverseRanks: 0.25)
                PowerSGDExchange.projectTransposed(error: e, pHat: pHat, q: &q, rows: rows, cols: cols, rank: R)
                _ = PowerSGDExchange.expand(p: pHat, q: qT, gradient: &g, rows: rows, cols: cols, rank: R)
                return (e, p, q, g)
            }
            let base = run(0), wide = run(1)
            #expect(base.g == wide.g, "R = \(R): M̃ differs between the baseline and AVX2 bodies")
            #expect(relativeDifference(base.e, wide.e) <= 1e-6 && relativeDifference(base.p, wide.p) <= 1e-5
                    && relativeDifference(base.q, wide.q) <= 1e-5, "R = \(R)")
        }
    }

    @Test func powerSGDsStepsFollowThePapersFormulas() throws {
        // Two ranks, the weight of a 40-24-3 MLP's first layer compressed at rank 2 (24 · 40 >
        // 2 · 2 · 64; the 3 × 24 one is not), five steps of drawn gradients through
        // PowerSGDExchange.reduce, against Vogels et al.'s algorithm 1 with error feedback in
        // Double: Mᵢ = gᵢ + eᵢ, P = Σ MᵢQ, P̂ = GS(P), Q = Σ MᵢᵀP̂, M̃ = P̂Qᵀ, eᵢ = Mᵢ − M̃ ÷ N.
        // The error feedback makes every step after the first depend on all before it.
        let N = 2, R = 2, steps = 5
        var config = TrainConfig()
        config.seed = 5
        func grads(rank: Int, step: Int, count: Int) -> [Float] {
            var rng = RNG(seed: 100 + UInt64(step), stream: UInt64(rank))
            return (0..<count).map { _ in Float(rng.normal()) }
        }
        let results = try runOnRanks(RunPlan(workers: N, blasThreads: 1, quiet: true)) { comm -> [[Float]] in
            let model = try ModelSpec(parsing: "mlp:40-24-3").build(Float.self, inputShape: [40], outputs: 3, activation: .relu, gradientTail: Tail.size)
            let ctx = ExchangeContext(config: config, comm: comm, model: model, optimizer: Optimizer<Float>(OptimizerConfig(), parameterCount: model.parameterCount),
                                      globalBatch: 2, microBatch: 1, syncBeforeAllreduce: false)
            let x = PowerSGDExchange(ctx, rank: R)
            #expect(x.label == "allreduce (powersgd:2 on 1 matrices)")
            var out: [[Float]] = []
            var clock = StepClock()
            for s in 0..<steps {
                let P = model.parameterCount, g = model.gradients.pointer
                for (i, v) in grads(rank: comm.rank, step: s, count: P).enumerated() { g[i] = v }
                let local = LocalTail(lossSum: 1, count: 1, stop: false)
                FastSum.write(local, into: g + P)
                let r = try x.reduce(local, l2: 0, clock: &clock)
                #expect(r.finite && r.count == N)
                out.append(Array(UnsafeBufferPointer(start: g, count: P)))
            }
            return out
        }
        // The reference. W₀ is [24, 40] at offset 0; Q starts as the exchange's draw.
        let rows = 24, cols = 40
        var rng = RNG(seed: 5, stream: 0x5057_5347)
        var q = (0..<(R * cols)).map { _ in rng.normal() }   // Qᵀ [R, cols], as the exchange draws it
        var e = [[Double]](repeating: [Double](repeating: 0, count: rows * cols), count: N)
        let P = results[0].count
        for s in 0..<steps {
            let g = (0..<N).map { grads(rank: $0, step: s, count: P).map(Double.init) }
            let m = (0..<N).map { i in (0..<(rows * cols)).map { g[i][$0] + e[i][$0] } }
            var p = [Double](repeating: 0, count: rows * R)
            for i in 0..<N { for a in 0..<rows { for r in 0..<R { for b in 0..<cols { p[a * R + r] += m[i][a * cols + b] * q[r * cols + b] } } } }
            for j in 0..<R {
                for k in 0..<j {
                    let dot = (0..<rows).reduce(0.0) { $0 + p[$1 * R + j] * p[$1 * R + k] }
                    for a in 0..<rows { p[a * R + j] -= dot * p[a * R + k] }
                }
                let norm = (0..<rows).reduce(0.0) { $0 + p[$1 * R + j] * p[$1 * R + j] }.squareRoot()
                for a in 0..<rows { p[a * R + j] /= norm }
            }
            q = [Double](repeating: 0, count: R * cols)
            for i in 0..<N { for b in 0..<cols { for r in 0..<R { for a in 0..<rows { q[r * cols + b] += m[i][a * cols + b] * p[a * R + r] } } } }
            var mt = [Double](repeating: 0, count: rows * cols)
            for a in 0..<rows { for b in 0..<cols { for r in 0..<R { mt[a * cols + b] += p[a * R + r] * q[r * cols + b] } } }
            for i in 0..<N { for k in 0..<(rows * cols) { e[i][k] = m[i][k] - mt[k] / Double(N) } }
            // Rank 0's applied gradient: M̃ for W₀, the plain sum for everything else.
            let got = results[s].map(Double.init)
            let diff = (0..<(rows * cols)).reduce(0.0) { $0 + (got[$1] - mt[$1]) * (got[$1] - mt[$1]) }.squareRoot()
            let size = mt.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
            #expect(diff <= 1e-4 * size, "step \(s): |M̃ − reference| = \(diff), |reference| = \(size)")
            for k in (rows * cols)..<P {
                #expect(abs(got[k] - (g[0][k] + g[1][k])) <= 1e-5 * max(1, abs(g[0][k] + g[1][k])), "step \(s): dense element \(k)")
            }
        }
    }

    @Test func gramSchmidtGivesOrthonormalColumns() {
        // [4, 2]: columns (1, 1, 0, 0) and (1, 0, 1, 0) → (1, 1, 0, 0)/√2 and (1, −1, 2, 0)/√6.
        var a: [Float] = [1, 1, 1, 0, 0, 1, 0, 0]
        PowerSGDExchange.orthonormalizeColumns(&a, rows: 4, columns: 2)
        let expected: [Float] = [1 / 2.0.squareRoot(), 1 / 6.0.squareRoot(), 1 / 2.0.squareRoot(), -1 / 6.0.squareRoot(),
                                 0, 2 / 6.0.squareRoot(), 0, 0].map(Float.init)
        for (x, y) in zip(a, expected) { #expect(abs(x - y) < 1e-6, "\(a)") }
        #expect(PowerSGDExchange.compresses(rows: 1024, cols: 784, rank: 4))
        #expect(!PowerSGDExchange.compresses(rows: 10, cols: 16, rank: 4))   // 8 · 26 = 208 > 160
    }

    @Test func compressionParsesAndRefusesNonsense() {
        #expect(Compression(parsing: "powersgd:4") == .powerSGD(rank: 4))
        #expect(Compression(parsing: "BF16") == .bf16)
        #expect(Compression(parsing: "powersgd:0") == nil && Compression(parsing: "powersgd:") == nil && Compression(parsing: "zip") == nil)
        var c = TrainConfig()
        #expect(throws: UserError.self) { try c.set("compress", "powersgd:x") }
        #expect(throws: Never.self) { try c.set("compress", "powersgd:8") }
        #expect(c.compress == .powerSGD(rank: 8))
    }

    @Test func factorRowsRefuseCompression() throws {
        var c = TrainConfig()
        c.factorForm = .rows
        try c.validate()
        c.compress = .fp16
        #expect { try c.validate() } throws: { e in
            let m = (e as? UserError)?.message ?? ""
            return m.contains("--compress fp16") && m.contains("--factor-form rows")
        }
        c.factorForm = .whole
        try c.validate()
    }

    @Test func exactModeRefusesCompression() {
        var c = TrainConfig()
        c.reduction = .exact
        c.compress = .bf16
        #expect { try c.validate() } throws: { e in
            let m = (e as? UserError)?.message ?? ""
            return m.contains("--compress bf16") && m.contains("--reduction exact")
        }
    }
}
