// Experiments: the lecture's experiments as one command. An experiment is a list of arms
// (configurations); the coordinator runs every arm inside one job (under mpirun, or on
// in-process workers), on data loaded once, from the same seed (so the same initial
// weights wherever the model is the same), and rank 0 writes per-arm metrics JSONL, one
// tidy CSV, a Markdown summary and the inputs of launch/plot_experiment.py.
//
// The arms of each experiment are defined in Experiments+Catalog.swift; output writing in
// Experiments+Output.swift.
import Collectives
import Foundation
import NNCore
import NNData
import NeuralNet
import Training

/// One configuration of an experiment.
public struct ExperimentArm: @unchecked Sendable {
    /// How the arm learns.
    public enum Kind: String, Sendable {
        /// Gradient descent through `Trainer`.
        case train
        /// Rosenblatt's perceptron rule on a two-class data set (rank-local, no collectives).
        case perceptron
    }
    /// Unique, file-safe name (also the JSONL file's name).
    public var name: String
    /// The arms that belong together in one plot or table (e.g. "linear", "mlp", "xor").
    public var group: String
    /// A short label for legends.
    public var label: String
    public var kind: Kind = .train
    public var config: TrainConfig
    /// In-process workers for this arm (the scaling experiment without mpirun); nil: the job's.
    public var workers: Int? = nil
    /// Key of a custom data set in `ExperimentSpec.customData`; nil: `loadData(config)`.
    public var dataKey: String? = nil
    public var log: StepLogPolicy
    /// Evaluate the trained model on a grid of 2-D inputs (decision boundaries).
    public var decisionGrid = false
}

/// A runnable experiment: its arms and what its summary reports.
public struct ExperimentSpec: @unchecked Sendable {
    public var name: String
    public var title: String
    public var arms: [ExperimentArm]
    /// Data sets not named by a configuration (e.g. the regression set without its constant feature).
    public var customData: [String: (TrainConfig) throws -> DataSplit] = [:]
    /// Per group, the optimal objective J(θ*) (batch-vs-stochastic's closed form).
    public var optimum: [String: Double] = [:]
    /// Summary columns: epochs/time until train loss ≤ this.
    public var targetLoss: Double? = nil
    /// Summary columns: time until test accuracy ≥ this.
    public var targetAccuracy: Double? = nil
    /// Notes for the summary (e.g. how an experiment adapted to the launch mode).
    public var notes: [String] = []
}

/// Everything rank 0 learned from one arm.
public struct ArmResult: Sendable {
    public var arm: String
    public var group: String
    public var label: String
    /// "completed", "diverged", "steps" or "stopped".
    public var status: String
    public var message: String? = nil
    public var parameters: Int = 0
    public var rows: [StepMetrics] = []
    public var epochs: [EpochMetrics] = []
    public var done: DoneMetrics? = nil
    /// Decision-grid rows: x1, x2, P(class 1).
    public var grid: [(Double, Double, Double)] = []
    public var settings: [String: String] = [:]
    public var diverged: Bool { status == "diverged" }
}

/// Extra settings of the `experiment` command.
public struct ExperimentSettings: Sendable {
    /// Settings applied to every arm before the arm's own (key, value) as in `--config`/flags.
    public var overrides: [(String, String)] = []
    /// Arm-name prefixes to run (empty: all).
    public var armFilter: [String] = []
    public var targetLoss: Double? = nil
    public var targetAccuracy: Double? = nil
    /// Worker counts of the scaling experiment (without mpirun).
    public var scalingWorkers: [Int] = [1, 2, 4]
    /// Step lines per arm, about.
    public var points = 25
    /// The train loss of the MLP arms' step lines is measured on the first this many training samples (nil: all).
    public var trainEvalSubset: Int? = 2000
    public init() {}
}

extension ExperimentSpec {
    /// Names of the built-in experiments.
    public static let names = ["batch-vs-stochastic", "learning-rate", "linear-limits", "nonlinearities", "depth-vs-width", "scaling"]

    /// Keeps only the arms whose name starts with one of `prefixes` (all when empty).
    ///
    /// - Throws: UserError when no arm is left.
    mutating func filterArms(_ prefixes: [String]) throws {
        guard !prefixes.isEmpty else { return }
        let all = arms.map(\.name)
        arms = arms.filter { a in prefixes.contains { a.name.hasPrefix($0) } }
        if arms.isEmpty {
            throw UserError("--arms \(prefixes.joined(separator: ",")) matches no arm of '\(name)'; its arms are \(all.joined(separator: ", "))")
        }
    }
}

/// Whether an error is the trainer's "non-finite loss" (a diverged run, not a failure).
func isDivergence(_ error: Error) -> Bool {
    (error as? UserError)?.kind == .diverged
}

