// End-to-end checks of `nntrain experiment`: a tiny version of each experiment runs through
// the library, and its tidy CSV must have the documented columns, a non-decreasing
// examples_processed per arm, and no NaN or infinity outside arms marked diverged.
@testable import Experiments
import Foundation
import NNData
import Testing
import Training

/// The parsed results.csv of an experiment directory.
struct ResultsCSV {
    var header: [String]
    var rows: [[String: String]]

    init(_ dir: String) throws {
        let text = try String(contentsOfFile: dir + "/results.csv", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        header = lines.first.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? []
        let h = header
        rows = lines.dropFirst().map { line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            return Dictionary(uniqueKeysWithValues: zip(h, f))
        }
    }

    var arms: [String] { var seen: [String] = []; for r in rows where !seen.contains(r["arm"]!) { seen.append(r["arm"]!) }; return seen }

    func rows(of arm: String) -> [[String: String]] { rows.filter { $0["arm"] == arm } }
}

/// Runs `name` tiny into a fresh directory and checks the CSV invariants every experiment shares.
@discardableResult
func runTiny(_ name: String, _ overrides: [(String, String)], arms: [String] = [], workers: [Int] = [1, 2]) throws -> (ResultsCSV, [ArmResult], String) {
    var s = ExperimentSettings()
    s.overrides = overrides
    s.points = 4
    s.trainEvalSubset = 200
    s.scalingWorkers = workers
    s.armFilter = arms
    let spec = try ExperimentSpec.make(name, settings: s)
    let dir = NSTemporaryDirectory() + "nntrain-exp-\(name)-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (results, isRoot) = try runExperiment(spec, out: dir, plan: RunPlan(quiet: true))
    #expect(isRoot)
    let csv = try ResultsCSV(dir)
    #expect(csv.header == experimentCSVColumns)
    #expect(Set(csv.arms) == Set(spec.arms.map(\.name)), "every arm has rows")
    for f in ["summary.md", "experiment.json"] {
        #expect(FileManager.default.fileExists(atPath: dir + "/" + f), "\(f) written")
    }
    for arm in spec.arms where arm.kind == .train {
        #expect(FileManager.default.fileExists(atPath: dir + "/\(arm.name).jsonl"), "\(arm.name).jsonl written")
    }
    for arm in csv.arms {
        let rows = csv.rows(of: arm)
        let ex = rows.map { Int($0["examples_processed"]!)! }
        #expect(ex.first == 0, "\(arm) starts at 0 examples")
        #expect(zip(ex, ex.dropFirst()).allSatisfy { $0 <= $1 }, "\(arm): examples_processed must not decrease: \(ex)")
        #expect(ex.last! > 0, "\(arm) processed examples")
        let diverged = rows.allSatisfy { $0["diverged"] == "1" }
        #expect(rows.allSatisfy { $0["diverged"] == rows[0]["diverged"] }, "\(arm): one diverged value per arm")
        if !diverged {
            for r in rows {
                for k in ["train_loss", "test_loss", "test_accuracy", "wall_seconds", "lr", "epoch"] {
                    let v = r[k] ?? ""
                    #expect(v.isEmpty || Double(v)?.isFinite == true, "\(arm) step \(r["step"]!): \(k) = \(v) in an arm not marked diverged")
                }
            }
        }
    }
    let summary = try String(contentsOfFile: dir + "/summary.md", encoding: .utf8)
    for arm in csv.arms { #expect(summary.contains("| \(arm) |"), "summary lists \(arm)") }
    return (csv, results, summary)
}

let tinyMLP: [(String, String)] = [("train-subset", "300"), ("test-subset", "200"), ("epochs", "1")]

@Suite(.serialized) struct ExperimentEndToEndTests {
    @Test func batchVsStochastic() throws {
        let (csv, results, _) = try runTiny("batch-vs-stochastic", tinyMLP + [("train-subset", "256")])
        // Same budget of examples: every arm ends at epochs × N examples.
        let budgets = Set(csv.arms.map { csv.rows(of: $0).last!["examples_processed"]! })
        #expect(budgets == ["256"], "one examples budget for all arms, got \(budgets)")
        // The linear arms report J(θ) − J(θ*) ≥ 0 (up to rounding), and |B| = 1 makes the most updates.
        for r in csv.rows where r["group"] == "linear" {
            #expect((Double(r["suboptimality"]!) ?? -1) > -1e-9, "suboptimality ≥ 0: \(r)")
        }
        let b1 = results.first { $0.arm == "linear-b1" }!, full = results.first { $0.arm == "linear-full" }!
        #expect(b1.rows.last!.updates == 256 && full.rows.last!.updates == 1)
    }

    @Test func learningRateMarksDivergence() throws {
        let (csv, results, summary) = try runTiny("learning-rate", tinyMLP, arms: ["linear-gd-lr0.01", "linear-gd-lr3", "mlp-lr0.1", "schedule"])
        // η = 3 > 2/L on least squares: full-batch GD must blow up, and be reported, not thrown.
        let big = results.first { $0.arm == "linear-gd-lr3" }!
        #expect(big.diverged)
        #expect(csv.rows(of: "linear-gd-lr3").allSatisfy { $0["diverged"] == "1" })
        #expect(summary.contains("Diverged:"))
        #expect(!results.first { $0.arm == "linear-gd-lr0.01" }!.diverged)
    }

    @Test func linearLimits() throws {
        let (_, results, _) = try runTiny("linear-limits", [])
        func acc(_ a: String) -> Double? { results.first { $0.arm == a }?.rows.last?.test_accuracy ?? nil }
        #expect(acc("and-perceptron") == 1 && acc("or-perceptron") == 1)
        #expect(acc("xor-perceptron")! < 1, "a linear threshold unit cannot fit XOR")
        #expect(acc("xor-linear")! < 1)
        #expect(acc("xor-mlp4") == 1, "4 hidden units fit XOR")
        #expect(results.allSatisfy { $0.grid.count == 61 * 61 })
    }

    @Test func tensorboardGivesEachTrainedArmItsOwnRun() throws {
        let tb = NSTemporaryDirectory() + "nntrain-exp-tb-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: tb) }
        try runTiny("linear-limits", [("tensorboard", tb)], arms: ["xor-"])
        let runs = try FileManager.default.contentsOfDirectory(atPath: tb).sorted()
        // The perceptron arm does not go through the trainer, so it has no event file.
        #expect(runs == ["xor-linear", "xor-mlp4"])
        for r in runs {
            let files = try FileManager.default.contentsOfDirectory(atPath: tb + "/" + r)
            #expect(files.count == 1 && files[0].hasPrefix("events.out.tfevents."), "\(r): \(files)")
        }
    }

    @Test func nonlinearities() throws {
        let (_, results, _) = try runTiny("nonlinearities", tinyMLP)
        #expect(results.map(\.arm) == ["step", "sigmoid", "tanh", "relu", "leaky-relu"])
    }

    @Test func depthVsWidth() throws {
        let (_, results, _) = try runTiny("depth-vs-width", tinyMLP)
        let p = results.map(\.parameters)
        #expect(p.count == 5)
        #expect(p.allSatisfy { abs($0 - p[0]) * 100 < p[0] }, "about the same parameter count: \(p)")
    }

    @Test func scalingRunsEachWorkerCount() throws {
        let (csv, _, _) = try runTiny("scaling", tinyMLP, workers: [1, 2])
        let sizes = Set(csv.rows.map { $0["world_size"]! })
        #expect(sizes == ["1", "2"])
    }
}

@Suite struct RidgeTests {
    @Test func ridgeClosedFormIsTheMinimum() throws {
        var c = TrainConfig()
        c.trainSubset = 500
        let split = try ExperimentSpec.regressionWithoutConstant(c)
        let (theta, j) = Ridge.optimum(split.train, lambda: 0.01)
        // Any perturbation raises J (strict convexity).
        for i in theta.indices {
            var t = theta
            t[i] += 1e-3
            #expect(Ridge.objective(theta: t, split.train, lambda: 0.01) > j)
        }
    }
}
