// `nntrain plot`: the loss, accuracy and learning-rate curves of one or more runs' metrics
// JSONL in one PNG, drawn by launch/plot_metrics.py (python3 with matplotlib).
import ArgumentParser
import Foundation
import NNCore

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw loss, accuracy and learning-rate curves of runs from their --metrics files (python3 with matplotlib).",
        discussion: """
        One colour per file, against the global optimizer step: train and test loss, test accuracy and the learning rate of every epoch line, and the step lines of --log-every-steps when present. A file appended by a resumed run is drawn as one curve.

        The drawing is done by plot_metrics.py (installed next to nntrain or in ../share/nntrain, or launch/ of the checkout), which needs python3 with matplotlib (pip install matplotlib, or bash launch/setup.sh).
        """)

    @Argument(help: ArgumentHelp("Metrics JSONL files written by `nntrain train --metrics`.", valueName: "metrics.jsonl"))
    var metrics: [String] = []

    @Option(help: ArgumentHelp("The PNG to write (default: the first file's name with .png).", valueName: "file.png"))
    var out: String?

    @Option(help: ArgumentHelp("Title of the figure (default: the runs' names).", valueName: "text"))
    var title: String?

    func validate() throws {
        guard !metrics.isEmpty else { throw ValidationError("give at least one metrics file (from --metrics)") }
    }

    func run() throws {
        for f in metrics where !FileManager.default.fileExists(atPath: f) {
            throw UserError("\(f): no such metrics file")
        }
        guard let script = SupportFile.locate("plot_metrics.py", environment: "NNTRAIN_PLOT_METRICS_SCRIPT") else {
            throw UserError("plot_metrics.py not found (next to nntrain, in ../share/nntrain, or launch/ of the checkout; or set NNTRAIN_PLOT_METRICS_SCRIPT)")
        }
        let png = out ?? ((metrics[0] as NSString).deletingPathExtension + ".png")
        var args = ["python3", script, "--out", png]
        if let t = title { args += ["--title", t] }
        args += ["--"] + metrics
        let status: Int32, errors: String
        do {
            (status, errors) = try runCapturingStderr("/usr/bin/env", args)
        } catch {
            throw UserError("cannot run /usr/bin/env python3 (\(error.localizedDescription)); `nntrain plot` needs python3 with matplotlib")
        }
        switch status {
        case 0:
            print("wrote \(png)")
        case 127:
            throw UserError("python3 not found on PATH; `nntrain plot` draws with python3 and matplotlib (bash launch/setup.sh installs both)")
        case 3:
            throw UserError("python3 cannot import matplotlib; install it with `python3 -m pip install matplotlib` (or bash launch/setup.sh)")
        default:
            // The script's own message ("plot_metrics: error: …"), else its last line (a traceback's exception).
            let last = errors.split(separator: "\n").last.map(String.init)?.replacingOccurrences(of: "plot_metrics: error: ", with: "")
            throw UserError(last ?? "plot_metrics.py failed (exit \(status))")
        }
    }

    /// Runs `executable` with `arguments`, stdout passed through; its exit status and stderr.
    func runCapturingStderr(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
