// ConfigKeys: the one table of settings. Each setting is declared once, here (plus its
// TrainConfig property, whose initial value is the default); the flags and their --help,
// the YAML keys of `--config`, `set`, `validate`'s range checks, `fingerprintText` and a
// checkpoint's `config` all come from this table. A YAML file and the command line use the
// same names (`batch-size: 128` ⇔ `--batch-size 128`) and the same parser, so a value is
// read and checked the same way wherever it comes from.
import Foundation
import NNCore
import NeuralNet
import NNData

extension TrainConfig {
    /// Every setting, in the order `--help` lists them.
    public static let settings: [Setting] = [
        .value(\.dataset, "dataset", .oneOf(datasetNames), valueName: "name",
               help: "fashion-mnist, idx (MNIST-format dir in --data), csv (--data FILE), or a synthetic set"),
        .optional(\.data, "data", .text, valueName: "path",
                  help: "Dataset directory (IDX) or CSV file (TRAIN.csv[,TEST.csv])",
                  defaultHelp: "\(defaultFashionMNISTDirectory) for fashion-mnist", completion: .file(extensions: ["csv"]),
                  notedOnResume: false),
        .value(\.model, "model", .checked(expects: "a model spec") { _ = try ModelSpec(parsing: $0); return true }, valueName: "spec",
               help: "linear, mlp:IN-H1-...-OUT[,dropout:P], lenet5, lenet5-avg, lenet5-lc, or layers:conv:6x5p2,relu,maxpool:2,flatten,dropout:P,linear:N,..."),
        .value(\.activation, "activation", .checked(expects: "one of \(Activation.allNames)") { Activation(parsing: $0) != nil },
               valueName: "name", help: "Hidden-layer activation: \(Activation.allNames)"),
        .value(\.loss, "loss", .checked(expects: "one of \(LossFunction.allNames)") { LossFunction(parsing: $0) != nil },
               valueName: "name", help: "cross-entropy, squared (½‖y−f‖²), mse, bce"),
        .custom("init", initCodec, get: { $0.initFrom.map(InitChoice.file) ?? .scheme($0.initScheme) },
                set: { c, v in
                    switch v {
                    case .scheme(let s): c.initScheme = s; c.initFrom = nil
                    case .file(let f): c.initFrom = f
                    }
                },
                valueName: "scheme|file", help: "Weight initialization: \(InitScheme.allCases.map(\.rawValue).joined(separator: ", ")), or FILE.safetensors to start from its weights",
                completion: .file(extensions: ["safetensors"])),
        .value(\.optimizer, "optimizer", .choice, valueName: "name", help: "Optimizer"),
        .value(\.lr, "lr", .double, valueName: "η", help: "Learning rate η",
               check: SettingCheck("must be a positive number") { $0 > 0 }),
        .value(\.momentum, "momentum", .double, valueName: "μ", help: "SGD momentum μ in [0, 1): v = μv + g; w −= ηv"),
        .value(\.nesterov, "nesterov", .bool, valueName: "bool", help: "Nesterov momentum"),
        .value(\.weightDecay, "weight-decay", .double, valueName: "wd", help: "PyTorch-style weight decay: g += wd·w"),
        .value(\.l2, "l2", .double, valueName: "λ", help: "L2 regularization λ of J(θ) = λ‖θ‖² + loss",
               check: SettingCheck("must be ≥ 0") { $0 >= 0 }),
        .value(\.batchSize, "batch-size", BatchSize.codec, valueName: "n|full|auto",
               help: "Global batch size over all ranks, 'full' for full-batch gradient descent, or 'auto': ⌊samples/100⌋ within [16, 128]",
               check: SettingCheck("must be a positive integer, 'full' or 'auto'") { if case .samples(let n) = $0 { n > 0 } else { true } }),
        .value(\.microBatch, "micro-batch", .int, valueName: "n",
               help: "Most samples pushed through the network at once; larger batches accumulate gradients", check: .positive),
        .value(\.epochs, "epochs", .int, valueName: "n", help: "Epochs", check: .positive, notedOnResume: false),
        .optional(\.steps, "steps", .int, valueName: "n", help: "Stop after this many optimizer steps", check: .positive,
                  notedOnResume: false),
        .value(\.seed, "seed", .uint64, valueName: "n", help: "Seed of initialization and shuffling"),
        .optional(\.metrics, "metrics", .text, valueName: "file.jsonl", help: "Write metrics as JSON lines to this file",
                  completion: .file(extensions: ["jsonl"]), fingerprinted: false, notedOnResume: false),
        .optional(\.trainSubset, "train-subset", .int, none: "all", valueName: "n", help: "Use only the first N training samples",
                  check: .positive),
        .optional(\.testSubset, "test-subset", .int, none: "all", valueName: "n", help: "Use only the first N test samples",
                  check: .positive),
        .value(\.augment, "augment", .checked(expects: Augmentation.syntax) { Augmentation(parsing: $0) != nil }, valueName: "spec",
               help: "Random changes of training images, drawn per (seed, epoch, sample): none, crop:K (shifts up to K pixels, zero padding), flip (left-right), or crop:2,flip"),
        .value(\.testAugment, "test-augment", .choice, valueName: "mode",
               help: "Test-time augmentation of evaluation: none, or flip (class probabilities averaged over each test image and its left-right mirror, as AlexNet averaged over reflections; twice the forward work)"),
        .optional(\.labelSmoothing, "label-smoothing", .double, none: "auto", valueName: "ε|auto",
                  help: "Label smoothing of cross-entropy: targets (1−ε)·onehot + ε/classes (PyTorch's label_smoothing); auto: 0.1 with cross-entropy, 0 with other losses",
                  check: SettingCheck("must be in [0, 1)") { $0 >= 0 && $0 < 1 }),
        .value(\.normalize, "normalize", .choice, valueName: "mode",
               help: "Feature scaling fitted on the training set: auto (standard for CSV features and regression targets, per channel for images; synthetic sets as generated), standard (mean/std; per channel for images), minmax, none"),
        .value(\.shuffle, "shuffle", .bool, valueName: "bool", help: "Shuffle every epoch"),
        .value(\.reduction, "reduction", .choice, valueName: "mode",
               help: "Gradient combination across ranks: fast (one float allreduce) or exact (bit-identical for any number of ranks)"),
        .value(\.exchange, "exchange", .choice, valueName: "mode",
               help: "How gradients move between ranks: shared (ranks of one node share memory: an MLP exchanges batch factors, else gradients are summed there; nodes allreduce), shared-gradients (always sum gradients there), factors (allgather every Linear layer's batch factors, no shared memory: what shared does across nodes of one rank each, layer by layer where a measured cost model finds it cheaper) or allreduce (one allreduce of the whole buffer)"),
        .value(\.compress, "compress", compressionCodec, valueName: "codec",
               help: "Lossy compression on the wire, sums in float32: none, bf16 or fp16 (allreduce and factor exchanges), powersgd:R (rank-R PowerSGD with error feedback, allreduce exchange); not with --reduction exact"),
        .value(\.bucketMiB, "bucket-mb", .double, valueName: "MiB",
               help: "Fast mode's allreduce exchange sends the gradient in buckets of whole layers of at least this many MiB, each as soon as backward has finished it (overlapped with the layers below); 0 = one allreduce after backward",
               check: SettingCheck("must be ≥ 0 MiB (0: one allreduce after backward)") { $0 >= 0 }),
        .value(\.factorOverlap, "factor-overlap", .choice, valueName: "mode",
               help: "The cross-node factor exchange (--exchange factors, or shared with one rank per node): on sends each layer's factors during backward (MPI_Iallgather, tested between GEMM blocks), off sends them in one allgather after it, auto turns it on when the link probe at start puts the factors' transfer above 5 ms a step"),
        .value(\.factorForm, "factor-form", .choice, valueName: "mode",
               help: "The cross-node factor exchange: whole (every rank forms a factor layer's whole weight gradient over the global batch: fewest bytes, N times the GEMM work), rows (each rank forms its rows of it, then the ranks allgather the rows: no extra GEMM work, more bytes; not with --compress) or auto (per layer, the cheaper by the start-up cost model)"),
        .value(\.shards, "shards", .int, valueName: "n", help: "Logical shards per global batch in exact mode", check: .atLeast(1)),
        .value(\.schedule, "schedule", .choice, valueName: "name", help: "Learning-rate schedule"),
        .value(\.milestones, "milestones", .intList, valueName: "list", help: "Epochs at which step decay multiplies lr by gamma, e.g. 5,8"),
        .value(\.gamma, "gamma", .double, valueName: "γ", help: "Decay factor of step and exponential schedules"),
        .value(\.plateauPatience, "plateau-patience", .int, valueName: "n", help: "Epochs without improvement before reduce-on-plateau acts"),
        .value(\.plateauFactor, "plateau-factor", .double, valueName: "f", help: "Factor reduce-on-plateau multiplies lr by"),
        .value(\.plateauThreshold, "plateau-threshold", .double, valueName: "t", help: "Relative improvement that counts as better"),
        .value(\.plateauCooldown, "plateau-cooldown", .int, valueName: "n", help: "Epochs to wait after a reduction"),
        .value(\.plateauMonitor, "plateau-monitor", .oneOf(["train", "test"]), valueName: "which", help: "Loss that reduce-on-plateau watches"),
        .value(\.minLR, "min-lr", .double, valueName: "η", help: "Floor of plateau and cosine schedules"),
        .value(\.warmupSteps, "warmup-steps", .int, valueName: "n", help: "Linear warmup steps, composed with any schedule"),
        .value(\.scaleLR, "scale-lr", .bool, valueName: "bool", help: "Linear scaling rule: lr × batch ÷ scale-base-batch"),
        .value(\.scaleBaseBatch, "scale-base-batch", .int, valueName: "n", help: "Base batch of the linear scaling rule", check: .positive),
        .value(\.evalEvery, "eval-every", .int, valueName: "n", help: "Evaluate on the test set every N epochs; 0 = at the end only",
               check: .atLeast(0), notedOnResume: false),
        .value(\.logEverySteps, "log-every-steps", .int, valueName: "n",
               help: "Write a step metrics line every N optimizer steps; 0 = epoch lines only", check: .atLeast(0), notedOnResume: false),
        .value(\.csvLabelColumn, "csv-label-column", .int, valueName: "i", help: "CSV column holding the label or target; negative counts from the end"),
        .value(\.csvRegression, "csv-regression", .bool, valueName: "bool", help: "CSV targets are real numbers"),
        .optional(\.checkpointDir, "checkpoint-dir", .text, valueName: "dir", help: "Write checkpoints (safetensors) into this directory",
                  completion: .directory, notedOnResume: false),
        .value(\.checkpointEvery, "checkpoint-every", checkpointIntervalCodec, valueName: "n|Ne",
               help: "Checkpoint every N steps (500) or N epochs (1e); also at the end and on SIGTERM/SIGINT", notedOnResume: false),
        .value(\.keep, "keep", .int, valueName: "k", help: "Checkpoints to keep in --checkpoint-dir; 0 keeps all",
               check: .atLeast(0, " (0 keeps every checkpoint)"), notedOnResume: false),
        .optional(\.resume, "resume", .text, valueName: "auto|path",
                  help: "Resume from 'auto' (newest good checkpoint in --checkpoint-dir, else start fresh) or a checkpoint file",
                  completion: .file(extensions: ["safetensors"]), fingerprinted: false, notedOnResume: false),
        .value(\.stallTimeout, "stall-timeout", .double, valueName: "seconds",
               help: "End the job when a collective makes no progress for this many seconds, naming the ranks that never arrived; 0 = off",
               check: SettingCheck("must be ≥ 0 seconds (0: off)") { $0 >= 0 }, notedOnResume: false),
        .optional(\.tensorboard, "tensorboard", .text, valueName: "dir", help: "Write TensorBoard event files into this directory",
                  completion: .directory, fingerprinted: false, notedOnResume: false),
        .optional(\.workers, "workers", .int, valueName: "n",
                  help: "In-process workers for a run without mpirun (the single-node fallback); under mpirun use -np instead",
                  defaultHelp: "1", check: .atLeast(1), fingerprinted: false, saved: false),
        .optional(\.blasThreads, "blas-threads", .int, none: "auto", valueName: "n", help: "OpenBLAS threads per rank",
                  defaultHelp: "OPENBLAS_NUM_THREADS, else cores ÷ ranks on this node", check: .atLeast(1),
                  fingerprinted: false, saved: false),
        .value(\.quiet, "quiet", .bool, help: "Print nothing but errors", isFlag: true, fingerprinted: false, saved: false),
    ]

