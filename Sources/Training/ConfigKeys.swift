// ConfigKeys: the one table of configuration keys. A YAML file (`--config`) and the
// command-line flags use the same names (`batch-size: 128` ⇔ `--batch-size 128`); both go
// through `TrainConfig.set`, so a value is parsed and checked the same way wherever it comes from.
import Foundation
import NNCore
import NeuralNet

extension TrainConfig {
    /// Every key `set` accepts, in the order `--help` lists them.
    public static let keys: [String] = [
        "dataset", "data", "model", "activation", "loss", "init", "optimizer", "lr", "momentum", "nesterov",
        "weight-decay", "l2", "batch-size", "micro-batch", "epochs", "steps", "seed", "metrics",
        "train-subset", "test-subset", "shuffle", "reduction", "exchange", "compress", "shards", "schedule", "milestones", "gamma",
        "plateau-patience", "plateau-factor", "plateau-threshold", "plateau-cooldown", "plateau-monitor",
        "min-lr", "warmup-steps", "scale-lr", "scale-base-batch", "eval-every", "log-every-steps", "csv-label-column", "csv-regression",
        "checkpoint-dir", "checkpoint-every", "keep", "resume", "stall-timeout", "tensorboard",
    ]

    /// Sets `key` from its text form.
    ///
    /// - Parameter source: where the value came from, for messages (e.g. "run.yaml" or "command line").
    /// - Throws: UserError naming the source, key and value when the key is unknown or the value does not parse.
    public mutating func set(_ key: String, _ value: String, source: String = "command line") throws {
        func bad(_ expected: String) -> UserError {
            UserError("\(source): '\(key)' expects \(expected), got '\(value)'")
        }
        func int() throws -> Int { guard let v = Int(value) else { throw bad("an integer") }; return v }
        func double() throws -> Double { guard let v = Double(value), v.isFinite else { throw bad("a number") }; return v }
        func bool() throws -> Bool {
            switch value.lowercased() { case "true", "yes", "1", "on": return true
            case "false", "no", "0", "off": return false
            default: throw bad("true or false") }
        }
        switch key {
        case "dataset": dataset = value.lowercased()
        case "data": data = value
        case "model": _ = try ModelSpec(parsing: value); model = value
        case "activation":
            guard Activation(parsing: value) != nil else { throw bad("one of \(Activation.allNames)") }
            activation = value
        case "loss":
            guard LossFunction(parsing: value) != nil else { throw bad("one of \(LossFunction.allNames)") }
            loss = value
        case "init":
            // A scheme name, or a safetensors file of weights to start from.
            if let v = InitScheme(rawValue: value.lowercased()) { initScheme = v; initFrom = nil }
            else if value.hasSuffix(".safetensors") || FileManager.default.fileExists(atPath: value) { initFrom = value }
            else { throw bad("one of pytorch, xavier, he, or a FILE.safetensors of weights") }
        case "optimizer":
            guard let v = OptimizerKind(rawValue: value.lowercased()) else { throw bad("sgd or adam") }
            optimizer = v
        case "lr": lr = try double()
        case "momentum": momentum = try double()
        case "nesterov": nesterov = try bool()
        case "weight-decay": weightDecay = try double()
        case "l2": l2 = try double()
        case "batch-size":
            if value.lowercased() == "full" { batchSize = nil } else { batchSize = try int() }
        case "micro-batch": microBatch = try int()
        case "epochs": epochs = try int()
        case "steps": steps = try int()
        case "seed":
            guard let v = UInt64(value) else { throw bad("a non-negative integer") }
            seed = v
        case "metrics": metrics = value
        case "train-subset": trainSubset = try int()
        case "test-subset": testSubset = try int()
        case "shuffle": shuffle = try bool()
        case "reduction":
            guard let v = Reduction(rawValue: value.lowercased()) else { throw bad("fast or exact") }
            reduction = v
        case "exchange":
            guard let v = GradientExchange(rawValue: value.lowercased()) else { throw bad("shared, shared-gradients, factors or allreduce") }
            exchange = v
        case "compress":
            guard let v = Compression(parsing: value) else { throw bad(Compression.choices) }
            compress = v
        case "shards": shards = try int()
        case "schedule":
            guard let v = ScheduleKind(rawValue: value.lowercased()) else {
                throw bad("one of \(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            schedule = v
        case "milestones":
            let parts = value.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.allSatisfy({ $0 != nil }) else { throw bad("comma-separated epochs, e.g. 5,8") }
            milestones = parts.map { $0! }
        case "gamma": gamma = try double()
        case "plateau-patience": plateauPatience = try int()
        case "plateau-factor": plateauFactor = try double()
        case "plateau-threshold": plateauThreshold = try double()
        case "plateau-cooldown": plateauCooldown = try int()
        case "plateau-monitor": plateauMonitor = value.lowercased()
        case "min-lr": minLR = try double()
        case "warmup-steps": warmupSteps = try int()
        case "scale-lr": scaleLR = try bool()
        case "scale-base-batch": scaleBaseBatch = try int()
        case "eval-every": evalEvery = try int()
        case "log-every-steps": logEverySteps = try int()
        case "csv-label-column": csvLabelColumn = try int()
        case "csv-regression": csvRegression = try bool()
        case "checkpoint-dir": checkpointDir = value
        case "checkpoint-every":
            guard let v = CheckpointInterval(parsing: value) else { throw bad("N steps (e.g. 500) or N epochs (e.g. 1e)") }
            checkpointEvery = v
        case "keep": keep = try int()
        case "resume":
            guard !value.isEmpty else { throw bad("auto or a checkpoint path") }
            resume = value
        case "stall-timeout": stallTimeout = try double()
        case "tensorboard":
            guard !value.isEmpty else { throw bad("a directory") }
            tensorboard = value
        default:
            let near = TrainConfig.keys.min { editDistance($0, key) < editDistance($1, key) }
            let hint = near.map { editDistance($0, key) <= 3 ? " (did you mean '\($0)'?)" : "" } ?? ""
            throw UserError("\(source): unknown key '\(key)'\(hint)")
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}
