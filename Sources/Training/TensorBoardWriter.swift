// TensorBoardWriter: `--tensorboard DIR`. A reporter (rank 0's, beside the console and the
// metrics JSONL) that appends the scalars a user watches to a TensorBoard event file, so
// `tensorboard --logdir DIR` shows the run as PyTorch's SummaryWriter would.
//
// Every run writes a new file `events.out.tfevents.<seconds>.<host>.<pid>.<n>` in DIR
// (SummaryWriter's name); a resumed run's file continues the checkpoint's global steps and
// begins with a SessionLog START, so TensorBoard drops what the interrupted run logged after
// that checkpoint.
import Foundation
import NNCore

/// Writes epoch and step metrics as TensorBoard scalars (rank 0 only).
///
/// Tags, with the global optimizer step as the x axis:
/// - per epoch: `train/loss`, `test/loss`, `test/accuracy`, `train/lr`,
///   `perf/samples_per_second`, `perf/epoch_seconds`, `perf/compute_seconds`,
///   `perf/comm_seconds`, `perf/comm_wait_seconds` (the fields of the metrics JSONL's epoch line);
/// - per step line (`--log-every-steps N`): `step/train_loss`, `step/batch_loss`,
///   `step/test_loss`, `step/test_accuracy`, `step/lr` (those present in the line).
///
/// Values are stored as 32-bit floats (TensorBoard's `simple_value`).
public final class TensorBoardWriter: TrainingReporter, StepMetricsReporter {
    /// The event file this writer appends to.
    public let path: String
    private let handle: FileHandle
    /// Set by the first failed write; later events are not attempted.
    public private(set) var writeFailed = false
    nonisolated(unsafe) private static var filesMade = 0
    private static let lock = NSLock()

    /// Creates `directory` if needed and a new event file in it, and writes its first event.
    ///
    /// - Parameter resumedAt: the global step a resumed run continues from (nil: a new run);
    ///   the file then starts with a SessionLog START at `resumedAt + 1`.
    /// - Throws: UserError when the directory or the file cannot be created.
    public init(directory: String, resumedAt: Int? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw UserError("--tensorboard \(directory): cannot create the directory (\(error.localizedDescription))")
        }
        let now = Date().timeIntervalSince1970
        let host = ProcessInfo.processInfo.hostName.isEmpty ? "localhost" : ProcessInfo.processInfo.hostName
        TensorBoardWriter.lock.lock()
        let n = TensorBoardWriter.filesMade
        TensorBoardWriter.filesMade += 1
        TensorBoardWriter.lock.unlock()
        let name = String(format: "events.out.tfevents.%010d.", Int(now)) + "\(host).\(ProcessInfo.processInfo.processIdentifier).\(n)"
        path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let h = FileHandle(forWritingAtPath: path) else {
            throw UserError("--tensorboard \(directory): cannot create the event file \(name) (is the directory writable?)")
        }
        handle = h
        append(TensorBoardEvent.fileVersionEvent(wallTime: now))
        if let s = resumedAt { append(TensorBoardEvent.sessionStartEvent(step: s + 1, wallTime: now)) }
    }

    deinit { try? handle.close() }

    private func append(_ event: [UInt8]) {
        guard !writeFailed else { return }
        do { try handle.write(contentsOf: TensorBoardEvent.record(event)) } catch { writeFailed = true }
    }

    /// One event with the present (non-nil) values at `step`.
    func scalars(_ values: [(String, Double?)], step: Int) {
        let present = values.compactMap { tag, v in v.map { (tag: tag, value: Float($0)) } }
        guard !present.isEmpty else { return }
        append(TensorBoardEvent.scalarsEvent(present, step: step, wallTime: Date().timeIntervalSince1970))
    }

    public func epoch(_ m: EpochMetrics) {
        scalars([("train/loss", m.train_loss), ("test/loss", m.test_loss), ("test/accuracy", m.test_accuracy),
                 ("train/lr", m.lr), ("perf/samples_per_second", m.samples_per_second),
                 ("perf/epoch_seconds", m.epoch_seconds), ("perf/compute_seconds", m.compute_seconds),
                 ("perf/comm_seconds", m.comm_seconds), ("perf/comm_wait_seconds", m.comm_wait_seconds)],
                step: m.step)
    }

    public func stepMetrics(_ m: StepMetrics) {
        scalars([("step/train_loss", m.train_loss), ("step/batch_loss", m.batch_loss), ("step/test_loss", m.test_loss),
                 ("step/test_accuracy", m.test_accuracy), ("step/lr", m.lr)],
                step: m.step)
    }

    public func done(_ m: DoneMetrics) { try? handle.synchronize() }
    public func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double) {}
    public func message(_ text: String) {}
}