    /// Every key `set` accepts, in the order `--help` lists them.
    public static let keys: [String] = settings.map(\.name)

    /// The setting named `key`, if any.
    public static func setting(_ key: String) -> Setting? { settingsByName[key] }
    static let settingsByName: [String: Setting] = Dictionary(settings.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })

    /// The datasets `--dataset` names.
    public static let datasetNames = ["fashion-mnist", "idx", "mnist", "csv"] + Synthetic.names

    /// Sets `key` from its text form, checking the value's form and range.
    ///
    /// - Parameter source: where the value came from, for messages: a file ("run.yaml"), or the
    ///   flag itself ("--lr"), which then names the key by itself.
    /// - Throws: UserError naming the source, key and value when the key is unknown, the value
    ///   does not parse, or it is out of range.
    public mutating func set(_ key: String, _ value: String, source: String = "command line") throws {
        guard let s = TrainConfig.setting(key) else {
            let near = TrainConfig.keys.min { editDistance($0, key) < editDistance($1, key) }
            let hint = near.map { editDistance($0, key) <= 3 ? " (did you mean '\($0)'?)" : "" } ?? ""
            throw UserError("\(source): unknown key '\(key)'\(hint)")
        }
        let subject = source == "--\(key)" ? source : "\(source): '\(key)'"
        do {
            try s.assign(&self, value)
        } catch is InvalidSettingText {
            throw UserError("\(subject) expects \(s.expects), got '\(value)'")
        } catch let v as Setting.Violation {
            throw UserError("\(subject) \(v.requirement), got \(v.value)")
        } catch let e as UserError {
            throw UserError("\(subject): \(e.message)", kind: e.kind)
        }
    }

    /// The first range requirement a setting violates, named by its flag.
    func checkRanges() throws {
        for s in TrainConfig.settings {
            if let v = s.violation(self) { throw UserError("--\(s.name) \(v.requirement), got \(v.value)") }
        }
    }

    /// `key=value` lines of the settings that must agree across ranks (all but output paths
    /// and this process's resources), in table order.
    public var fingerprintText: String {
        TrainConfig.settings.filter(\.fingerprinted).map { "\($0.name)=\($0.text(self))\n" }.joined()
    }

    /// The settings a checkpoint records, as key → text.
    public var savedSettings: [String: String] {
        Dictionary(uniqueKeysWithValues: TrainConfig.settings.filter(\.saved).map { ($0.name, $0.text(self)) })
    }

    /// A checkpoint's `config` metadata: a JSON object of the saved settings' texts, keyed as in YAML.
    public var checkpointConfigText: String {
        let data = (try? JSONSerialization.data(withJSONObject: savedSettings, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The configuration recorded in a checkpoint's `config` metadata; settings it lacks
    /// (written by an older nntrain) keep their defaults. Reads both this form (keys as in YAML,
    /// text values) and the one before the key table (JSON of the TrainConfig fields).
    ///
    /// - Throws: UserError naming `source` when the text is missing or does not parse, or a
    ///   setting's value is bad.
    public init(checkpointConfig text: String?, source: String) throws {
        self.init()
        guard let text, let saved = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw UserError("\(source): metadata 'config' is missing or not JSON")
        }
        if saved["microBatch"] != nil || saved["initScheme"] != nil {
            self = try TrainConfig(legacyCheckpointConfig: saved, source: source)
            return
        }
        for key in saved.keys.sorted() {
            guard let value = saved[key] as? String else {
                throw UserError("\(source): metadata 'config': '\(key)' is not a text value")
            }
            try set(key, value, source: "\(source) (metadata 'config')")
        }
    }

    /// Checkpoints written before the key table: the Codable JSON of TrainConfig, merged over the defaults.
    init(legacyCheckpointConfig saved: [String: Any], source: String) throws {
        guard let defaults = try? JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainConfig())) as? [String: Any] else {
            throw UserError("cannot encode the default configuration")
        }
        let merged = defaults.merging(saved) { _, new in new }
        do {
            self = try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch {
            throw UserError("\(source): metadata 'config' does not describe a configuration this nntrain understands (\(error))")
        }
    }

    /// Settings that differ between a checkpoint's `config` and this configuration, leaving out
    /// those a resumed run may change (output paths, length of the run, resources).
    public func settingsChanged(fromCheckpointConfig text: String?) -> [String] {
        guard let old = try? TrainConfig(checkpointConfig: text, source: "checkpoint") else { return [] }
        return TrainConfig.settings.filter { $0.saved && $0.notedOnResume && $0.text(old) != $0.text(self) }.map(\.name)
    }

    /// How to run: in-process workers, BLAS threads, quiet.
    public var plan: RunPlan { RunPlan(workers: workers, blasThreads: blasThreads, quiet: quiet) }
}

/// `--init`: a scheme name, or a safetensors file of weights to start from.
enum InitChoice {
    case scheme(InitScheme)
    case file(String)
}

let initCodec = SettingCodec<InitChoice>(
    expects: "one of \(InitScheme.allCases.map(\.rawValue).joined(separator: ", ")), or a FILE.safetensors of weights",
    parse: { text in
        if let s = InitScheme(rawValue: text.trimmed.lowercased()) { return .scheme(s) }
        guard text.hasSuffix(".safetensors") || FileManager.default.fileExists(atPath: text) else { throw InvalidSettingText() }
        return .file(text)
    },
    format: { v in
        switch v {
        case .scheme(let s): s.rawValue
        case .file(let f): f
        }
    })

let checkpointIntervalCodec = SettingCodec<CheckpointInterval>(
    expects: "N steps (e.g. 500) or N epochs (e.g. 1e)",
    parse: { guard let v = CheckpointInterval(parsing: $0) else { throw InvalidSettingText() }; return v },
    format: { $0.description })

let compressionCodec = SettingCodec<Compression>(
    expects: Compression.choices,
    parse: { guard let v = Compression(parsing: $0.trimmed) else { throw InvalidSettingText() }; return v },
    format: { $0.description })

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
