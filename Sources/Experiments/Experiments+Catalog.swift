// Experiments+Catalog: the arms of the lecture's six experiments. Each arm's configuration
// is built in three layers: the experiment's defaults, then the user's overrides (flags or
// --config, e.g. --epochs, --train-subset), then the arm's own settings (the swept value,
// which an override cannot erase: `--lr` does not flatten the learning-rate grid).
import Foundation
import NNCore
import NNData
import NeuralNet
import Training

/// Defaults of the Fashion-MNIST MLP arms: small enough that an experiment runs in minutes.
let mlpDefaults: [(String, String)] = [
    ("dataset", "fashion-mnist"), ("model", "mlp:784-128-10"), ("activation", "relu"), ("loss", "cross-entropy"),
    ("optimizer", "sgd"), ("momentum", "0"), ("schedule", "constant"), ("lr", "0.05"), ("batch-size", "128"),
    ("epochs", "5"), ("train-subset", "10000"), ("test-subset", "2000"), ("eval-every", "0"), ("seed", "0"),
]

/// Defaults of the regularized least-squares arms (the lecture's J(θ)).
let linearDefaults: [(String, String)] = [
    ("dataset", "linear-regression"), ("model", "linear"), ("loss", "mse"), ("l2", "0.01"), ("optimizer", "sgd"),
    ("momentum", "0"), ("schedule", "constant"), ("lr", "0.05"), ("epochs", "20"), ("train-subset", "4096"),
    ("eval-every", "0"), ("seed", "0"),
]

extension ExperimentSpec {
    /// Builds the named experiment.
    ///
    /// - Throws: UserError for an unknown name or a bad override.
    public static func make(_ name: String, settings: ExperimentSettings) throws -> ExperimentSpec {
        var spec: ExperimentSpec
        switch name {
        case "batch-vs-stochastic": spec = try batchVsStochastic(settings)
        case "learning-rate": spec = try learningRate(settings)
        case "linear-limits": spec = try linearLimits(settings)
        case "nonlinearities": spec = try nonlinearities(settings)
        case "depth-vs-width": spec = try depthVsWidth(settings)
        case "scaling": spec = try scaling(settings)
        default:
            throw UserError("unknown experiment '\(name)'; use one of \(names.joined(separator: ", "))"
                            + didYouMean(name, among: names, within: 4))
        }
        if let t = settings.targetLoss { spec.targetLoss = t }
        if let a = settings.targetAccuracy { spec.targetAccuracy = a }
        try spec.filterArms(settings.armFilter)
        return spec
    }

    /// The trainer's defaults of the time the experiments were documented (docs/experiments.md),
    /// where they have changed since: images /255, no label smoothing, batch 128. The lecture's
    /// experiments compare one setting at a time, and their figures stay reproducible.
    static let documentedDefaults = [("normalize", "none"), ("label-smoothing", "0"), ("batch-size", "128")]

    /// the documented defaults → the experiment's defaults → user overrides → the arm's own settings.
    static func config(_ defaults: [(String, String)], _ s: ExperimentSettings, _ arm: [(String, String)]) throws -> TrainConfig {
        var c = TrainConfig()
        for (k, v) in documentedDefaults + defaults { try c.set(k, v, source: "experiment default") }
        for (k, v) in s.overrides where k != "metrics" { try c.set(k, v, source: "--\(k)") }
        for (k, v) in arm { try c.set(k, v, source: "experiment arm") }
        try c.validate()
        return c
    }

    /// The regression set of `c` without its constant-1 feature: the model's bias is the
    /// intercept, so θ = (w, b) and J(θ) = λ(‖w‖² + b²) + 1/N Σ (yᵢ − wᵀxᵢ − b)² exactly as trained.
    static func regressionWithoutConstant(_ c: TrainConfig) throws -> DataSplit {
        var split = try Synthetic.split("linear-regression", seed: c.seed, trainSize: c.trainSubset)
        if let n = c.testSubset { split.test = split.test.prefix(n) }
        func drop(_ d: Dataset) -> Dataset {
            guard case .floats(let f) = d.features else { return d }
            let s = d.sampleSize
            var g: [Float] = []
            g.reserveCapacity(d.count * (s - 1))
            for i in 0..<d.count { g += f[(i * s)..<(i * s + s - 1)] }
            return Dataset(name: "linear-regression (no constant feature)", features: .floats(g), sampleShape: [s - 1],
                           task: d.task, targets: d.targets)
        }
        return DataSplit(train: drop(split.train), test: drop(split.test))
    }

