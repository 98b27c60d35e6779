// Normalization inside training: the statistics change what is learned, give the same bits for
// any number of workers and across stop/resume, and the reported regression loss is in the
// targets' original units.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData

/// A CSV regression set with features of very different scales and one constant column:
/// t = 300 + 0.2·x₁ + 10·x₂ + noise, x₁ ∈ [0, 1000), x₂ ∈ [−5, 5), x₃ = 7.
func regressionCSV(rows: Int = 96) -> String {
    var rng = RNG(seed: 42)
    var text = "t,x1,x2,x3\n"
    for _ in 0..<rows {
        let x1 = rng.uniform(0, 1000), x2 = rng.uniform(-5, 5)
        let t = 300 + 0.2 * x1 + 10 * x2 + rng.uniform(-1, 1)
        text += "\(t),\(x1),\(x2),7\n"
    }
    let path = temporaryDirectory() + "/reg.csv"
    FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    return path
}

func regressionConfig(_ path: String, _ edit: (inout TrainConfig) -> Void = { _ in }) -> TrainConfig {
    var c = TrainConfig()
    c.dataset = "csv"; c.data = path; c.csvRegression = true; c.loss = "mse"
    c.model = "mlp:3-16-1"; c.batchSize = 16; c.epochs = 3; c.lr = 0.01
    c.schedule = .constant; c.reduction = .exact; c.evalEvery = 1
    edit(&c)
    return c
}

@Suite(.serialized) struct NormalizationTrainingTests {
    @Test func standardizedRunsGiveTheSameBitsForAnyWorkerCount() throws {
        let path = regressionCSV()
        let (ref, refDone) = try trainParameters(regressionConfig(path), workers: 1)
        for n in [2, 3] {
            let (p, done) = try trainParameters(regressionConfig(path), workers: n)
            #expect(p == ref, "workers \(n)")
            #expect(done.test_loss == refDone.test_loss)
        }
        // Normalization is applied: without it the same run learns other parameters.
        let (raw, _) = try trainParameters(regressionConfig(path) { $0.normalize = .none; $0.lr = 1e-7 }, workers: 1)
        #expect(raw != ref)
    }

    @Test func stopAndResumeWithStandardizationIsBitIdentical() throws {
        let path = regressionCSV()
        let plan = RunPlan(workers: 1, blasThreads: 1, quiet: true)
        let straight = try train(regressionConfig(path), plan: plan)
        let dir = temporaryDirectory()
        let first = try trainStopping(regressionConfig(path) { $0.checkpointDir = dir }, workers: 1, stopAfter: 7)
        #expect(first.status == "stopped")
        let resumed = try train(regressionConfig(path) { $0.checkpointDir = dir; $0.resume = "auto" },
                                plan: RunPlan(workers: 2, blasThreads: 1, quiet: true))
        #expect(resumed.parameters_sha256 == straight.parameters_sha256)
        #expect(resumed.test_loss == straight.test_loss)
    }

    /// The test loss the trainer reports equals the MSE computed here, from scratch, in the
    /// targets' units: features standardized by the training set's population mean/std (a
    /// constant column divided by 1), predictions mapped back by the targets' mean/std.
    @Test func reportedRegressionLossIsInOriginalUnits() throws {
        let path = regressionCSV()
        let config = regressionConfig(path)
        let split = try loadData(config)
        let (mse, reported) = try runOnRanks(RunPlan(workers: 1, blasThreads: 1, quiet: true)) { comm -> (Double, Double) in
            let t = try Trainer(config: config, data: split, comm: comm)
            let done = try t.run()
            guard case .floats(let f) = split.train.features else { Issue.record("floats expected"); return (0, 0) }
            let n = split.train.count, k = 3
            func stats(_ v: [Double]) -> (Double, Double) {
                let m = v.reduce(0, +) / Double(v.count)
                let s = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
                return (m, s == 0 ? 1 : s)
            }
            let cols = (0..<k).map { j in stats((0..<n).map { Double(f[$0 * k + j]) }) }
            let (tm, ts) = stats(split.train.targets.map(Double.init))
            var x = [Float](repeating: 0, count: n * k)
            for i in 0..<n { for j in 0..<k { x[i * k + j] = Float((Double(f[i * k + j]) - cols[j].0) / cols[j].1) } }
            let z = x.withUnsafeBufferPointer { t.model.forward($0.baseAddress!, batch: n) }
            var sum = 0.0
            for i in 0..<n { let e = Double(z[i]) * ts + tm - Double(split.train.targets[i]); sum += e * e }
            return (sum / Double(n), done.test_loss ?? .nan)
        }
        #expect(cols3Constant(split.train))
        #expect(abs(reported - mse) <= 1e-4 * mse, "reported \(reported), by hand \(mse)")
        #expect(mse > 1)   // in the targets' units (σ ≈ 65), not the standardized ones
    }
}

/// The third feature column is the constant 7 (so the test covers a zero standard deviation).
func cols3Constant(_ d: Dataset) -> Bool {
    guard case .floats(let f) = d.features else { return false }
    return (0..<d.count).allSatisfy { f[$0 * 3 + 2] == 7 }
}
