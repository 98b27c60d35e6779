// Configuration keys: one table for flags, YAML, the fingerprint and the checkpoint's config,
// with messages that name source, key and value.
import Foundation
import Testing
@testable import Training
import NNCore
import NeuralNet

/// A value other than the default for `s`, derived from its codec where it can be: a
/// different choice, the other truth value, default + 1; by name for free-form text.
func nonDefaultText(_ s: Setting) -> String? {
    let d = s.text(TrainConfig())
    let byName = ["data": "/tmp/data", "model": "mlp:784-64-10", "activation": "tanh", "loss": "mse", "init": "he",
                  "metrics": "/tmp/m.jsonl", "milestones": "3,5", "checkpoint-dir": "/tmp/ck", "checkpoint-every": "250",
                  "resume": "auto", "tensorboard": "/tmp/tb", "seed": "7", "compress": "powersgd:2",
                  "augment": "crop:2,flip", "batch-size": "32", "label-smoothing": "0.2"]
    if let v = byName[s.name] { return v }
    if let choices = s.expects.hasPrefix("one of") || s.expects.hasPrefix("true") ? choicesOf(s) : nil {
        return choices.first { $0 != d && $0 != "none" }
    }
    if s.expects.hasPrefix("an integer") { return String((Int(d) ?? 2) + 1) }
    if s.expects.hasPrefix("a number") { return "\((Double(d) ?? 1) * 2 + 0.25)" }
    return nil
}

func choicesOf(_ s: Setting) -> [String]? {
    if case .list(let l) = s.completion { return l }
    return nil
}

@Suite struct ConfigTests {
    @Test func setsEveryKind() throws {
        var c = TrainConfig()
        try c.set("batch-size", "full")
        #expect(c.batchSize == nil)
        try c.set("batch-size", "32"); try c.set("lr", "0.1"); try c.set("nesterov", "true")
        try c.set("milestones", "5, 8"); try c.set("reduction", "exact"); try c.set("schedule", "plateau")
        try c.set("workers", "3"); try c.set("blas-threads", "2"); try c.set("quiet", "yes"); try c.set("steps", "none")
        #expect(c.batchSize == 32 && c.lr == 0.1 && c.nesterov && c.milestones == [5, 8] && c.reduction == .exact && c.schedule == .plateau)
        #expect(c.workers == 3 && c.blasThreads == 2 && c.quiet && c.steps == nil)
        #expect(c.plan.workers == 3 && c.plan.blasThreads == 2 && c.plan.quiet)
        #expect(TrainConfig.keys.count == Set(TrainConfig.keys).count)
    }