    /// The regularized least-squares arms: closed-form optimum, J(θ) in Double as the train loss.
    static func addLinearGroup(_ spec: inout ExperimentSpec, group: String, s: ExperimentSettings,
                               arms: [(name: String, label: String, settings: [(String, String)])]) throws {
        let base = try config(linearDefaults, s, [])
        let split = try regressionWithoutConstant(base)
        let opt = Ridge.optimum(split.train, lambda: base.l2)
        spec.optimum[group] = opt.objective
        let key = "ridge-" + group
        spec.customData[key] = { _ in split }
        let L = 2 * Ridge.largestEigenvalue(split.train, lambda: base.l2)
        spec.notes.append(String(format: "%@: J(θ*) = %.10g from the normal equations (XᵀX/N + λI)θ = Xᵀy/N solved by Cholesky in Double; N = %d, %d features + bias, λ = %g. Smoothness L = 2·λmax(XᵀX/N + λI) = %.4g, so full-batch GD converges iff η < 2/L = %.4g.",
                                 group, opt.objective, split.train.count, split.train.sampleSize, base.l2, L, 2 / L))
        for a in arms {
            var c = try config(linearDefaults, s, a.settings)
            c.trainSubset = base.trainSubset   // the group shares one data set
            let policy = StepLogPolicy(points: s.points, powersOfTwo: true, evaluateTest: true,
                                       objective: { t in Ridge.objective(t, lambda: t.config.l2) })
            spec.arms.append(ExperimentArm(name: "\(group)-\(a.name)", group: group, label: a.label, config: c,
                                           dataKey: key, log: policy))
        }
    }

    static func mlpPolicy(_ s: ExperimentSettings, powersOfTwo: Bool = false) -> StepLogPolicy {
        var p = StepLogPolicy(points: s.points, powersOfTwo: powersOfTwo, evaluateTrain: true, evaluateTest: true)
        p.trainEvalSubset = s.trainEvalSubset
        return p
    }

