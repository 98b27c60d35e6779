// Configuration keys: one table for YAML and flags, with messages that name key and value.
import Testing
@testable import Training
import NNCore

@Suite struct ConfigTests {
    @Test func setsEveryKind() throws {
        var c = TrainConfig()
        try c.set("batch-size", "full")
        #expect(c.batchSize == nil)
        try c.set("batch-size", "32"); try c.set("lr", "0.1"); try c.set("nesterov", "true")
        try c.set("milestones", "5, 8"); try c.set("reduction", "exact"); try c.set("schedule", "plateau")
        #expect(c.batchSize == 32 && c.lr == 0.1 && c.nesterov && c.milestones == [5, 8] && c.reduction == .exact && c.schedule == .plateau)
        #expect(TrainConfig.keys.count == Set(TrainConfig.keys).count)
    }

    @Test func everyListedKeyIsAccepted() throws {
        let samples = ["dataset": "xor", "data": "/tmp", "model": "linear", "activation": "relu", "loss": "mse",
                       "init": "he", "optimizer": "adam", "nesterov": "false", "batch-size": "8", "seed": "3",
                       "metrics": "/tmp/m.jsonl", "shuffle": "yes", "reduction": "fast", "exchange": "allreduce", "compress": "bf16", "schedule": "cosine",
                       "milestones": "2", "plateau-monitor": "test", "scale-lr": "on", "csv-regression": "no"]
        for key in TrainConfig.keys {
            var c = TrainConfig()
            try c.set(key, samples[key] ?? "1")
        }
    }

    @Test func typoGetsAHint() {
        var c = TrainConfig()
        #expect(throws: UserError("run.yaml: unknown key 'batch_size' (did you mean 'batch-size'?)")) {
            try c.set("batch_size", "3", source: "run.yaml")
        }
        #expect(throws: UserError("--lr: 'lr' expects a number, got 'fast'")) { try c.set("lr", "fast", source: "--lr") }
        #expect(throws: UserError("run.yaml: 'exchange' expects shared, shared-gradients, factors or allreduce, got 'nccl'")) {
            try c.set("exchange", "nccl", source: "run.yaml")
        }
    }

    @Test func validationRejectsOutOfRange() {
        var c = TrainConfig(); c.lr = -0.1
        #expect(throws: UserError("--lr must be a positive number, got -0.1")) { try c.validate() }
        c = TrainConfig(); c.batchSize = 0
        #expect(throws: UserError.self) { try c.validate() }
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