/// Runs every arm of `spec` and writes the results to `out` (rank 0).
///
/// Arms without their own worker count run inside one `runOnRanks(plan)`; arms with one
/// (scaling, without mpirun) each run in their own group of in-process workers. Data sets
/// are loaded once per process.
/// - Returns: rank 0's results (empty on other ranks) and whether this process is rank 0.
/// - Throws: UserError for a bad configuration or unwritable output; a diverged arm is not an error.
public func runExperiment(_ spec: ExperimentSpec, out: String, plan: RunPlan) throws -> (results: [ArmResult], isRoot: Bool) {
    let cache = DataCache()
    func data(_ arm: ExperimentArm) throws -> DataSplit {
        if let key = arm.dataKey, let make = spec.customData[key] {
            return try cache.load(key: key + "|\(arm.config.trainSubset ?? -1)|\(arm.config.testSubset ?? -1)|\(arm.config.seed)") { try make(arm.config) }
        }
        return try cache.load(arm.config)
    }
    var quietPlan = plan
    quietPlan.quiet = true
    let say: (String) -> Void = { text in if !plan.quiet { print(text); fflush(stdout) } }

    // Arms sharing the job's ranks run in one runOnRanks; the others one group each.
    var batches: [(RunPlan, [ExperimentArm])] = []
    let shared = spec.arms.filter { $0.workers == nil }
    if !shared.isEmpty { batches.append((quietPlan, shared)) }
    for arm in spec.arms where arm.workers != nil {
        var own = RunPlan(workers: arm.workers, blasThreads: plan.blasThreads, quiet: true)
        own.stallTimeout = plan.stallTimeout
        batches.append((own, [arm]))
    }
    var results: [String: ArmResult] = [:]
    var isRoot = true
    for (p, arms) in batches {
        let (rank, got) = try runOnRanks(p) { comm -> (Int, [ArmResult]) in
            if comm.rank == 0 {
                try prepareWritableDirectory(out, what: "experiment output directory \(out)")
            }
            var mine: [ArmResult] = []
            for arm in arms {
                if comm.rank == 0 { say("[\(spec.name)] \(arm.name) …") }
                let r = try runArm(arm, data: data(arm), comm: comm, out: out)
                if comm.rank == 0 {
                    mine.append(r)
                    say("[\(spec.name)] \(arm.name): \(armLine(r))")
                }
            }
            return (comm.rank, mine)
        }
        isRoot = rank == 0
        for r in got { results[r.arm] = r }
    }
    guard isRoot else { return ([], false) }
    let ordered = spec.arms.compactMap { results[$0.name] }
    try writeExperimentOutputs(spec, results: ordered, out: out)
    return (ordered, true)
}

/// One line about a finished arm, for the console.
func armLine(_ r: ArmResult) -> String {
    var s = r.status
    if let last = r.rows.last(where: { $0.train_loss?.isFinite ?? false }) {
        s += String(format: ", train_loss %.4g", last.train_loss!)
    }
    if let a = r.rows.last?.test_accuracy { s += String(format: ", test_acc %.4f", a) }
    if let d = r.done { s += String(format: ", %.1fs", d.seconds) }
    return s
}

/// Runs one arm on this rank (all ranks call it); rank 0's result is the real one.
func runArm(_ arm: ExperimentArm, data: DataSplit, comm: Communicator, out: String) throws -> ArmResult {
    var result = ArmResult(arm: arm.name, group: arm.group, label: arm.label, status: "completed")
    let metricsPath = (out as NSString).appendingPathComponent(arm.name + ".jsonl")
    if arm.kind == .perceptron {
        if comm.rank == 0 { result = try runPerceptronArm(arm, data: data, metricsPath: metricsPath) }
        return result
    }
    var config = arm.config
    config.metrics = comm.rank == 0 ? metricsPath : nil
    // --tensorboard DIR: one run per arm, DIR/ARM, side by side in TensorBoard.
    if let dir = config.tensorboard { config.tensorboard = (dir as NSString).appendingPathComponent(arm.name) }
    var rows: [StepMetrics] = []
    var logger: StepLogger?
    var trained: Trainer?
    do {
        let done = try train(config: config, data: data, comm: comm, quiet: true) { trainer in
            trained = trainer
            let l = StepLogger(trainer: trainer, policy: arm.log)
            l.sink = { rows.append($0) }
            logger = l
            try l.begin()
        }
        result.done = done
        result.status = done.status
    } catch where isDivergence(error) {
        result.status = "diverged"
        result.message = (error as? UserError)?.message
        if comm.rank == 0, let h = FileHandle(forWritingAtPath: metricsPath) {
            h.seekToEndOfFile()
            let line = "{\"event\":\"diverged\",\"message\":" + jsonString(result.message ?? "") + ",\"step\":\(trained?.globalStep ?? 0)}\n"
            h.write(Data(line.utf8))
            try? h.close()
        }
    }
    _ = logger
    guard comm.rank == 0 else { return result }
    // A loss that went non-finite in the metrics (not caught by the trainer) also means divergence.
    if result.status != "diverged", rows.contains(where: { !($0.train_loss ?? 0).isFinite || !($0.test_loss ?? 0).isFinite }) {
        result.status = "diverged"
        result.message = "non-finite loss in the metrics"
    }
    result.rows = rows
    result.epochs = readEpochMetrics(metricsPath)
    if let t = trained {
        result.parameters = t.model.parameterCount
        if arm.decisionGrid && !result.diverged { result.grid = decisionGrid(t) }
    }
    result.settings = armSettings(arm.config)
    return result
}