    // 1.
    static func batchVsStochastic(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "batch-vs-stochastic", title: "Batch gradient descent against minibatch SGD on the same budget of examples", arms: [])
        let batches: [(String, String, String)] = [("full", "full batch (GD)", "full"), ("b1024", "|B| = 1024", "1024"),
                                                   ("b128", "|B| = 128", "128"), ("b32", "|B| = 32", "32"), ("b1", "|B| = 1", "1")]
        try addLinearGroup(&spec, group: "linear", s: s, arms: batches.map { ($0.0, $0.1, [("batch-size", $0.2)]) })
        for (n, label, b) in batches {
            let c = try config(mlpDefaults + [("train-subset", "5000"), ("epochs", "4")], s, [("batch-size", b)])
            spec.arms.append(ExperimentArm(name: "mlp-\(n)", group: "mlp", label: label, config: c, log: mlpPolicy(s, powersOfTwo: true)))
        }
        spec.notes.append("Every arm processes the same number of examples (epochs × N); |B| sets how many parameter updates that buys. Plain SGD (momentum 0), constant lr, same lr for every arm.")
        return spec
    }

    // 2.
    static func learningRate(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "learning-rate", title: "Learning rates: too small, good, too large; constant against reduce-on-plateau", arms: [])
        let grid = ["0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1", "3"]
        try addLinearGroup(&spec, group: "linear-gd", s: s, arms: grid.map { ("lr\($0)", "η = \($0)", [("lr", $0), ("batch-size", "full"), ("epochs", "100")]) })
        for lr in grid {
            let c = try config(mlpDefaults + [("train-subset", "5000")], s, [("lr", lr)])
            spec.arms.append(ExperimentArm(name: "mlp-lr\(lr)", group: "mlp", label: "η = \(lr)", config: c, log: mlpPolicy(s)))
        }
        let sched: [(String, String)] = [("lr", "0.1")]
        let schedDefaults = mlpDefaults + [("train-subset", "5000"), ("epochs", "10")]
        spec.arms.append(ExperimentArm(name: "schedule-constant", group: "schedule", label: "constant 0.1",
                                       config: try config(schedDefaults, s, sched + [("eval-every", "1")]), log: mlpPolicy(s)))
        spec.arms.append(ExperimentArm(name: "schedule-plateau", group: "schedule", label: "plateau 0.1 → 0.01",
                                       config: try config(schedDefaults, s, sched + [
                                           ("schedule", "plateau"), ("plateau-factor", "0.1"), ("min-lr", "0.01"), ("plateau-monitor", "test"),
                                           ("plateau-patience", "1"), ("plateau-threshold", "0.01"), ("eval-every", "1")]),
                                       log: mlpPolicy(s)))
        spec.notes.append("linear-gd: full-batch GD on the regularized least-squares problem, 100 steps; theory says it converges iff η < 2/L, L = 2·λmax(XᵀX/N + λI).")
        spec.notes.append("mlp: Fashion-MNIST MLP (5000 training samples), |B| = 128, plain SGD, constant η. schedule: η = 0.1 constant against reduce-on-plateau (test loss, patience 1, factor 0.1, floor 0.01).")
        return spec
    }

    // 3.
    static func linearLimits(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "linear-limits", title: "AND, OR, XOR: linear classifiers against a 4-hidden-unit MLP", arms: [])
        let gd: [(String, String)] = [("loss", "cross-entropy"), ("batch-size", "full"), ("optimizer", "sgd"), ("momentum", "0.9"),
                                      ("lr", "0.5"), ("schedule", "constant"), ("eval-every", "0"), ("seed", "0")]
        let policy = StepLogPolicy(points: s.points, powersOfTwo: true, evaluateTrain: true, evaluateTest: true)
        for g in ["and", "or", "xor"] {
            var p = try config(gd, s, [("dataset", g), ("epochs", "100"), ("lr", "1")])
            p.model = "linear"
            spec.arms.append(ExperimentArm(name: "\(g)-perceptron", group: g, label: "perceptron rule", kind: .perceptron,
                                           config: p, log: policy, decisionGrid: true))
            spec.arms.append(ExperimentArm(name: "\(g)-linear", group: g, label: "linear (softmax, GD)",
                                           config: try config(gd, s, [("dataset", g), ("model", "linear"), ("epochs", "500")]),
                                           log: policy, decisionGrid: true))
            spec.arms.append(ExperimentArm(name: "\(g)-mlp4", group: g, label: "MLP 2-4-2 (tanh, GD)",
                                           config: try config(gd, s, [("dataset", g), ("model", "mlp:2-4-2"), ("activation", "tanh"), ("epochs", "500")]),
                                           log: policy, decisionGrid: true))
        }
        spec.targetAccuracy = 1.0
        spec.notes.append("Perceptron rows: step = examples visited, updates = weight updates (mistakes), train_loss = error rate. GD rows: cross-entropy on the four points, full batch.")
        return spec
    }

    // 4.
    static func nonlinearities(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "nonlinearities", title: "Nonlinearities in the same MLP", arms: [])
        for a in ["step", "sigmoid", "tanh", "relu", "leaky-relu"] {
            let c = try config(mlpDefaults, s, [("activation", a), ("model", "mlp:784-128-128-10"), ("momentum", "0.9"),
                                                ("lr", "0.02"), ("epochs", "5")])
            spec.arms.append(ExperimentArm(name: a, group: "mlp", label: a, config: c, log: mlpPolicy(s)))
        }
        spec.targetLoss = 0.45
        spec.notes.append("MLP 784-128-128-10, SGD momentum 0.9, η = 0.02, |B| = 128, same seed (same initial weights) for every arm; only the activation differs.")
        return spec
    }

    /// The width of `depth` equal hidden layers giving about `target` parameters for 784 → 10.
    static func width(depth: Int, target: Int, inputs: Int = 784, outputs: Int = 10) -> Int {
        func params(_ h: Int) -> Int { inputs * h + h + (depth - 1) * (h * h + h) + h * outputs + outputs }
        var best = 1
        for h in 1...4096 where abs(params(h) - target) < abs(params(best) - target) { best = h }
        return best
    }

    // 5.
    static func depthVsWidth(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "depth-vs-width", title: "One wide hidden layer against narrow deep stacks of about the same size", arms: [])
        let target = 784 * 256 + 256 + 256 * 10 + 10
        for depth in [1, 2, 4, 8] {
            let h = depth == 1 ? 256 : width(depth: depth, target: target)
            let model = "mlp:784-" + Array(repeating: String(h), count: depth).joined(separator: "-") + "-10"
            let c = try config(mlpDefaults, s, [("model", model), ("momentum", "0.9"), ("lr", "0.02"), ("epochs", "6")])
            spec.arms.append(ExperimentArm(name: "depth\(depth)-w\(h)", group: "mlp", label: "\(depth) × \(h)", config: c, log: mlpPolicy(s)))
        }
        // The deepest stack again with He initialization (std √(2/fan_in)), which keeps ReLU activations from shrinking layer by layer.
        let h8 = width(depth: 8, target: target)
        let c8 = try config(mlpDefaults, s, [("model", "mlp:784-" + Array(repeating: String(h8), count: 8).joined(separator: "-") + "-10"),
                                             ("momentum", "0.9"), ("lr", "0.02"), ("epochs", "6"), ("init", "he")])
        spec.arms.append(ExperimentArm(name: "he-depth8-w\(h8)", group: "mlp", label: "8 × \(h8), He init", config: c8, log: mlpPolicy(s)))
        spec.targetAccuracy = 0.84
        spec.targetLoss = 0.4
        spec.notes.append("ReLU, SGD momentum 0.9, η = 0.02, |B| = 128; widths chosen so every network has ≈ \(target) parameters.")
        return spec
    }

    // 6.
    static func scaling(_ s: ExperimentSettings) throws -> ExperimentSpec {
        var spec = ExperimentSpec(name: "scaling", title: "Data-parallel scaling: ranks, throughput, compute and communication", arms: [])
        let mpiSize = World.launchedSize
        let counts = mpiSize.map { [$0] } ?? s.scalingWorkers
        for n in counts {
            for scale in [false, true] {
                let c = try config(mlpDefaults, s, [("model", "mlp:784-256-256-10"), ("momentum", "0.9"), ("lr", "0.02"),
                                                    ("epochs", "3"), ("batch-size", String(64 * n)),
                                                    ("scale-lr", scale ? "true" : "false"), ("scale-base-batch", "64")])
                let who = mpiSize != nil ? "np\(n)" : "w\(n)"
                spec.arms.append(ExperimentArm(name: "\(who)-\(scale ? "scaled" : "noscale")", group: scale ? "scale-lr" : "fixed-lr",
                                               label: "\(n) \(mpiSize != nil ? "rank(s)" : "worker(s)")\(scale ? ", lr × B/64" : "")",
                                               config: c, workers: mpiSize == nil ? n : nil, log: mlpPolicy(s)))
            }
        }
        spec.targetAccuracy = 0.8
        spec.notes.append("Weak scaling: 64 samples per rank, so the global batch is 64 × ranks; with scale-lr the lr follows the linear scaling rule lr × B/64.")
        if let n = mpiSize {
            spec.notes.append("Under mpirun the job has \(n) rank(s), so only that count ran; launch/sweep launch/scaling.yaml runs 1, 2, 4 ranks.")
        } else {
            spec.notes.append("Without mpirun each rank count runs as its own group of in-process workers inside this one command; data are loaded once.")
        }
        return spec
    }
}

