// Resume equivalence: training N steps straight and training with a stop and a resume at
// any step (mid-epoch included) end with bit-identical parameters; with --reduction exact
// also when the number of workers changes in between. In-process, on synthetic blobs.
import Foundation
import NNCore
import NeuralNet
import Testing
@testable import Training

/// A fresh temporary directory.
func temporaryDirectory() -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("nntrain-test-\(UUID().uuidString)").path
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// Blobs, a small MLP, 3 epochs of 19 steps (the last batch of an epoch is partial).
func smallConfig(_ edit: (inout TrainConfig) -> Void = { _ in }) -> TrainConfig {
    var c = TrainConfig()
    c.dataset = "blobs"
    c.model = "mlp:2-16-3"
    c.batchSize = 32
    c.epochs = 3
    c.lr = 0.05
    c.schedule = .plateau
    c.plateauPatience = 0
    c.plateauThreshold = 0.5       // reduces often, so the schedule state matters
    edit(&c)
    return c
}

/// Trains with a stop requested after `stopAfter` steps; returns the metrics.
func trainStopping(_ config: TrainConfig, workers: Int, stopAfter: Int) throws -> DoneMetrics {
    try train(config, plan: RunPlan(workers: workers, blasThreads: 1, quiet: true)) { t in
        t.stopRequested = { [unowned t] in t.globalStep == stopAfter - 1 }
    }
}

@Suite(.serialized) struct ResumeTests {
    let plan1 = RunPlan(workers: 1, blasThreads: 1, quiet: true)

    @Test(arguments: [1, 7, 19, 20, 38, 56])
    func stopAndResumeIsBitIdentical(stopAfter: Int) throws {
        let straight = try train(smallConfig(), plan: plan1)
        let dir = temporaryDirectory()
        let first = try trainStopping(smallConfig { $0.checkpointDir = dir }, workers: 1, stopAfter: stopAfter)
        #expect(first.status == "stopped")
        #expect(first.steps == stopAfter)
        #expect(FileManager.default.fileExists(atPath: dir + "/" + Checkpointer.fileName(step: stopAfter)))
        let resumed = try train(smallConfig { $0.checkpointDir = dir; $0.resume = "auto" }, plan: plan1)
        #expect(resumed.status == "completed")
        #expect(resumed.steps == straight.steps)
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
        #expect(resumed.train_loss == straight.train_loss)   // the epoch's loss accumulators were restored
        #expect(resumed.test_loss == straight.test_loss)
    }

    @Test func adamWithTwoWorkersResumesExactly() throws {
        let cfg = smallConfig { $0.optimizer = .adam; $0.momentum = 0; $0.lr = 0.01; $0.schedule = .cosine; $0.warmupSteps = 5 }
        let straight = try train(cfg, plan: RunPlan(workers: 2, blasThreads: 1, quiet: true))
        let dir = temporaryDirectory()
        var c = cfg; c.checkpointDir = dir
        _ = try trainStopping(c, workers: 2, stopAfter: 25)
        c.resume = dir + "/" + Checkpointer.fileName(step: 25)
        let resumed = try train(c, plan: RunPlan(workers: 2, blasThreads: 1, quiet: true))
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
    }

    @Test func factorExchangeResumesExactly() throws {
        // A net wide enough for the factor exchange (32 × 517 factors < 17,283 weights), with
        // momentum and the plateau schedule: stop after 25 steps, resume, the same bits.
        let cfg = smallConfig { $0.model = "mlp:2-128-128-3"; $0.momentum = 0.9 }
        let plan = RunPlan(workers: 2, blasThreads: 1, quiet: true)
        let straight = try train(cfg, plan: plan)
        #expect(straight.exchange == "factors 1x2")
        let dir = temporaryDirectory()
        var c = cfg; c.checkpointDir = dir
        _ = try trainStopping(c, workers: 2, stopAfter: 25)
        c.resume = dir + "/" + Checkpointer.fileName(step: 25)
        let resumed = try train(c, plan: plan)
        #expect(resumed.exchange == "factors 1x2")
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
    }

