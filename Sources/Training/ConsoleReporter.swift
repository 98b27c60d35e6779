// ConsoleReporter: rank 0's voice. A progress bar on a terminal, plain lines otherwise,
// a final summary; and the metrics JSONL file.
import Foundation
import NNCore

/// Prints progress and writes metrics lines (rank 0 only).
public final class ConsoleReporter: TrainingReporter {
    let interactive: Bool
    let quiet: Bool
    var metricsFile: FileHandle?
    public let metricsPath: String?
    var lastDraw = 0.0
    var epochs: Int
    var epochStartTime = Trainer.now()

    /// - Parameters:
    ///   - metricsPath: the JSONL file to write (created or truncated), nil for none.
    ///   - epochs: total epochs, for the progress line.
    /// - Throws: UserError when the metrics file cannot be created.
    public init(metricsPath: String?, epochs: Int, quiet: Bool = false, append: Bool = false) throws {
        interactive = isatty(STDOUT_FILENO) != 0 && !quiet
        self.quiet = quiet
        self.epochs = epochs
        self.metricsPath = metricsPath
        if let path = metricsPath {
            let url = URL(fileURLWithPath: path)
            let dir = url.deletingLastPathComponent().path
            if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            if !(append && FileManager.default.fileExists(atPath: path)) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw UserError("--metrics \(path): cannot create the file (does its directory exist and is it writable?)")
                }
            }
            guard let h = FileHandle(forWritingAtPath: path) else { throw UserError("--metrics \(path): cannot open for writing") }
            h.seekToEndOfFile()
            metricsFile = h
        }
    }

    func write(_ line: String) {
        metricsFile?.write(Data((line + "\n").utf8))
    }

    public func message(_ text: String) {
        if interactive { print("\r\u{1B}[K", terminator: "") }
        if !quiet { print(text); fflush(stdout) }
    }

    public func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double) {
        guard interactive else { return }
        let now = Trainer.now()
        if stepInEpoch == 1 { epochStartTime = now }
        guard now - lastDraw > 0.2 || stepInEpoch == stepsPerEpoch else { return }
        lastDraw = now
        let frac = Double(stepInEpoch) / Double(max(stepsPerEpoch, 1))
        let width = 24
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let elapsed = now - epochStartTime
        let eta = frac > 0 ? elapsed * (1 - frac) / frac : 0
        let line = String(format: "epoch %d/%d %@ %3.0f%%  loss %.4f  %.0f samples/s  ETA %@",
                          epoch + 1, epochs, bar, frac * 100, loss, samplesPerSecond, formatDuration(eta))
        print("\r\u{1B}[K" + line, terminator: "")
        fflush(stdout)
    }

    public func epoch(_ m: EpochMetrics) {
        write(jsonLine(m))
        var text = String(format: "epoch %d/%d  train_loss %.4f", m.epoch, epochs, m.train_loss)
        if let l = m.test_loss { text += String(format: "  test_loss %.4f", l) }
        if let a = m.test_accuracy { text += String(format: "  test_acc %.4f", a) }
        text += String(format: "  lr %.4g  %.0f samples/s  %.1fs", m.lr, m.samples_per_second, m.epoch_seconds)
        if m.world_size > 1 { text += String(format: "  (compute %.1fs, comm %.2fs)", m.compute_seconds, m.comm_seconds) }
        message(text)
    }

    public func done(_ m: DoneMetrics) {
        write(jsonLine(m))
        var text = "done: \(m.epochs) epoch(s), \(m.steps) steps in \(formatDuration(m.seconds))"
        if let a = m.test_accuracy { text += String(format: ", test accuracy %.4f", a) }
        if let l = m.test_loss { text += String(format: ", test loss %.4f", l) }
        text += String(format: ", %.0f samples/s", m.samples_per_second)
        if m.status == "stopped" { text += " (stopped early)" }
        message(text)
        if !quiet { print("parameters_sha256 \(m.parameters_sha256)") }
        try? metricsFile?.synchronize()
    }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
}
