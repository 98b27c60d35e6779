// Dropout, augmentation and label smoothing in data-parallel training: their randomness is a
// function of (seed, epoch, position), so N workers still compute one process's update (fast:
// within rounding, whichever exchange runs; exact: the same bits) and a stop and resume changes
// nothing. Each test also checks that the feature changed the run, so a silent no-op fails.
import Foundation
import NNCore
import Testing
@testable import Training

/// The small Fashion-MNIST run of DataParallelTests with dropout, crops and flips, and label smoothing.
func noisyConfig(_ edit: (inout TrainConfig) -> Void = { _ in }) -> TrainConfig {
    var c = fashionConfig()
    c.model = "mlp:784-64-64-10,dropout:0.3"
    c.augment = "crop:2,flip"
    c.labelSmoothing = 0.1
    c.normalize = .auto      // per-channel standardization: crops pad with (0 − μ)/σ, not 0
    c.steps = 30
    edit(&c)
    return c
}

@Suite(.serialized) struct DropoutAugmentationTrainingTests {
    @Test func eachFeatureChangesTheRun() throws {
        let data = try DataParallelTests.fashion.get()
        let (all, _) = try trainParameters(noisyConfig(), workers: 1, data: data)
        let (plain, _) = try trainParameters(noisyConfig { $0.model = "mlp:784-64-64-10" }, workers: 1, data: data)
        let (straight, _) = try trainParameters(noisyConfig { $0.augment = "none" }, workers: 1, data: data)
        let (hard, _) = try trainParameters(noisyConfig { $0.labelSmoothing = 0 }, workers: 1, data: data)
        #expect(relativeDifference(plain, all) > 1e-3)
        #expect(relativeDifference(straight, all) > 1e-3)
        #expect(relativeDifference(hard, all) > 1e-3)
    }

    @Test func fastModeMatchesOneProcess() throws {
        // Shared factors (MLP on one node), shared gradients (--exchange allreduce in memory),
        // and input dropout in front of the first Linear layer.
        let data = try DataParallelTests.fashion.get()
        let models = ["mlp:784-64-64-10,dropout:0.3", "layers:dropout:0.2,linear:64,relu,dropout:0.5,linear:10"]
        for model in models {
            for exchange in [GradientExchange.shared, .allreduce] {
                let c = noisyConfig { $0.model = model; $0.exchange = exchange }
                let (ref, refDone) = try trainParameters(c, workers: 1, data: data)
                for n in [2, 3] {
                    let (p, done) = try trainParameters(c, workers: n, data: data)
                    #expect(relativeDifference(p, ref) <= 1e-5, "\(model) \(exchange) workers \(n): \(relativeDifference(p, ref))")
                    #expect(abs(done.train_loss! - refDone.train_loss!) <= 1e-5 * abs(refDone.train_loss!))
                }
            }
        }
    }

    @Test func factorsAcrossNodesMatchOneProcess() throws {
        // Ranks without shared memory allgather factors; the other ranks' inputs are gathered
        // and augmented by each rank itself, so their crops must be the ones their owner drew.
        let data = try DataParallelTests.fashion.get()
        for model in ["mlp:784-64-64-10,dropout:0.3", "layers:dropout:0.2,linear:64,relu,linear:10"] {
            let c = noisyConfig { $0.model = model }
            let (ref, _) = try trainParameters(c, workers: 1, data: data)
            var f = c
            f.exchange = .factors
            let (p, done) = try runOnRanks(RunPlan(workers: 2, blasThreads: 1, quiet: true)) { comm in
                let t = try Trainer(config: f, data: data, comm: NoSharedMemory(comm))
                let done = try t.run()
                return (t.model.parameters.array, done)
            }
            #expect(done.exchange.hasPrefix("factors 2x1"))
            #expect(relativeDifference(p, ref) <= 1e-5, "\(model): \(relativeDifference(p, ref))")
        }
    }

    @Test func exactModeIsBitIdenticalForAnyWorkerCount() throws {
        let data = try DataParallelTests.fashion.get()
        let c = noisyConfig { $0.reduction = .exact }
        let (ref, refDone) = try trainParameters(c, workers: 1, data: data)
        for n in [2, 3] {
            let (p, done) = try trainParameters(c, workers: n, data: data)
            #expect(p == ref, "workers \(n)")
            #expect(done.train_loss == refDone.train_loss)
        }
    }

    @Test(arguments: [7, 16])
    func stopAndResumeIsBitIdentical(stopAfter: Int) throws {
        // 1000 samples in batches of 64: step 16 is the first of epoch 2, whose masks and crops
        // are new draws; step 7 stops mid-epoch.
        let c = noisyConfig { $0.testSubset = 200 }
        let plan = RunPlan(workers: 2, blasThreads: 1, quiet: true)
        let straight = try train(c, plan: plan)
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try trainStopping(noisyConfig { $0.testSubset = 200; $0.checkpointDir = dir }, workers: 2, stopAfter: stopAfter)
        #expect(first.steps == stopAfter)
        let resumed = try train(noisyConfig { $0.testSubset = 200; $0.checkpointDir = dir; $0.resume = "auto" }, plan: plan)
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
        #expect(resumed.train_loss == straight.train_loss)
    }

    @Test func misuseIsRefusedWithTheSetting() throws {
        // Crops of non-images, crops larger than the image, smoothing without class labels.
        func refusal(_ c: TrainConfig) -> String {
            do { _ = try train(c, plan: RunPlan(workers: 1, blasThreads: 1, quiet: true)); return "" }
            catch let e as UserError { return e.message } catch { return "\(error)" }
        }
        #expect(refusal(smallConfig { $0.augment = "flip" }).contains("needs image data"))
        #expect(refusal(noisyConfig { $0.augment = "crop:28" }).contains("does not fit 28×28"))
        #expect(refusal(smallConfig { $0.dataset = "xor"; $0.labelSmoothing = 0.1; $0.loss = "bce"; $0.model = "mlp:2-16-1" }).contains("--label-smoothing"))
        var c = TrainConfig()
        #expect(throws: UserError.self) { try c.set("augment", "crop:-1", source: "test") }
        #expect(throws: UserError.self) { try c.set("augment", "rotate", source: "test") }
        #expect(throws: UserError.self) { try c.set("label-smoothing", "1", source: "test") }
        #expect(throws: UserError.self) { try c.set("model", "mlp:784-10,dropout:1", source: "test") }
    }
}
