// TrainOptions: the training flags, shared by `train`, `evaluate` and `experiment`.
// Each flag has the same name as its key in a `--config FILE.yaml`; flags override the file.
import ArgumentParser
import Foundation
import NNCore
import Training
import Yams

private let d = TrainConfig()

/// Training configuration flags (every one also a YAML key).
struct TrainOptions: ParsableArguments {
    @Option(help: ArgumentHelp("YAML file of settings; keys are the flag names without dashes (e.g. 'batch-size: 256'). Flags override it.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("fashion-mnist, idx (MNIST-format dir in --data), csv (--data FILE), \("and, or, xor, spirals, blobs, linear-regression"). (default: \(d.dataset))", valueName: "name"))
    var dataset: String?
    @Option(help: ArgumentHelp("Dataset directory (IDX) or CSV file (TRAIN.csv[,TEST.csv]). (default: \(defaultFashionMNISTDirectory) for fashion-mnist)", valueName: "path"))
    var data: String?
    @Option(help: ArgumentHelp("linear, mlp:IN-H1-...-OUT, lenet5, lenet5-avg, lenet5-lc, or layers:conv:6x5p2,relu,maxpool:2,flatten,linear:N,... (default: \(d.model))", valueName: "spec"))
    var model: String?
    @Option(help: ArgumentHelp("step, sigmoid, tanh, relu, leaky-relu[:A] (default: \(d.activation))", valueName: "name"))
    var activation: String?
    @Option(help: ArgumentHelp("cross-entropy, squared (½‖y−f‖²), mse, bce (default: \(d.loss))", valueName: "name"))
    var loss: String?
    @Option(name: .customLong("init"), help: ArgumentHelp("Weight initialization: pytorch, xavier, he, or FILE.safetensors to start from its weights (default: \(d.initScheme.rawValue))", valueName: "scheme|file"))
    var initScheme: String?
    @Option(help: ArgumentHelp("sgd or adam (default: \(d.optimizer.rawValue))", valueName: "name"))
    var optimizer: String?
    @Option(help: ArgumentHelp("Learning rate η, > 0 (default: \(d.lr))", valueName: "η"))
    var lr: String?
    @Option(help: ArgumentHelp("SGD momentum μ in [0, 1): v = μv + g; w −= ηv (default: \(d.momentum))", valueName: "μ"))
    var momentum: String?
    @Option(help: ArgumentHelp("Nesterov momentum: true or false (default: \(d.nesterov))", valueName: "bool"))
    var nesterov: String?
    @Option(name: .customLong("weight-decay"), help: ArgumentHelp("PyTorch-style weight decay: g += wd·w (default: \(d.weightDecay))", valueName: "wd"))
    var weightDecay: String?
    @Option(help: ArgumentHelp("L2 regularization λ of J(θ) = λ‖θ‖² + loss (default: \(d.l2))", valueName: "λ"))
    var l2: String?
    @Option(name: .customLong("batch-size"), help: ArgumentHelp("Global batch size over all ranks, or 'full' for full-batch gradient descent (default: \(d.batchSize!))", valueName: "n|full"))
    var batchSize: String?
    @Option(name: .customLong("micro-batch"), help: ArgumentHelp("Most samples pushed through the network at once; larger batches accumulate gradients (default: \(d.microBatch))", valueName: "n"))
    var microBatch: String?
    @Option(help: ArgumentHelp("Epochs (default: \(d.epochs))", valueName: "n"))
    var epochs: String?
    @Option(help: ArgumentHelp("Stop after this many optimizer steps (default: none)", valueName: "n"))
    var steps: String?
    @Option(help: ArgumentHelp("Seed of initialization and shuffling (default: \(d.seed))", valueName: "n"))
    var seed: String?
    @Option(help: ArgumentHelp("Write metrics as JSON lines to this file (default: none)", valueName: "file.jsonl"))
    var metrics: String?
    @Option(name: .customLong("train-subset"), help: ArgumentHelp("Use only the first N training samples (default: all)", valueName: "n"))
    var trainSubset: String?
    @Option(name: .customLong("test-subset"), help: ArgumentHelp("Use only the first N test samples (default: all)", valueName: "n"))
    var testSubset: String?
    @Option(help: ArgumentHelp("Shuffle every epoch: true or false (default: \(d.shuffle))", valueName: "bool"))
    var shuffle: String?
    @Option(help: ArgumentHelp("Gradient combination across ranks: fast (one float allreduce) or exact (bit-identical for any number of ranks) (default: \(d.reduction.rawValue))", valueName: "mode"))
    var reduction: String?
    @Option(help: ArgumentHelp("How gradients move between ranks: shared (ranks of one node share memory: an MLP exchanges batch factors, else gradients are summed there; nodes allreduce), shared-gradients (always sum gradients there), factors (allgather every Linear layer's batch factors, no shared memory: what shared does across nodes of one rank each, layer by layer where a measured cost model finds it cheaper) or allreduce (one allreduce of the whole buffer) (default: \(d.exchange.rawValue))", valueName: "mode"))
    var exchange: String?
    @Option(help: ArgumentHelp("Lossy compression on the wire, sums in float32: none, bf16 or fp16 (allreduce and factor exchanges), powersgd:R (rank-R PowerSGD with error feedback, allreduce exchange); not with --reduction exact (default: \(d.compress))", valueName: "codec"))
    var compress: String?
    @Option(help: ArgumentHelp("Logical shards per global batch in exact mode (default: \(d.shards))", valueName: "n"))
    var shards: String?
    @Option(help: ArgumentHelp("Learning-rate schedule: constant, step, exponential, plateau, cosine (default: \(d.schedule.rawValue))", valueName: "name"))
    var schedule: String?
    @Option(help: ArgumentHelp("Epochs at which step decay multiplies lr by gamma, e.g. 5,8 (default: none)", valueName: "list"))
    var milestones: String?
    @Option(help: ArgumentHelp("Decay factor of step and exponential schedules (default: \(d.gamma))", valueName: "γ"))
    var gamma: String?
    @Option(name: .customLong("plateau-patience"), help: ArgumentHelp("Epochs without improvement before reduce-on-plateau acts (default: \(d.plateauPatience))", valueName: "n"))
    var plateauPatience: String?
    @Option(name: .customLong("plateau-factor"), help: ArgumentHelp("Factor reduce-on-plateau multiplies lr by (default: \(d.plateauFactor))", valueName: "f"))
    var plateauFactor: String?
    @Option(name: .customLong("plateau-threshold"), help: ArgumentHelp("Relative improvement that counts as better (default: \(d.plateauThreshold))", valueName: "t"))
    var plateauThreshold: String?
    @Option(name: .customLong("plateau-cooldown"), help: ArgumentHelp("Epochs to wait after a reduction (default: \(d.plateauCooldown))", valueName: "n"))
    var plateauCooldown: String?
    @Option(name: .customLong("plateau-monitor"), help: ArgumentHelp("Loss that reduce-on-plateau watches: train or test (default: \(d.plateauMonitor))", valueName: "which"))
    var plateauMonitor: String?
    @Option(name: .customLong("min-lr"), help: ArgumentHelp("Floor of plateau and cosine schedules (default: \(d.minLR))", valueName: "η"))
    var minLR: String?
    @Option(name: .customLong("warmup-steps"), help: ArgumentHelp("Linear warmup steps, composed with any schedule (default: \(d.warmupSteps))", valueName: "n"))
    var warmupSteps: String?
    @Option(name: .customLong("scale-lr"), help: ArgumentHelp("Linear scaling rule: lr × batch ÷ scale-base-batch (default: \(d.scaleLR))", valueName: "bool"))
    var scaleLR: String?
    @Option(name: .customLong("scale-base-batch"), help: ArgumentHelp("Base batch of the linear scaling rule (default: \(d.scaleBaseBatch))", valueName: "n"))
    var scaleBaseBatch: String?
    @Option(name: .customLong("eval-every"), help: ArgumentHelp("Evaluate on the test set every N epochs; 0 = at the end only (default: \(d.evalEvery))", valueName: "n"))
    var evalEvery: String?
    @Option(name: .customLong("log-every-steps"), help: ArgumentHelp("Write a step metrics line every N optimizer steps; 0 = epoch lines only (default: \(d.logEverySteps))", valueName: "n"))
    var logEverySteps: String?
    @Option(name: .customLong("csv-label-column"), help: ArgumentHelp("CSV column holding the label or target; negative counts from the end (default: \(d.csvLabelColumn))", valueName: "i"))
    var csvLabelColumn: String?
    @Option(name: .customLong("csv-regression"), help: ArgumentHelp("CSV targets are real numbers (default: \(d.csvRegression))", valueName: "bool"))
    var csvRegression: String?
    @Option(name: .customLong("checkpoint-dir"), help: ArgumentHelp("Write checkpoints (safetensors) into this directory (default: none)", valueName: "dir"))
    var checkpointDir: String?
    @Option(name: .customLong("checkpoint-every"), help: ArgumentHelp("Checkpoint every N steps (500) or N epochs (1e); also at the end and on SIGTERM/SIGINT (default: \(d.checkpointEvery))", valueName: "n|Ne"))
    var checkpointEvery: String?
    @Option(help: ArgumentHelp("Checkpoints to keep in --checkpoint-dir; 0 keeps all (default: \(d.keep))", valueName: "k"))
    var keep: String?
    @Option(help: ArgumentHelp("Resume from 'auto' (newest good checkpoint in --checkpoint-dir, else start fresh) or a checkpoint file (default: none)", valueName: "auto|path"))
    var resume: String?
    @Option(name: .customLong("stall-timeout"), help: ArgumentHelp("End the job when a collective makes no progress for this many seconds, naming the ranks that never arrived; 0 = off (default: \(Int(d.stallTimeout)))", valueName: "seconds"))
    var stallTimeout: String?
    @Option(help: ArgumentHelp("Write TensorBoard event files into this directory (default: none)", valueName: "dir"))
    var tensorboard: String?

    /// (key, value) pairs of the flags given, in key order.
    var overrides: [(String, String)] {
        let pairs: [(String, String?)] = [
            ("dataset", dataset), ("data", data), ("model", model), ("activation", activation), ("loss", loss),
            ("init", initScheme), ("optimizer", optimizer), ("lr", lr), ("momentum", momentum), ("nesterov", nesterov),
            ("weight-decay", weightDecay), ("l2", l2), ("batch-size", batchSize), ("micro-batch", microBatch),
            ("epochs", epochs), ("steps", steps), ("seed", seed), ("metrics", metrics), ("train-subset", trainSubset),
            ("test-subset", testSubset), ("shuffle", shuffle), ("reduction", reduction), ("exchange", exchange), ("compress", compress), ("shards", shards),
            ("schedule", schedule), ("milestones", milestones), ("gamma", gamma), ("plateau-patience", plateauPatience),
            ("plateau-factor", plateauFactor), ("plateau-threshold", plateauThreshold), ("plateau-cooldown", plateauCooldown),
            ("plateau-monitor", plateauMonitor), ("min-lr", minLR), ("warmup-steps", warmupSteps), ("scale-lr", scaleLR),
            ("scale-base-batch", scaleBaseBatch), ("eval-every", evalEvery), ("log-every-steps", logEverySteps),
            ("csv-label-column", csvLabelColumn), ("csv-regression", csvRegression), ("checkpoint-dir", checkpointDir),
            ("checkpoint-every", checkpointEvery), ("keep", keep), ("resume", resume),
            ("stall-timeout", stallTimeout), ("tensorboard", tensorboard),
        ]
        return pairs.compactMap { k, v in v.map { (k, $0) } }
    }

    /// Defaults, then the YAML file, then the flags.
    ///
    /// - Throws: UserError naming the file and key, or the flag, at fault.
    func resolve(base: TrainConfig = TrainConfig()) throws -> TrainConfig {
        var c = base
        if let path = config {
            for (k, v) in try loadYAMLSettings(path) { try c.set(k, v, source: path) }
        }
        for (k, v) in overrides { try c.set(k, v, source: "--\(k)") }
        try c.validate()
        return c
    }
}

/// Reads a flat YAML mapping of settings into (key, text value) pairs.
///
/// - Throws: UserError naming the file when it is missing, not YAML, or not a flat mapping.
func loadYAMLSettings(_ path: String) throws -> [(String, String)] {
    guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): file not found") }
    guard let text = String(data: data, encoding: .utf8) else { throw UserError("\(path): not UTF-8 text") }
    let node: Any?
    do { node = try Yams.load(yaml: text) } catch {
        throw UserError("\(path): not valid YAML: \(error)")
    }
    guard let node else { return [] }
    guard let map = node as? [String: Any] else { throw UserError("\(path): expected a mapping of settings (key: value), got \(type(of: node))") }
    return try map.keys.sorted().map { key in
        let v = map[key]!
        switch v {
        case let s as String: return (key, s)
        case let b as Bool: return (key, b ? "true" : "false")
        case let i as Int: return (key, String(i))
        case let x as Double: return (key, String(x))
        case let a as [Any]: return (key, a.map { "\($0)" }.joined(separator: ","))
        default: throw UserError("\(path): '\(key)' must be a plain value, got \(type(of: v))")
        }
    }
}

/// How to distribute a run.
struct DistributionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("In-process workers for a run without mpirun (the single-node fallback); under mpirun use -np instead (default: 1)", valueName: "n"))
    var workers: Int?
    @Option(name: .customLong("blas-threads"), help: ArgumentHelp("OpenBLAS threads per rank (default: OPENBLAS_NUM_THREADS, else cores ÷ ranks on this node)", valueName: "n"))
    var blasThreads: Int?
    @Flag(help: "Print nothing but errors.")
    var quiet = false

    var plan: RunPlan {
        var p = RunPlan(workers: workers, blasThreads: blasThreads, quiet: quiet)
        p.syncBeforeAllreduce = ProcessInfo.processInfo.environment["NNTRAIN_SYNC_BEFORE_ALLREDUCE"] == "1"
        return p
    }

    func validate() throws {
        if let w = workers, w < 1 { throw ValidationError("--workers must be ≥ 1, got \(w)") }
        if let b = blasThreads, b < 1 { throw ValidationError("--blas-threads must be ≥ 1, got \(b)") }
    }
}
