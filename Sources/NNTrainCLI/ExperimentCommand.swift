// `nntrain experiment NAME`: runs one of the lecture's experiments (all its arms inside one
// job) and writes metrics, a tidy CSV, a Markdown summary and PNG plots to --out.
import ArgumentParser
import Experiments
import Foundation
import NNCore
import Training

struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run one of the lecture's experiments: every arm inside one job, results and plots in --out.",
        discussion: """
        Experiments: \(ExperimentSpec.names.joined(separator: ", ")).
        Training flags (e.g. --epochs 3 --train-subset 60000) override the experiment's defaults for every arm, except the setting an arm varies (the lr of learning-rate, the activation of nonlinearities, …).

        Writes DIR/ARM.jsonl, DIR/results.csv, DIR/summary.md, DIR/experiment.json and DIR/*.png (plots by plot_experiment.py, from share/nntrain/ beside the installed nntrain or launch/ of the checkout; python3 with matplotlib).
        """)

    @Argument(help: ArgumentHelp("The experiment: \(ExperimentSpec.names.joined(separator: ", "))", valueName: "name"))
    var name: String
    @Option(help: ArgumentHelp("Output directory (default: experiments/NAME)", valueName: "dir"))
    var out: String?
    @Option(help: ArgumentHelp("Run only the arms whose names start with one of these, comma-separated (default: all)", valueName: "list"))
    var arms: String?
    @Option(name: .customLong("target-loss"), help: ArgumentHelp("Report epochs and seconds until the train loss is at most this (default: the experiment's)", valueName: "x"))
    var targetLoss: Double?
    @Option(name: .customLong("target-accuracy"), help: ArgumentHelp("Report seconds until the test accuracy is at least this (default: the experiment's)", valueName: "a"))
    var targetAccuracy: Double?
    @Option(name: .customLong("scaling-workers"), help: ArgumentHelp("Worker counts of the scaling experiment without mpirun", valueName: "list"))
    var scalingWorkers = "1,2,4"
    @Option(help: ArgumentHelp("Step lines per arm, about (default: 25)", valueName: "n"))
    var points = 25
    @Option(name: .customLong("train-eval-subset"), help: ArgumentHelp("Measure the MLP arms' training loss on the first N training samples; 0 = all (default: 2000)", valueName: "n"))
    var trainEvalSubset = 2000
    @Flag(name: .customLong("no-plot"), help: "Do not run launch/plot_experiment.py.")
    var noPlot = false
    @OptionGroup var options: TrainOptions

    func validate() throws {
        guard trainEvalSubset >= 0 else { throw ValidationError("--train-eval-subset must be ≥ 0, got \(trainEvalSubset)") }
        guard points > 0 else { throw ValidationError("--points must be > 0, got \(points)") }
        let w = scalingWorkers.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !w.isEmpty, w.allSatisfy({ ($0 ?? 0) >= 1 }) else {
            throw ValidationError("--scaling-workers expects positive integers separated by commas, e.g. 1,2,4")
        }
    }

    func run() throws {
        var settings = ExperimentSettings()
        // Each setting is checked here, where its source is known; the arms apply them again.
        var given = TrainConfig()
        for s in try options.settings() { try given.set(s.key, s.value, source: s.source) }
        settings.overrides = try options.settings().map { ($0.key, $0.value) }
        let plan = given.commandLinePlan
        settings.armFilter = arms.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        settings.targetLoss = targetLoss
        settings.targetAccuracy = targetAccuracy
        settings.scalingWorkers = scalingWorkers.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        settings.points = points
        settings.trainEvalSubset = trainEvalSubset > 0 ? trainEvalSubset : nil
        let spec = try ExperimentSpec.make(name, settings: settings)
        let dir = out ?? "experiments/\(name)"
        let (_, isRoot) = try runExperiment(spec, out: dir, plan: plan)
        guard isRoot else { return }
        if !plan.quiet { print("wrote \(dir)/results.csv, \(dir)/summary.md"); fflush(stdout) }
        if !noPlot { plot(dir) }
    }

    /// Runs the plot script; a missing python3 or matplotlib is a message, not a failure.
    func plot(_ dir: String) {
        guard let script = plotScript() else {
            FileHandle.standardError.write(Data("nntrain: plot_experiment.py not found (next to nntrain, in ../share/nntrain, or launch/; set NNTRAIN_PLOT_SCRIPT); no plots drawn\n".utf8))
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, dir]
        do {
            try p.run()
            p.waitUntilExit()
            if p.terminationStatus != 0 {
                FileHandle.standardError.write(Data("nntrain: the plot script failed (python3 \(script) \(dir)); the CSV and summary are written\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(Data("nntrain: cannot run python3 (\(error)); no plots drawn\n".utf8))
        }
    }

    /// NNTRAIN_PLOT_SCRIPT, else plot_experiment.py where SupportFile finds it: next to the
    /// executable or in ../share/nntrain beside it (installed), else launch/ of a checkout.
    func plotScript() -> String? {
        SupportFile.locate("plot_experiment.py", environment: "NNTRAIN_PLOT_SCRIPT")
    }
}
