// Data-parallel equivalence: N in-process workers compute the update one process computes
// with the same global batch — within float rounding in fast mode, bit for bit in exact mode.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData

/// Trains `config` on `workers` in-process ranks; returns rank 0's final parameters and metrics.
func trainParameters(_ config: TrainConfig, workers: Int, data: DataSplit? = nil) throws -> ([Float], DoneMetrics) {
    let split = try data ?? loadData(config)
    return try runOnRanks(RunPlan(workers: workers, blasThreads: 1, quiet: true)) { comm in
        try verifyRanksAgree(config: config, data: split, comm: comm)
        let t = try Trainer(config: config, data: split, comm: comm)
        let done = try t.run()
        return (t.model.parameters.array, done)
    }
}

/// Like `trainParameters`, plus rank 0's optimizer state after the run.
func trainWithState(_ config: TrainConfig, workers: Int, data: DataSplit) throws -> ([Float], DoneMetrics, [[Float]]) {
    try runOnRanks(RunPlan(workers: workers, blasThreads: 1, quiet: true)) { comm in
        let t = try Trainer(config: config, data: data, comm: comm)
        let done = try t.run()
        return (t.model.parameters.array, done, t.optimizer.state.map(\.array))
    }
}

/// ‖a − b‖∞ / ‖b‖∞.
func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a, b) { num = max(num, Double(abs(x - y))); den = max(den, Double(abs(y))) }
    return num / den
}

/// A small Fashion-MNIST run: 50 steps of an MLP on a subset.
func fashionConfig() -> TrainConfig {
    var c = TrainConfig()
    c.model = "mlp:784-64-64-10"
    c.trainSubset = 1000      // 1000 / 64 → 15 full batches and one of 40: an uneven last batch
    c.testSubset = 500
    c.batchSize = 64
    c.steps = 50
    c.epochs = 10
    c.lr = 0.05
    c.schedule = .constant
    c.evalEvery = 0
    // The preprocessing these tests' tolerances were set with (the defaults before 2026-12-02):
    // they compare exchanges, not preprocessing; DropoutAugmentationTrainingTests covers the rest.
    c.normalize = .none
    c.labelSmoothing = 0
    return c
}

@Suite(.serialized) struct DataParallelTests {
    static let fashion = Result { try loadData(fashionConfig()) }

    @Test func fastModeMatchesOneProcess() throws {
        let data = try DataParallelTests.fashion.get()
        let (ref, refDone) = try trainParameters(fashionConfig(), workers: 1, data: data)
        #expect(refDone.steps == 50)
        for n in [2, 3, 4] {
            let (p, done) = try trainParameters(fashionConfig(), workers: n, data: data)
            let rel = relativeDifference(p, ref)
            #expect(rel <= 1e-5, "workers \(n): relative difference \(rel)")
            #expect(abs(done.train_loss! - refDone.train_loss!) <= 1e-5 * abs(refDone.train_loss!))
            #expect(abs(done.test_loss! - refDone.test_loss!) <= 1e-5 * abs(refDone.test_loss!))
            #expect(done.world_size == n)
        }
    }

    @Test func exactModeIsBitIdenticalForAnyWorkerCount() throws {
        let data = try DataParallelTests.fashion.get()
        var c = fashionConfig()
        c.reduction = .exact
        let (ref, refDone) = try trainParameters(c, workers: 1, data: data)
        for n in [2, 3, 4] {
            let (p, done) = try trainParameters(c, workers: n, data: data)
            #expect(p == ref, "workers \(n)")
            #expect(done.exchange == "shared 1x\(n)")   // Int64 sums in shared memory
            #expect(done.parameters_sha256 == refDone.parameters_sha256)
            #expect(done.train_loss == refDone.train_loss)
            #expect(done.test_loss == refDone.test_loss)
        }
        // With L2, momentum and the allreduce instead of shared memory: still the same bits.
        var l2 = c; l2.l2 = 1e-3; l2.momentum = 0.9; l2.steps = 20
        let (l2ref, l2done) = try trainParameters(l2, workers: 1, data: data)
        for (n, exchange) in [(2, GradientExchange.shared), (3, .shared), (2, .allreduce)] {
            l2.exchange = exchange
            let (p, done) = try trainParameters(l2, workers: n, data: data)
            #expect(p == l2ref, "L2, workers \(n), \(exchange)")
            #expect(done.train_loss == l2done.train_loss, "L2 train loss, workers \(n), \(exchange): \(done.train_loss!) vs \(l2done.train_loss!)")
            #expect(done.test_loss == l2done.test_loss, "L2 test loss, workers \(n), \(exchange)")
        }
        // And it differs from fast mode only by rounding.
        let (fast, _) = try trainParameters(fashionConfig(), workers: 1, data: data)
        #expect(relativeDifference(ref, fast) <= 1e-4)
    }