    @Test func lenetResumesExactlyOnTwoWorkers() throws {
        // Convolutions, pooling and momentum through the same checkpoint code, with the two
        // workers' shared-memory exchange: stop after 3 of 8 steps, resume, same bits.
        var cfg = TrainConfig()
        cfg.model = "lenet5"; cfg.trainSubset = 256; cfg.testSubset = 100; cfg.batchSize = 64
        cfg.epochs = 2; cfg.schedule = .cosine; cfg.evalEvery = 0
        let plan = RunPlan(workers: 2, blasThreads: 1, quiet: true)
        let straight = try train(cfg, plan: plan)
        #expect(straight.steps == 8 && straight.exchange == "shared 1x2")
        let dir = temporaryDirectory()
        var c = cfg; c.checkpointDir = dir
        let first = try trainStopping(c, workers: 2, stopAfter: 3)
        #expect(first.status == "stopped" && first.steps == 3)
        c.resume = "auto"
        let resumed = try train(c, plan: plan)
        #expect(resumed.steps == 8)
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
    }

    @Test func exactReductionResumesOnAnotherNumberOfWorkers() throws {
        let cfg = smallConfig { $0.reduction = .exact; $0.shards = 4 }
        let straight4 = try train(cfg, plan: RunPlan(workers: 4, blasThreads: 1, quiet: true))
        let straight1 = try train(cfg, plan: plan1)
        #expect(straight1.parameters_sha256 == straight4.parameters_sha256)
        for (before, after, stop) in [(4, 2, 23), (2, 1, 40), (1, 4, 9)] {
            let dir = temporaryDirectory()
            var c = cfg; c.checkpointDir = dir
            _ = try trainStopping(c, workers: before, stopAfter: stop)
            c.resume = "auto"
            let resumed = try train(c, plan: RunPlan(workers: after, blasThreads: 1, quiet: true))
            #expect(resumed.parameters_sha256 == straight4.parameters_sha256, "workers \(before) → \(after), stop after \(stop)")
        }
    }

