// --compress bf16|fp16: 16-bit words on the wire, Float32 sums. Pinned encodings, and runs
// whose ranks keep identical parameters and stay near the uncompressed run.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData

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

    @Test func powerSGDsBlockedPassesComputeTheFormulas() {
        // 150 rows (two full blocks of 64 and one of 22) × 37 columns, rank 3, 2 ranks: the
        // blocked passes against the formulas summed in Double, element by element.
        let rows = 150, cols = 37, R = 3
        var rng = RNG(seed: 11, stream: 1)
        func draw(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }
        let g0 = draw(rows * cols), e0 = draw(rows * cols), q = draw(cols * R), pHat = draw(rows * R)
        var e = e0, p = [Float](repeating: .nan, count: rows * R)
        PowerSGDExchange.accumulateAndProject(error: &e, gradient: g0, q: q, p: &p, rows: rows, cols: cols, rank: R)
        for i in 0..<rows {
            for j in 0..<cols { #expect(e[i * cols + j] == e0[i * cols + j] + g0[i * cols + j]) }
            for r in 0..<R {
                var want = 0.0
                for j in 0..<cols { want += Double(e0[i * cols + j] + g0[i * cols + j]) * Double(q[j * R + r]) }
                #expect(abs(Double(p[i * R + r]) - want) <= 1e-4 * max(1, abs(want)), "p[\(i), \(r)]")
            }
        }
        var g = [Float](repeating: .nan, count: rows * cols), e2 = e
        PowerSGDExchange.expand(p: pHat, q: q, gradient: &g, error: &e2, rows: rows, cols: cols, rank: R, inverseRanks: 0.5)
        for i in 0..<rows {
            for j in 0..<cols {
                var want = 0.0
                for r in 0..<R { want += Double(pHat[i * R + r]) * Double(q[j * R + r]) }
                #expect(abs(Double(g[i * cols + j]) - want) <= 1e-5 * max(1, abs(want)), "g[\(i), \(j)]")
                #expect(e2[i * cols + j] == e[i * cols + j] - g[i * cols + j] * 0.5)
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