    @Test func sharedExchangeGivesTheAllreduceBits() throws {
        // --exchange shared sums the ranks' gradients in rank order, as the workers' allreduce
        // does, so the parameters are the same bits: with momentum (one state buffer), Adam
        // (two), L2 regularization, an uneven last batch, and 2 or 3 ranks (uneven shares).
        let data = try DataParallelTests.fashion.get()
        var sgd = fashionConfig(); sgd.momentum = 0.9; sgd.l2 = 1e-4
        var adam = fashionConfig(); adam.optimizer = .adam; adam.momentum = 0; adam.lr = 1e-3
        for c0 in [sgd, adam] {
            for n in [2, 3] {
                var c = c0
                c.exchange = .shared
                let (s, sd, sState) = try trainWithState(c, workers: n, data: data)
                c.exchange = .allreduce
                let (a, ad, aState) = try trainWithState(c, workers: n, data: data)
                #expect(sd.exchange == "shared 1x\(n)" && ad.exchange == "allreduce")
                #expect(s == a, "\(c.optimizer) workers \(n): relative difference \(relativeDifference(s, a))")
                // The optimizer state comes back from shared memory after the run, whole.
                #expect(sState == aState && sState.count == (c.optimizer == .adam ? 2 : 1))
                #expect(sd.parameters_sha256 == ad.parameters_sha256)
                // The L2 term's Σθ² is summed per share, so the reported loss may differ in the last bits.
                #expect(abs(sd.train_loss! - ad.train_loss!) <= 1e-6 * abs(ad.train_loss!))
                #expect(sd.steps == 50)
            }
        }
    }

    /// An MLP wide enough that a batch's factors (inputs and output gradients of the Linear
    /// layers, 64 × 1,818 values) are fewer than its 269,322 weights: the default exchange
    /// shares factors.
    static func factorConfig() -> TrainConfig {
        var c = fashionConfig()
        c.model = "mlp:784-256-256-10"
        c.steps = 30
        return c
    }

    @Test func factorExchangeMatchesOneProcessAndTheGradientExchange() throws {
        // Each rank computes its rows of every layer's weight gradient over the node's whole
        // batch: the result is one process's update up to rounding, for 2, 3 and 4 ranks
        // (uneven row shares, the uneven last batch of 40), with momentum + L2 and with Adam
        // (whose step count must advance once per step although a rank updates 6 ranges).
        let data = try DataParallelTests.fashion.get()
        var sgd = DataParallelTests.factorConfig(); sgd.momentum = 0.9; sgd.l2 = 1e-4; sgd.steps = 50
        var adam = DataParallelTests.factorConfig(); adam.optimizer = .adam; adam.momentum = 0; adam.lr = 1e-3
        for c0 in [sgd, adam] {
            let (ref, refDone, refState) = try trainWithState(c0, workers: 1, data: data)
            for n in [2, 3, 4] {
                var c = c0
                let (f, fd, fState) = try trainWithState(c, workers: n, data: data)
                // Adam divides by √v, which magnifies rounding differences in gradients near
                // zero: the gradient exchange too is 3–6·10⁻⁵ from one process after 30 steps.
                let tol = c.optimizer == .adam ? 1e-4 : 1e-5
                #expect(fd.exchange == "factors 1x\(n)")
                #expect(relativeDifference(f, ref) <= tol, "\(c.optimizer) workers \(n): relative difference \(relativeDifference(f, ref))")
                for (s, r) in zip(fState, refState) {
                    #expect(relativeDifference(s, r) <= 1e-4, "\(c.optimizer) workers \(n): state differs by \(relativeDifference(s, r))")
                }
                #expect(abs(fd.train_loss! - refDone.train_loss!) <= 1e-5 * abs(refDone.train_loss!))
                #expect(abs(fd.test_loss! - refDone.test_loss!) <= 1e-5 * abs(refDone.test_loss!))
                #expect(fd.steps == c.steps)
                c.exchange = .sharedGradients
                let (g, gd, _) = try trainWithState(c, workers: n, data: data)
                #expect(gd.exchange == "shared 1x\(n)")
                #expect(relativeDifference(f, g) <= tol, "\(c.optimizer) workers \(n): factors vs gradients \(relativeDifference(f, g)), gradients vs one process \(relativeDifference(g, ref))")
            }
        }
    }

    @Test func factorExchangeWithRanksWithoutSamples() throws {
        // Batch 3 over 4 workers on a wide XOR net (3 × 260 factors < 4,482 weights): one
        // rank has no rows, and the last batch of each epoch has one sample.
        var c = TrainConfig()
        c.dataset = "xor"; c.model = "mlp:2-64-64-2"; c.activation = "tanh"; c.batchSize = 3; c.epochs = 5
        c.schedule = .constant; c.lr = 0.1; c.momentum = 0.5
        let (one, d1) = try trainParameters(c, workers: 1)
        let (four, d4) = try trainParameters(c, workers: 4)
        #expect(d4.exchange == "factors 1x4" && d4.steps == d1.steps)
        #expect(relativeDifference(four, one) <= 1e-5, "relative difference \(relativeDifference(four, one))")
    }

