// TrainConfig: everything that defines a training run. The CLI fills it from defaults,
// then a YAML file, then flags; the trainer only reads it. Each property is a setting of the
// key table (ConfigKeys.swift), which gives its name, text form, help and checks; the
// property's initial value is the setting's default.
import Foundation
import NNCore
import NeuralNet
import NNData

/// How gradients are combined across ranks.
public enum Reduction: String, Sendable, Codable, CaseIterable {
    /// One float allreduce of the gradient buffer per step.
    case fast
    /// World-size-invariant: fixed logical shards, combined in exact 64-bit fixed point.
    case exact
}

/// `--factor-overlap`: whether AllgatherFactorExchange sends each layer's factors while
/// backward runs. Overlap costs compute (GEMMs cut into blocks, the TCP copies done inside
/// the tests between them): measured +5 ms a step at 10 Gbit/s, where 2.3 ms of transfer was
/// all it could hide, against 10 ms saved at 1 Gbit/s (docs/performance.md).
public enum FactorOverlap: String, Sendable, Codable, CaseIterable {
    /// On when the start-up link probe puts the factors' transfer at ≥ 5 ms a step.
    case auto
    case on
    case off
}

/// `--factor-form`: how the cross-node factor exchange forms a factor layer's weight gradient
/// over the global batch once the ranks' factors are gathered.
public enum FactorForm: String, Sendable, Codable, CaseIterable {
    /// Per layer, whichever of `whole`, `rows` (and the gradient allreduce) the start-up cost model finds cheaper.
    case auto
    /// Every rank forms all of dW: the fewest bytes, N times one rank's dW GEMMs.
    case whole
    /// Each rank forms its ⌈out ÷ N⌉ rows of dW over the global batch (one rank's GEMM work),
    /// and the ranks allgather the rows: a reduce-scatter by factors, then an allgather.
    case rows
}

/// How a step moves gradients between ranks (fast mode: Float gradients; exact mode: its Int64 sums).
public enum GradientExchange: String, Sendable, Codable, CaseIterable {
    /// Ranks on one node share memory and update their share of the one shared copy of the
    /// parameters. For a network of Linear layers whose batch factors (inputs and output
    /// gradients) are fewer than its weights, they exchange those factors and each computes
    /// its rows of the weight gradient over the node's whole batch; otherwise they sum each
    /// other's gradients, each its own share (`shared-gradients`). Nodes meet in an
    /// MPI_Allreduce of each share. Where ranks share no memory (one rank per node), an MLP
    /// allgathers factors across nodes where that pays (`factors`), else `allreduce`.
    case shared
    /// As `shared`, always summing gradients (never factors).
    case sharedGradients = "shared-gradients"
    /// Every rank allgathers the batch factors of every Linear layer where that moves fewer
    /// bytes than allreducing its gradient, and forms the weight gradients of the global batch
    /// itself; no shared memory. What `shared` does across nodes of one rank each.
    case factors
    /// One MPI_Allreduce (or the workers' equivalent) of the whole gradient buffer per step.
    case allreduce
}

/// Lossy compression of what crosses ranks (`--compress`); sums stay in Float.
public enum Compression: Sendable, Codable, Equatable, CustomStringConvertible {
    /// Float32 on the wire.
    case none
    /// bfloat16: Float32's exponent range, 8 bits of mantissa (round to nearest even).
    case bf16
    /// IEEE half precision: 11 bits of mantissa, values up to 65,504.
    case fp16
    /// PowerSGD (Vogels et al. 2019): each large weight gradient as a rank-R product P·Qᵀ,
    /// one power iteration per step, with error feedback.
    case powerSGD(rank: Int)

    /// The forms `--compress` takes.
    public static let choices = "none, bf16, fp16 or powersgd:R (R ≥ 1)"

    /// Parses "none", "bf16", "fp16", "powersgd:4".
    public init?(parsing text: String) {
        let t = text.lowercased()
        switch t {
        case "none": self = .none
        case "bf16": self = .bf16
        case "fp16": self = .fp16
        default:
            guard t.hasPrefix("powersgd:"), let r = Int(t.dropFirst("powersgd:".count)), r >= 1, r <= 1024 else { return nil }
            self = .powerSGD(rank: r)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .bf16: "bf16"
        case .fp16: "fp16"
        case .powerSGD(let r): "powersgd:\(r)"
        }
    }