    @Test func autoSkipsCorruptAndTruncatedCheckpoints() throws {
        let straight = try train(smallConfig(), plan: plan1)
        let dir = temporaryDirectory()
        _ = try trainStopping(smallConfig { $0.checkpointDir = dir; $0.checkpointEvery = .steps(10); $0.keep = 0 }, workers: 1, stopAfter: 33)
        let names = Checkpointer.list(dir).map(\.step)
        #expect(names == [33, 30, 20, 10])
        // Newest: truncated (a crash mid-write without rename would never do this; a full disk might).
        let p33 = dir + "/" + Checkpointer.fileName(step: 33)
        let b33 = try Data(contentsOf: URL(fileURLWithPath: p33))
        try b33.prefix(b33.count - 100).write(to: URL(fileURLWithPath: p33))
        // Next: one flipped bit in the tensor data.
        let p30 = dir + "/" + Checkpointer.fileName(step: 30)
        var b30 = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p30)))
        b30[b30.count - 50] ^= 1
        try Data(b30).write(to: URL(fileURLWithPath: p30))
        let c = smallConfig { $0.checkpointDir = dir; $0.resume = "auto"; $0.keep = 0 }
        var resumedFrom = -1
        let resumed = try train(c, plan: plan1) { t in resumedFrom = t.globalStep }
        #expect(resumedFrom == 20)
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
    }

    @Test func resumePathFailsClearly() throws {
        let dir = temporaryDirectory()
        _ = try trainStopping(smallConfig { $0.checkpointDir = dir }, workers: 1, stopAfter: 5)
        let path = dir + "/" + Checkpointer.fileName(step: 5)
        // Another model shape.
        let e1 = #expect(throws: UserError.self) { try train(smallConfig { $0.model = "mlp:2-8-3"; $0.resume = path }, plan: self.plan1) }
        #expect(e1?.message.contains(path) == true)
        #expect(e1?.message.contains("another model shape") == true)
        // A damaged file, also with several workers (rank 0's message, no hang).
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        b[b.count - 1] ^= 0x80
        try Data(b).write(to: URL(fileURLWithPath: path))
        let e2 = #expect(throws: UserError.self) { try train(smallConfig { $0.resume = path }, plan: RunPlan(workers: 3, blasThreads: 1, quiet: true)) }
        #expect(e2?.message.contains("corrupt") == true)
        // A missing file.
        let e3 = #expect(throws: UserError.self) { try train(smallConfig { $0.resume = dir + "/nope.safetensors" }, plan: self.plan1) }
        #expect(e3?.message.contains("nope.safetensors") == true)
    }

    @Test func autoWithoutCheckpointsStartsFresh() throws {
        let straight = try train(smallConfig(), plan: plan1)
        let dir = temporaryDirectory()
        let r = try train(smallConfig { $0.checkpointDir = dir; $0.resume = "auto" }, plan: plan1)
        #expect(r.parameters_sha256 == straight.parameters_sha256)
        #expect(Checkpointer.list(dir).map(\.step) == [57, 38, 19])   // every epoch (the default)
    }

    @Test func keepPrunesOldCheckpoints() throws {
        let dir = temporaryDirectory()
        _ = try train(smallConfig { $0.checkpointDir = dir; $0.checkpointEvery = .steps(5); $0.keep = 2 }, plan: plan1)
        #expect(Checkpointer.list(dir).map(\.step) == [57, 55])
        let all = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(all.count == 2)   // no temporary files left behind
    }

    @Test func nonFiniteWeightsAreNeverCheckpointed() throws {
        let dir = temporaryDirectory()
        let c = smallConfig { $0.checkpointDir = dir; $0.checkpointEvery = .steps(1); $0.keep = 0; $0.lr = 1e6; $0.schedule = .constant; $0.momentum = 0 }
        let e = #expect(throws: UserError.self) { try train(c, plan: self.plan1) }
        #expect(e?.message.contains("non-finite") == true)
        #expect(e?.message.contains("lower the learning rate") == true)
        let written = Checkpointer.list(dir)
        for ck in written {
            let f = try SafetensorsFile(path: ck.path)
            try Checkpoint.verify(f, source: ck.path)
            let (model, _) = try modelFor(c)
            try Checkpoint.loadModel(f, into: model, source: ck.path)
            #expect(Checkpoint.allFinite(model: model, optimizer: nil), "\(ck.path) holds non-finite weights")
        }
    }

    @Test func initStartsFromGivenWeights() throws {
        let dir = temporaryDirectory()
        _ = try trainStopping(smallConfig { $0.checkpointDir = dir }, workers: 1, stopAfter: 12)
        let path = dir + "/" + Checkpointer.fileName(step: 12)
        let f = try SafetensorsFile(path: path)
        var initial: [String] = []
        let lock = NSLock()
        _ = try train(smallConfig { $0.initFrom = path; $0.epochs = 1 }, plan: RunPlan(workers: 2, blasThreads: 1, quiet: true)) { t in
            lock.lock(); initial.append(t.model.parametersSHA256); lock.unlock()
            #expect(t.globalStep == 0)        // weights only: a new run
        }
        #expect(initial == [f.metadata["parameters_sha256"]!, f.metadata["parameters_sha256"]!])
        let e = #expect(throws: UserError.self) { try train(smallConfig { $0.model = "mlp:2-4-3"; $0.initFrom = path }, plan: self.plan1) }
        #expect(e?.message.contains("another model shape") == true)
    }

    @Test func checkpointIntervalParses() {
        #expect(CheckpointInterval(parsing: "500") == .steps(500))
        #expect(CheckpointInterval(parsing: "500s") == .steps(500))
        #expect(CheckpointInterval(parsing: "1e") == .epochs(1))
        #expect(CheckpointInterval(parsing: "epoch") == .epochs(1))
        #expect(CheckpointInterval(parsing: "2 epochs") == .epochs(2))
        #expect(CheckpointInterval(parsing: "0") == nil)
        #expect(CheckpointInterval(parsing: "3x") == nil)
    }

    @Test func configKeysSetCheckpointSettings() throws {
        var c = TrainConfig()
        try c.set("checkpoint-dir", "/tmp/x")
        try c.set("checkpoint-every", "2e")
        try c.set("keep", "5")
        try c.set("resume", "auto")
        try c.set("init", "he")
        #expect(c.checkpointDir == "/tmp/x" && c.checkpointEvery == .epochs(2) && c.keep == 5 && c.resume == "auto")
        #expect(c.initScheme == .he && c.initFrom == nil)
        try c.set("init", "weights.safetensors")
        #expect(c.initFrom == "weights.safetensors")
        #expect(throws: UserError.self) { try c.validate() }   // --resume and --init exclude each other
        let e = #expect(throws: UserError.self) { try c.set("checkpoint-every", "often") }
        #expect(e?.message.contains("1e") == true)
    }
}

/// A model built as the trainer builds it for `c` (blobs: 2 inputs, 3 classes).
func modelFor(_ c: TrainConfig) throws -> (Sequential<Float>, Int) {
    let m = try ModelSpec(parsing: c.model).build(Float.self, inputShape: [2], outputs: 3, activation: .relu, gradientTail: 0)
    return (m, m.parameterCount)
}
