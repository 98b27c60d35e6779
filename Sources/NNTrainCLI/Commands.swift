// The nntrain command line: a root command with subcommands (swift-argument-parser).
import ArgumentParser
import Experiments
import Foundation
import NNCore
import NNData
import NeuralNet
import Training

/// `nntrain`: train feed-forward networks, on one machine or across an MPI cluster.
public struct NNTrain: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nntrain",
        abstract: "A data-parallel neural-network trainer: linear classifiers, MLPs, LeNet-5; one process, in-process workers, or mpirun.",
        version: nntrainVersion,
        subcommands: [Train.self, Evaluate.self, Inspect.self, GradCheck.self, PerceptronCommand.self, ExperimentCommand.self, PlotCommand.self],
        defaultSubcommand: Train.self)
    public init() {}

    /// Parses the arguments and runs the command; a UserError ends the process with its
    /// message and exit code 2, any other error through ArgumentParser.
    /// Re-executes this process once with OPENBLAS_CORETYPE set when OpenBLAS chose kernels that
    /// use less of the CPU than it has (`BLASKernel`: Prescott on an AVX-512 virtual CPU trains 3.3×
    /// slower). Not when OPENBLAS_CORETYPE is set already (by the user, or by the first pass: so it
    /// happens at most once), and before MPI_Init, so under mpirun the rank keeps its pid. If exec
    /// fails, the run goes on with the kernels it has.
    static func upgradeBLASKernel() {
        guard ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = BLASKernel.recommended else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
    }

    public static func mainWithUserErrors(_ arguments: [String]? = nil) -> Never {
        if arguments == nil { upgradeBLASKernel() }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            World.finalize()
            Foundation.exit(0)
        } catch let e as UserError {
            FileHandle.standardError.write(Data("nntrain: error: \(e.message)\n".utf8))
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}

public let nntrainVersion = "0.1.0"

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model (default: MLP 784-1024-1024-10, ReLU, SGD with momentum, on Fashion-MNIST).")
    @OptionGroup var options: TrainOptions

    func run() throws {
        let config = try options.resolve()
        // SIGTERM/SIGINT: finish the step, checkpoint, exit 3 (see docs/checkpoints.md).
        Preemption.install()
        let done = try train(config, plan: config.commandLinePlan) { trainer in
            trainer.stopRequested = { Preemption.requested }
        }
        if done.status == "stopped" {
            World.finalize()
            throw ExitCode(3)
        }
    }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a freshly initialized model (or, with a checkpoint, a trained one) on the test set.")
    @OptionGroup var options: TrainOptions
    @Option(help: ArgumentHelp("Checkpoint (or safetensors weights) to evaluate; an nntrain checkpoint also supplies the settings, which flags override", valueName: "path"))
    var checkpoint: String?

    func run() throws {
        var base = TrainConfig()
        var weights: SafetensorsFile?
        if let path = checkpoint {
            let file = try SafetensorsFile(path: path)
            if file.metadata["format"] == Checkpoint.format {
                try Checkpoint.verify(file, source: path)
                base = try TrainConfig(checkpointConfig: file.metadata["config"], source: path)
            }
            weights = file
        }
        var config = try options.resolve(base: base)
        config.checkpointDir = nil; config.resume = nil; config.initFrom = nil
        try runOnRanks(config.commandLinePlan) { comm in
            let data = try loadData(config)
            let trainer = try Trainer(config: config, data: data, comm: comm)
            if let w = weights {
                try Checkpoint.loadModel(w, into: trainer.model, source: checkpoint ?? "")
                // The training set's statistics stored with the weights, never the test set's.
                try Checkpointer.applyNormalization(w, to: trainer, source: checkpoint ?? "")
            }
            let (l, a) = try trainer.evaluate(trainer.data.test)
            if comm.rank == 0 && !config.quiet {
                print(String(format: "test_loss %.6f", l) + (a.map { String(format: "  test_accuracy %.4f", $0) } ?? "") + "  (\(data.test.count) samples)")
            }
        }
    }
}