    /// Encoded as its text form, as in a YAML file.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = Compression(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad compression '\(text)'"))
        }
        self = v
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// The configuration of one training run.
public struct TrainConfig: Sendable, Codable, Equatable {
    public var dataset = "fashion-mnist"
    /// Directory of IDX files, or a CSV file for `--dataset csv`.
    public var data: String? = nil
    public var model = "mlp:784-1024-1024-10"
    public var activation = "relu"
    public var loss = "cross-entropy"
    public var initScheme = InitScheme.pytorch
    public var optimizer = OptimizerKind.sgd
    public var lr = 0.05
    public var momentum = 0.9
    public var nesterov = false
    public var weightDecay = 0.0
    /// λ of J(θ) = λ‖θ‖² + loss.
    public var l2 = 0.0
    /// Global batch size: samples, the whole training set (full-batch gradient descent) or auto.
    public var batchSize = BatchSize.auto
    /// Largest batch pushed through the network at once; larger local batches are accumulated.
    public var microBatch = 2048
    public var epochs = 10
    /// Stop after this many optimizer steps (overrides epochs when reached first).
    public var steps: Int? = nil
    public var seed: UInt64 = 0
    public var metrics: String? = nil
    public var trainSubset: Int? = nil
    public var testSubset: Int? = nil
    public var shuffle = true
    /// Feature (and regression target) normalization fitted on the training set.
    public var normalize = NormalizeMode.auto
    /// Random crops and flips of training images (an `Augmentation` spec).
    public var augment = "none"
    /// Test-time augmentation of evaluation (`TestAugmentation`).
    public var testAugment = TestAugmentation.none
    /// Label smoothing ε of cross-entropy: targets (1−ε)·onehot + ε/K; nil (auto): 0.1 with
    /// cross-entropy, 0 with the other losses (see `resolvedLabelSmoothing`).
    public var labelSmoothing: Double? = nil

    /// The ε a run of `loss` uses: the setting, or for `auto` 0.1 with cross-entropy (torchvision's
    /// recipes' value; with per-channel standardization it brings the default MLP to 0.88 in 3
    /// epochs instead of 4, and to 0.9049 after 10, docs/performance.md) and 0 otherwise.
    public func resolvedLabelSmoothing(_ loss: LossFunction) -> Double {
        labelSmoothing ?? (loss == .crossEntropy ? 0.1 : 0)
    }
    public var reduction = Reduction.fast
    public var exchange = GradientExchange.shared
    /// Lossy compression of gradients and factors on the wire (fast mode only).
    public var compress = Compression.none
    /// Bucket cap (MiB) of fast mode's allreduce, which sends each bucket during backward; 0:
    /// one allreduce after backward. Measured: docs/performance.md, "Overlap with backward".
    public var bucketMiB = 1.0
    /// Whether the cross-node factor exchange sends its allgathers during backward (`FactorOverlap`).
    public var factorOverlap = FactorOverlap.auto
    /// How the cross-node factor exchange forms a factor layer's dW (`FactorForm`).
    public var factorForm = FactorForm.auto
    /// Logical shards per global batch in exact mode (independent of the number of ranks).
    public var shards = 4
    public var schedule = ScheduleKind.cosine
    public var milestones: [Int] = []
    public var gamma = 0.1
    public var plateauPatience = 2
    public var plateauFactor = 0.1
    public var plateauThreshold = 1e-4
    public var plateauCooldown = 0
    public var plateauMonitor = "train"
    public var minLR = 0.0
    public var warmupSteps = 0
    /// Linear scaling rule: lr × global batch ÷ scaleBaseBatch.
    public var scaleLR = false
    public var scaleBaseBatch = 128
    /// Evaluate on the test set every this many epochs (0: only at the end).
    public var evalEvery = 1
    /// Every this many optimizer steps, a `{"event":"step",…}` metrics line (0: none).
    public var logEverySteps = 0
    public var csvLabelColumn = 0
    public var csvRegression = false
    /// Directory for checkpoints (nil: none are written).
    public var checkpointDir: String? = nil
    /// How often to write a checkpoint (besides at the end and when stopped by a signal).
    public var checkpointEvery = CheckpointInterval.epochs(1)
    /// Checkpoints kept in `checkpointDir`; older ones are deleted (0: keep all).
    public var keep = 3
    /// "auto" (newest good checkpoint in `checkpointDir`, if any) or a checkpoint path.
    public var resume: String? = nil
    /// Start from the weights in this safetensors file (e.g. exported from PyTorch).
    public var initFrom: String? = nil
    /// Seconds a collective may make no progress before the job ends naming the missing ranks (0: off).
    public var stallTimeout = 300.0
    /// Directory for TensorBoard event files (nil: none are written).
    public var tensorboard: String? = nil
    /// In-process workers (single-node fallback); nil = 1, or the MPI world under mpirun.
    public var workers: Int? = nil
    /// OpenBLAS threads per rank; nil = OPENBLAS_NUM_THREADS, else cores ÷ ranks on this node.
    public var blasThreads: Int? = nil
    /// Print nothing but errors.
    public var quiet = false