/// Regularized least squares with a bias: the closed form and the objective in Double.
public enum Ridge {
    /// θ* = (w*, b*) solving (X̃ᵀX̃/N + λI)θ = X̃ᵀy/N with X̃ = [X, 1], and J(θ*).
    public static func optimum(_ d: Dataset, lambda: Double) -> (theta: [Double], objective: Double) {
        let (x, y, n, p) = arrays(d)
        let m = p + 1
        var a = [Double](repeating: 0, count: m * m), b = [Double](repeating: 0, count: m)
        var row = [Double](repeating: 1, count: m)
        for i in 0..<n {
            for j in 0..<p { row[j] = x[i * p + j] }
            for j in 0..<m {
                b[j] += row[j] * y[i]
                for k in 0...j { a[j * m + k] += row[j] * row[k] }
            }
        }
        for j in 0..<m { for k in 0...j { a[j * m + k] /= Double(n); a[k * m + j] = a[j * m + k] }; b[j] /= Double(n); a[j * m + j] += lambda }
        let theta = choleskySolve(a, b, m)
        return (theta, objective(theta: theta, d, lambda: lambda))
    }

    /// λmax(X̃ᵀX̃/N + λI) by power iteration (the Hessian of J is twice this matrix).
    public static func largestEigenvalue(_ d: Dataset, lambda: Double, iterations: Int = 500) -> Double {
        let (x, _, n, p) = arrays(d)
        let m = p + 1
        var a = [Double](repeating: 0, count: m * m)
        var row = [Double](repeating: 1, count: m)
        for i in 0..<n {
            for j in 0..<p { row[j] = x[i * p + j] }
            for j in 0..<m { for k in 0..<m { a[j * m + k] += row[j] * row[k] / Double(n) } }
        }
        for j in 0..<m { a[j * m + j] += lambda }
        var v = [Double](repeating: 1, count: m), ev = 0.0
        for _ in 0..<iterations {
            var w = [Double](repeating: 0, count: m)
            for j in 0..<m { for k in 0..<m { w[j] += a[j * m + k] * v[k] } }
            ev = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = w.map { $0 / ev }
        }
        return ev
    }