struct GradCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradcheck",
        abstract: "Compare backpropagated gradients with central finite differences, in Double.")
    @Option(help: ArgumentHelp("Model spec (default: mlp:8-16-16-4, or mlp:8-16-16-1 for bce)", valueName: "spec")) var model: String?
    @Option(help: ArgumentHelp("Activation (default: tanh)", valueName: "name")) var activation = "tanh"
    @Option(help: ArgumentHelp("Loss: cross-entropy, squared, mse, bce (default: cross-entropy)", valueName: "name")) var loss = "cross-entropy"
    @Option(help: ArgumentHelp("L2 regularization λ added to the loss (default: 0)", valueName: "λ")) var l2 = 0.0
    @Option(help: ArgumentHelp("Samples in the batch (default: 5)", valueName: "n")) var batch = 5
    @Option(help: ArgumentHelp("Finite-difference step h of the five-point stencil (default: 1e-4)", valueName: "h")) var step = 1e-4
    @Option(help: ArgumentHelp("Check at most this many elements per tensor; 0 = all (default: 2000)", valueName: "n")) var maxPerTensor = 2000
    @Option(help: ArgumentHelp("Fail (exit 1) above this max relative error (default: 1e-6)", valueName: "tol")) var tolerance = 1e-6
    @Option(help: ArgumentHelp("Seed (default: 0)", valueName: "n")) var seed: UInt64 = 0

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be > 0") }
        guard step > 0 else { throw ValidationError("--step must be > 0") }
    }

    func run() throws {
        let model = self.model ?? (loss.lowercased().hasPrefix("b") ? "mlp:8-16-16-1" : "mlp:8-16-16-4")
        let spec = try ModelSpec(parsing: model)
        guard let act = Activation(parsing: activation) else { throw UserError("unknown activation '\(activation)'; use one of \(Activation.allNames)") }
        guard let lossFn = LossFunction(parsing: loss) else { throw UserError("unknown loss '\(loss)'; use one of \(LossFunction.allNames)") }
        let inputShape = spec.declaredInput.map { [$0] } ?? spec.defaultInputShape
        let outputs: Int = lossFn == .bce ? 1 : spec.declaredOutput ?? 4
        let net = try spec.build(Double.self, inputShape: inputShape, outputs: outputs, activation: act)
        var rng = RNG(seed: seed)
        net.initialize(.pytorch, rng: &rng)
        let inputs = net.inputSize
        let x = Buffer<Double>(count: batch * inputs)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: batch)
        let values = Buffer<Double>(count: batch * outputs)
        for i in 0..<batch { labels[i] = Int32(rng.int(below: lossFn == .bce ? 2 : outputs)) }
        for i in 0..<values.count { values[i] = rng.uniform(-1, 1) }
        let results = GradientCheck.run(model: net, loss: lossFn, x: x.pointer,
                                        targets: Targets(labels: labels.pointer, values: values.pointer),
                                        batch: batch, l2: l2, h: step, maxPerTensor: maxPerTensor > 0 ? maxPerTensor : nil)
        print("gradient check: \(model), \(act), \(lossFn.rawValue)\(l2 > 0 ? ", λ=\(l2)" : ""), batch \(batch), five-point differences with h=\(step)")
        print("tensor".padding(toLength: 14, withPad: " ", startingAt: 0) + "elements  max relative error  max absolute error")
        var worst = 0.0
        for r in results {
            worst = max(worst, r.maxRelativeError)
            print(r.name.padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%8d  %18.3e  %18.3e", r.count, r.maxRelativeError, r.maxAbsoluteError))
        }
        let ok = worst <= tolerance
        print(ok ? String(format: "PASS: max relative error %.3e ≤ %.0e", worst, tolerance)
                 : String(format: "FAIL: max relative error %.3e > %.0e", worst, tolerance))
        if !ok { throw ExitCode(1) }
    }
}

struct PerceptronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perceptron",
        abstract: "Train one threshold unit with the perceptron learning rule (learns AND and OR, never XOR).")
    @Option(help: ArgumentHelp("and, or, xor, or a csv file path with --csv (default: xor)", valueName: "name")) var dataset = "xor"
    @Option(help: ArgumentHelp("Passes over the data (default: 100)", valueName: "n")) var epochs = 100
    @Option(help: ArgumentHelp("Learning rate of the rule (default: 1)", valueName: "η")) var lr = 1.0
    @Option(help: ArgumentHelp("Seed of the visiting order (default: 0)", valueName: "n")) var seed: UInt64 = 0

    func validate() throws {
        guard epochs > 0 else { throw ValidationError("--epochs must be > 0") }
        guard lr > 0 else { throw ValidationError("--lr must be > 0") }
    }

    func run() throws {
        let result = try runPerceptron(dataset: dataset, epochs: epochs, lr: lr, seed: seed)
        print(result.summary)
    }
}