    public init() {}

    /// Throws a UserError naming the first out-of-range value (the table's range checks, then
    /// the settings that depend on each other).
    public func validate() throws {
        try checkRanges()
        if resume == "auto" && checkpointDir == nil {
            throw UserError("--resume auto looks for checkpoints in --checkpoint-dir; give --checkpoint-dir DIR (or --resume PATH)")
        }
        if resume != nil && initFrom != nil {
            throw UserError("--resume and --init FILE exclude each other: --resume continues a run, --init starts a new one from given weights")
        }
        if compress != .none && reduction == .exact {
            throw UserError("--compress \(compress) rounds what the ranks send, and --reduction exact promises the same bits for any number of ranks: use one or the other (--compress none with exact)")
        }
        if compress != .none && factorForm == .rows {
            throw UserError("--factor-form rows forms weight-gradient rows from Float factors and sends them as Floats, and --compress \(compress) rounds what the ranks send: use one or the other (--factor-form auto or whole with --compress)")
        }
        guard Activation(parsing: activation) != nil else {
            throw UserError("unknown activation '\(activation)'; use one of \(Activation.allNames)")
        }
        guard LossFunction(parsing: loss) != nil else { throw UserError("unknown loss '\(loss)'; use one of \(LossFunction.allNames)") }
        _ = try ModelSpec(parsing: model)
        try optimizerConfig.validate()
        var s = scheduleConfig(stepsPerEpoch: 1, totalSteps: 1)
        s.baseLR = lr
        try s.validate()
    }

    public var optimizerConfig: OptimizerConfig {
        var o = OptimizerConfig()
        o.kind = optimizer; o.momentum = momentum; o.nesterov = nesterov; o.weightDecay = weightDecay
        return o
    }

    /// The schedule for a run of `totalSteps` steps at global batch `globalBatch`.
    public func scheduleConfig(stepsPerEpoch: Int, totalSteps: Int, globalBatch: Int? = nil) -> ScheduleConfig {
        var s = ScheduleConfig()
        s.kind = schedule
        s.baseLR = lr * (scaleLR ? Double(globalBatch ?? scaleBaseBatch) / Double(scaleBaseBatch) : 1)
        s.milestones = milestones; s.gamma = gamma
        s.patience = plateauPatience; s.factor = plateauFactor; s.threshold = plateauThreshold
        s.cooldown = plateauCooldown; s.minLR = minLR; s.monitor = plateauMonitor
        s.warmupSteps = warmupSteps; s.totalSteps = totalSteps; s.stepsPerEpoch = stepsPerEpoch
        return s
    }

}

/// How often a checkpoint is written: every N optimizer steps or every N epochs.
public enum CheckpointInterval: Sendable, Codable, Equatable, CustomStringConvertible {
    case steps(Int)
    case epochs(Int)

    /// Parses "500" or "500s" / "500 steps" (steps), "1e" / "2 epochs" / "epoch" (epochs).
    public init?(parsing text: String) {
        let t = text.lowercased().replacingOccurrences(of: " ", with: "")
        if t == "epoch" { self = .epochs(1); return }
        if t == "step" { self = .steps(1); return }
        let digits = t.prefix { $0.isNumber }
        let unit = t.dropFirst(digits.count)
        guard let n = Int(digits), n > 0 else { return nil }
        switch unit {
        case "", "s", "step", "steps": self = .steps(n)
        case "e", "epoch", "epochs": self = .epochs(n)
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .steps(let n): "\(n)"
        case .epochs(let n): "\(n)e"
        }
    }

    /// Encoded as its text form ("500", "1e"), as in a YAML file.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = CheckpointInterval(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad checkpoint interval '\(text)'"))
        }
        self = v
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
