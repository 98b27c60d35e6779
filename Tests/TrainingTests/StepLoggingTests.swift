// Step lines (--log-every-steps): their steps, sample counts and batch losses in the metrics JSONL.
import Foundation
import Testing
@testable import Training

@Suite struct StepLoggingTests {
    @Test func logEveryStepsWritesStepLines() throws {
        var c = TrainConfig()
        for (k, v) in [("dataset", "blobs"), ("model", "linear"), ("batch-size", "100"), ("epochs", "2"), ("momentum", "0"),
                       ("schedule", "constant"), ("log-every-steps", "4")] { try c.set(k, v) }
        let path = NSTemporaryDirectory() + "nntrain-steps-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        c.metrics = path
        try train(c, plan: RunPlan(quiet: true))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let steps = lines.filter { $0.contains("\"event\":\"step\"") }.map {
            try! JSONDecoder().decode(StepMetrics.self, from: Data($0.utf8))
        }
        // 600 blobs / 100 = 6 steps per epoch, 12 in all: lines at 0, 4, 8, 12.
        #expect(steps.map(\.step) == [0, 4, 8, 12])
        #expect(steps.map(\.examples_processed) == [0, 400, 800, 1200])
        #expect(steps.last!.epoch == 2)
    }

    @Test func stepLinesCountEveryStepLossEvenAtEpochEnds() throws {
        // Full batch: every step ends an epoch, so the step line's batch loss must equal the epoch's train loss.
        var c = TrainConfig()
        for (k, v) in [("dataset", "blobs"), ("model", "linear"), ("batch-size", "full"), ("epochs", "3"), ("momentum", "0"),
                       ("schedule", "constant"), ("log-every-steps", "1")] { try c.set(k, v) }
        let path = NSTemporaryDirectory() + "nntrain-steps-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        c.metrics = path
        try train(c, plan: RunPlan(quiet: true))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let steps = lines.filter { $0.contains("\"event\":\"step\"") }.map { try! JSONDecoder().decode(StepMetrics.self, from: Data($0.utf8)) }
        let epochs = lines.filter { $0.contains("\"event\":\"epoch\"") }.map { try! JSONDecoder().decode(EpochMetrics.self, from: Data($0.utf8)) }
        #expect(steps.map(\.step) == [0, 1, 2, 3])
        #expect(steps.first?.batch_loss == nil)
        let batch = steps.dropFirst().map { $0.batch_loss ?? .nan }
        #expect(batch.count == epochs.count)
        #expect(zip(batch, epochs.map(\.train_loss)).allSatisfy { abs($0 - $1) <= 1e-12 * abs($1) }, "\(batch) vs \(epochs.map(\.train_loss))")
    }
}