    @Test func batchSizeAutoGivesAHundredStepsPerEpochWithin16To128() throws {
        // ⌊n/100⌋ clamped to [16, 128], never more than the set.
        let cases = [(60000, 128), (12800, 128), (12799, 127), (6400, 64), (1347, 16), (1600, 16), (1700, 17), (112, 16), (10, 10), (1, 1)]
        for (n, want) in cases { #expect(BatchSize.auto.resolve(trainingSamples: n) == want, "n \(n)") }
        #expect(BatchSize.samples(256).resolve(trainingSamples: 100) == 100)
        #expect(BatchSize.full.resolve(trainingSamples: 321) == 321)
        var c = TrainConfig()
        #expect(c.batchSize == .auto)
        try c.set("batch-size", "AUTO"); #expect(c.batchSize == .auto)
        try c.set("batch-size", "64"); #expect(c.batchSize == .samples(64))
        #expect(throws: UserError.self) { try c.set("batch-size", "some") }
        // Checkpoints of the Codable era: a number, null (full), and "auto" round-trip.
        for v: BatchSize in [.auto, .full, .samples(7)] {
            let data = try JSONEncoder().encode([v])
            #expect(try JSONDecoder().decode([BatchSize].self, from: data) == [v])
        }
        let legacy = try TrainConfig(legacyCheckpointConfig: ["batchSize": NSNull(), "model": "linear"], source: "test")
        #expect(legacy.batchSize == .full)
    }

    @Test func everyKeyTakesAValueOtherThanItsDefault() throws {
        for s in TrainConfig.settings {
            let v = try #require(nonDefaultText(s), "no sample value for '\(s.name)'")
            var c = TrainConfig()
            try c.set(s.name, v, source: "test")
            #expect(s.text(c) != s.text(TrainConfig()), "'\(s.name)' = \(v) left the default")
        }
    }

    /// Every property of TrainConfig is reached by a setting (`init` holds two: scheme and file).
    @Test func everyPropertyHasASetting() {
        #expect(Mirror(reflecting: TrainConfig()).children.count == TrainConfig.settings.count + 1)
    }

    @Test func everySavedKeyRoundTripsThroughTheCheckpointConfig() throws {
        var c = TrainConfig()
        for s in TrainConfig.settings { try c.set(s.name, try #require(nonDefaultText(s)), source: "test") }
        // As Checkpointer writes it, and as `evaluate --checkpoint` reads it back.
        let loaded = try TrainConfig(checkpointConfig: c.checkpointConfigText, source: "ck.safetensors")
        var expected = c
        let d = TrainConfig()
        expected.workers = d.workers; expected.blasThreads = d.blasThreads; expected.quiet = d.quiet
        #expect(loaded == expected)
        for s in TrainConfig.settings {
            #expect(s.text(loaded) == (s.saved ? s.text(c) : s.text(d)), "'\(s.name)'")
        }
        // The full-batch spelling and the init file survive too.
        var f = TrainConfig(); f.batchSize = nil; f.initFrom = "w.safetensors"
        #expect(try TrainConfig(checkpointConfig: f.checkpointConfigText, source: "x") == f)
    }

    @Test func checkpointsOfOlderVersionsLoadWithDefaults() throws {
        // The form before the key table: the Codable JSON of TrainConfig, without later keys.
        let old = #"{"microBatch":512,"initScheme":"he","lr":0.2,"batchSize":64,"checkpointEvery":"2e","milestones":[3],"model":"linear","keep":3}"#
        let c = try TrainConfig(checkpointConfig: old, source: "old.safetensors")
        #expect(c.microBatch == 512 && c.initScheme == .he && c.lr == 0.2 && c.batchSize == 64 && c.model == "linear")
        #expect(c.checkpointEvery == .epochs(2))
        #expect(c.stallTimeout == 300 && c.tensorboard == nil && c.exchange == .shared)
        // This form without a key a later nntrain added: the default.
        let new = #"{"lr":"0.2","model":"linear"}"#
        let n = try TrainConfig(checkpointConfig: new, source: "new.safetensors")
        #expect(n.lr == 0.2 && n.model == "linear" && n.stallTimeout == 300 && n.epochs == 10)
        #expect(throws: UserError("bad.safetensors (metadata 'config'): 'lr' expects a number, got 'x'")) {
            try TrainConfig(checkpointConfig: #"{"lr":"x"}"#, source: "bad.safetensors")
        }
    }

    @Test func fingerprintCoversWhatRanksMustShareOnly() throws {
        var a = TrainConfig(), b = TrainConfig()
        b.metrics = "/tmp/other.jsonl"; b.tensorboard = "/tmp/tb"; b.resume = "auto"; b.workers = 4; b.blasThreads = 2; b.quiet = true
        #expect(a.fingerprintText == b.fingerprintText)
        for s in TrainConfig.settings where s.fingerprinted {
            var c = TrainConfig()
            try c.set(s.name, try #require(nonDefaultText(s)))
            #expect(c.fingerprintText != a.fingerprintText, "'\(s.name)' does not enter the fingerprint")
        }
        a.lr = 0.1
        #expect(a.fingerprintText.contains("lr=0.1\n"))
    }

    @Test func resumeNotesOnlyWhatChangesTheTraining() throws {
        var c = TrainConfig()
        let saved = c.checkpointConfigText
        c.epochs = 20; c.metrics = "/tmp/m.jsonl"; c.stallTimeout = 10; c.workers = 3
        #expect(c.settingsChanged(fromCheckpointConfig: saved).isEmpty)
        c.lr = 0.01; c.momentum = 0.5
        #expect(c.settingsChanged(fromCheckpointConfig: saved) == ["lr", "momentum"])
    }

    @Test func messagesNameSourceKeyAndValue() throws {
        var c = TrainConfig()
        #expect(throws: UserError("run.yaml: unknown key 'batch_size' (did you mean 'batch-size'?)")) {
            try c.set("batch_size", "3", source: "run.yaml")
        }
        #expect(throws: UserError("run.yaml: unknown key 'zzzzzzzz'")) { try c.set("zzzzzzzz", "3", source: "run.yaml") }
        #expect(throws: UserError("--lr expects a number, got 'fast'")) { try c.set("lr", "fast", source: "--lr") }
        #expect(throws: UserError("run.yaml: 'lr' expects a number, got 'fast'")) { try c.set("lr", "fast", source: "run.yaml") }
        #expect(throws: UserError("run.yaml: 'exchange' expects one of shared, shared-gradients, factors, allreduce, got 'nccl'")) {
            try c.set("exchange", "nccl", source: "run.yaml")
        }
        #expect(throws: UserError("--blas-threads must be ≥ 1, got -1")) { try c.set("blas-threads", "-1", source: "--blas-threads") }
        #expect(throws: UserError("run.yaml: 'workers' must be ≥ 1, got 0")) { try c.set("workers", "0", source: "run.yaml") }
        #expect(throws: UserError("--bucket-mb must be ≥ 0 MiB (0: one allreduce after backward), got -1")) { try c.set("bucket-mb", "-1", source: "--bucket-mb") }
        #expect(throws: UserError("run.yaml: 'bucket-mb' expects a number, got 'inf'")) { try c.set("bucket-mb", "inf", source: "run.yaml") }
        try c.set("bucket-mb", "0", source: "--bucket-mb")
        #expect(c.bucketMiB == 0)
        #expect(throws: UserError("--csv-label-column expects an integer, got 'x'")) { try c.set("csv-label-column", "x", source: "--csv-label-column") }
        #expect { try c.set("model", "mlp:784-abc-10", source: "run.yaml") } throws: {
            ($0 as? UserError)?.message.hasPrefix("run.yaml: 'model': ") == true
        }
    }

    @Test func choiceListsComeFromTheEnums() throws {
        let s = try #require(TrainConfig.setting("schedule"))
        #expect(s.expects == "one of " + ScheduleKind.allCases.map(\.rawValue).joined(separator: ", "))
        #expect(try #require(TrainConfig.setting("reduction")).completion == .list(Reduction.allCases.map(\.rawValue)))
    }

    @Test func negativeValuesParse() throws {
        var c = TrainConfig()
        try c.set("csv-label-column", "-1")
        #expect(c.csvLabelColumn == -1)
    }

    @Test func validationRejectsOutOfRange() {
        var c = TrainConfig(); c.lr = -0.1
        #expect(throws: UserError("--lr must be a positive number, got -0.1")) { try c.validate() }
        c = TrainConfig(); c.batchSize = 0
        #expect(throws: UserError("--batch-size must be a positive integer, 'full' or 'auto', got 0")) { try c.validate() }
        c = TrainConfig(); c.keep = -1
        #expect(throws: UserError("--keep must be ≥ 0 (0 keeps every checkpoint), got -1")) { try c.validate() }
        c = TrainConfig(); c.activation = "swish"
        #expect(throws: UserError.self) { try c.validate() }
        c = TrainConfig(); c.momentum = 1
        #expect(throws: UserError.self) { try c.validate() }
    }

    @Test func lossMustFitTheTask() throws {
        var c = TrainConfig(); c.dataset = "xor"; c.model = "linear"; c.loss = "mse"
        #expect { try trainParameters(c, workers: 1) } throws: { ($0 as? UserError)?.message.contains("needs real-valued targets") == true }
    }
}