/// The settings that describe an arm in the summary.
func armSettings(_ c: TrainConfig) -> [String: String] {
    [
        "model": c.model, "activation": c.model == "linear" ? "none" : c.activation, "loss": c.loss, "lr": String(c.lr),
        "batch-size": c.batchSize.description, "epochs": String(c.epochs),
        "momentum": String(c.momentum), "schedule": c.schedule.rawValue, "l2": String(c.l2),
        "scale-lr": String(c.scaleLR),
    ]
}

/// Reads the epoch lines back from a metrics file.
func readEpochMetrics(_ path: String) -> [EpochMetrics] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    let dec = JSONDecoder()
    dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
        guard line.contains("\"event\":\"epoch\"") else { return nil }
        return try? dec.decode(EpochMetrics.self, from: Data(line.utf8))
    }
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    (try? String(decoding: JSONEncoder().encode(s), as: UTF8.self)) ?? "\"\""
}

/// P(class 1) of the trained model on a 61 × 61 grid over [−0.5, 1.5]².
func decisionGrid(_ t: Trainer) -> [(Double, Double, Double)] {
    let n = 61
    var pts: [Float] = []
    for i in 0..<n { for j in 0..<n { pts += [Float(-0.5 + 2 * Double(j) / Double(n - 1)), Float(-0.5 + 2 * Double(i) / Double(n - 1))] } }
    guard t.model.inputSize == 2 else { return [] }
    var out: [(Double, Double, Double)] = []
    let chunk = 61
    pts.withUnsafeBufferPointer { p in
        for c in stride(from: 0, to: n * n, by: chunk) {
            let m = min(chunk, n * n - c)
            t.model.reserve(batch: max(m, 1))
            let z = t.model.forward(p.baseAddress! + 2 * c, batch: m)
            for r in 0..<m {
                let prob: Double
                if t.outputs == 1 {
                    prob = 1 / (1 + exp(-Double(z[r])))
                } else {
                    let a = Double(z[r * t.outputs]), b = Double(z[r * t.outputs + 1])
                    prob = 1 / (1 + exp(a - b))
                }
                out.append((Double(p[2 * (c + r)]), Double(p[2 * (c + r) + 1]), prob))
            }
        }
    }
    return out
}

/// The perceptron rule on a two-class set: one step line per pass (examples visited,
/// weight updates = mistakes, error rate as the "loss"), and its decision grid.
func runPerceptronArm(_ arm: ExperimentArm, data: DataSplit, metricsPath: String) throws -> ArmResult {
    var result = ArmResult(arm: arm.name, group: arm.group, label: arm.label, status: "completed")
    let d = data.train
    guard case .classification(let c) = d.task, c <= 2 else { throw UserError("the perceptron needs a two-class data set; '\(d.name)' is not") }
    guard case .floats(let f) = d.features else { throw UserError("the perceptron needs real features") }
    let feats = f.map(Double.init), labels = d.labels.map(Int.init), inputs = d.sampleSize
    let lr = arm.config.lr
    var p = Perceptron(inputs: inputs, learningRate: lr)
    var rng = RNG(seed: arm.config.seed)
    var order = Array(0..<d.count)
    let reporter = try ConsoleReporter(metricsPath: metricsPath, epochs: arm.config.epochs, quiet: true)
    let start = monotonicSeconds()
    var updates = 0
    func line(_ epoch: Int, mistakes: Int?) {
        let acc = p.accuracy(features: feats, labels: labels, inputs: inputs)
        let m = StepMetrics(step: epoch * d.count, epoch: Double(epoch), examples_processed: epoch * d.count, updates: updates,
                            wall_seconds: monotonicSeconds() - start, train_loss: 1 - acc,
                            batch_loss: mistakes.map { Double($0) / Double(d.count) }, test_loss: 1 - acc,
                            test_accuracy: acc, lr: lr, world_size: 1)
        reporter.stepMetrics(m)
        result.rows.append(m)
    }
    line(0, mistakes: nil)
    var converged = false
    for e in 0..<arm.config.epochs {
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        let mistakes = p.epoch(features: feats, labels: labels, inputs: inputs, order: order)
        updates += mistakes
        line(e + 1, mistakes: mistakes)
        if mistakes == 0 { converged = true; break }
    }
    result.status = converged ? "completed" : "not converged"
    result.message = converged ? "no mistakes in a pass" : "still making mistakes after \(arm.config.epochs) passes"
    result.parameters = inputs + 1
    if arm.decisionGrid && inputs == 2 {
        let n = 61
        for i in 0..<n {
            for j in 0..<n {
                let x = -0.5 + 2 * Double(j) / Double(n - 1), y = -0.5 + 2 * Double(i) / Double(n - 1)
                result.grid.append((x, y, Double(p.predict([x, y][...]))))
            }
        }
    }
    result.settings = ["model": "perceptron", "lr": String(lr), "epochs": String(arm.config.epochs)]
    return result
}

/// Seconds on the monotonic clock (the trainer's wall_seconds use the same clock).
func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