    @Test func factorExchangeStopsADivergedRunTogether() throws {
        // A learning rate that overflows: every rank stops with the divergence error at the
        // same step, and the shared memory is released (a second run in this process works).
        let data = try DataParallelTests.fashion.get()
        var c = DataParallelTests.factorConfig(); c.lr = 1e30; c.steps = 10
        #expect {
            try trainParameters(c, workers: 2, data: data)
        } throws: { error in
            let m = (error as? UserError)?.message ?? ""
            return m.contains("non-finite") && m.contains("lower the learning rate")
        }
        c.lr = 0.05
        let (_, done) = try trainParameters(c, workers: 2, data: data)
        #expect(done.exchange == "factors 1x2" && done.steps == 10)
        // A rank's slice larger than one micro-batch: gradient slots instead of factors.
        c.microBatch = 16
        let (_, slots) = try trainParameters(c, workers: 2, data: data)
        #expect(slots.exchange == "shared 1x2" && slots.steps == 10)
    }

    @Test func microBatchesAccumulateInTheSharedSlots() throws {
        // A 64-sample batch on 2 workers pushed through in micro-batches of 8: each rank's
        // slot accumulates 4 micro-batches, and the result is the one-pass result up to rounding.
        let data = try DataParallelTests.fashion.get()
        var c = fashionConfig(); c.steps = 20
        let (whole, _) = try trainParameters(c, workers: 2, data: data)
        c.microBatch = 8
        let (pieces, done) = try trainParameters(c, workers: 2, data: data)
        #expect(done.exchange == "shared 1x2")
        let rel = relativeDifference(pieces, whole)
        #expect(rel <= 1e-5 && rel > 0, "relative difference \(rel)")
    }

    @Test func ranksWithoutSamplesStillJoin() throws {
        // Batch 3 over 4 workers: one rank has no sample in every step; the last batch has 1.
        var c = TrainConfig()
        c.dataset = "xor"; c.model = "mlp:2-4-2"; c.activation = "tanh"; c.batchSize = 3; c.epochs = 5
        c.schedule = .constant; c.lr = 0.1
        let (one, d1) = try trainParameters(c, workers: 1)
        let (four, d4) = try trainParameters(c, workers: 4)
        #expect(d1.steps == 10 && d4.steps == 10)
        // 22 parameters + 4 tail slots over 4 ranks: shares of 16, 10, 0 and 0 elements.
        #expect(d4.exchange == "shared 1x4")
        #expect(relativeDifference(four, one) <= 1e-6)
        c.reduction = .exact
        let (e1, _) = try trainParameters(c, workers: 1)
        let (e4, _) = try trainParameters(c, workers: 4)
        #expect(e1 == e4)
    }
}

@Suite struct RankFailureTests {
    @Test func fingerprintMismatchNamesTheRanks() throws {
        var c = TrainConfig()
        c.dataset = "blobs"; c.model = "linear"; c.epochs = 1
        let good = try loadData(c)
        var other = c; other.seed = 99
        let bad = try loadData(other)
        #expect {
            try runOnRanks(RunPlan(workers: 3, blasThreads: 1, quiet: true)) { comm in
                try verifyRanksAgree(config: c, data: comm.rank == 2 ? bad : good, comm: comm)
            }
        } throws: { error in
            "\(error)".contains("rank(s) 2 differ from rank 0")
        }
    }

    @Test func oneRankFailingEndsTheJobWithItsMessage() throws {
        var c = TrainConfig()
        c.dataset = "blobs"; c.model = "linear"; c.epochs = 3
        let data = try loadData(c)
        #expect {
            try runOnRanks(RunPlan(workers: 4, blasThreads: 1, quiet: true)) { comm in
                if comm.rank == 3 { throw UserError("/data/missing-on-host-3: file not found") }
                let t = try Trainer(config: c, data: data, comm: comm)
                try t.run()
            }
        } throws: { error in
            (error as? UserError)?.message == "/data/missing-on-host-3: file not found"
        }
    }

    @Test func divergenceStopsWithAClearMessage() throws {
        var c = TrainConfig()
        c.dataset = "linear-regression"; c.model = "linear"; c.loss = "mse"; c.lr = 50; c.momentum = 0
        c.schedule = .constant; c.epochs = 20; c.batchSize = 100
        #expect {
            try trainParameters(c, workers: 2)
        } throws: { error in
            let m = (error as? UserError)?.message ?? ""
            return m.contains("non-finite loss") && m.contains("lower the learning rate")
        }
    }
}