    /// J(θ) = λ‖θ‖² + 1/N Σ (yᵢ − wᵀxᵢ − b)², θ = (w, b), in Double.
    public static func objective(theta: [Double], _ d: Dataset, lambda: Double) -> Double {
        let (x, y, n, p) = arrays(d)
        var s = 0.0
        for i in 0..<n {
            var f = theta[p]
            for j in 0..<p { f += theta[j] * x[i * p + j] }
            s += (y[i] - f) * (y[i] - f)
        }
        return lambda * theta.reduce(0) { $0 + $1 * $1 } + s / Double(n)
    }

    /// J of a trainer's `linear` model (weight [1, p] then bias [1]) on its training set.
    public static func objective(_ t: Trainer, lambda: Double) -> Double {
        let w = t.model.parameters.pointer
        let theta = (0..<t.model.parameterCount).map { Double(w[$0]) }
        return objective(theta: theta, t.data.train, lambda: lambda)
    }

    static func arrays(_ d: Dataset) -> ([Double], [Double], Int, Int) {
        guard case .floats(let f) = d.features else { return ([], [], 0, 0) }
        return (f.map(Double.init), d.targets.map(Double.init), d.count, d.sampleSize)
    }

    /// Solves A x = b for symmetric positive definite A (m × m, row-major) by Cholesky A = LLᵀ.
    public static func choleskySolve(_ a: [Double], _ b: [Double], _ m: Int) -> [Double] {
        var l = [Double](repeating: 0, count: m * m)
        for i in 0..<m {
            for j in 0...i {
                var s = a[i * m + j]
                for k in 0..<j { s -= l[i * m + k] * l[j * m + k] }
                l[i * m + j] = i == j ? s.squareRoot() : s / l[j * m + j]
            }
        }
        var z = [Double](repeating: 0, count: m)
        for i in 0..<m { var s = b[i]; for k in 0..<i { s -= l[i * m + k] * z[k] }; z[i] = s / l[i * m + i] }
        var x = [Double](repeating: 0, count: m)
        for i in stride(from: m - 1, through: 0, by: -1) {
            var s = z[i]; for k in (i + 1)..<m { s -= l[k * m + i] * x[k] }; x[i] = s / l[i * m + i]
        }
        return x
    }
}
