// The command line as a user meets it: help, a short run, and bad input that must end in
// one clear message and a non-zero exit — never a trap or a stack dump.
import Foundation
import NNCore
import Testing
import Training

@Suite struct CLITests {
    @Test func rootHelpListsCommands() throws {
        let r = try nntrain(["--help"])
        #expect(r.status == 0)
        for word in ["train", "evaluate", "gradcheck", "perceptron"] { #expect(r.stdout.contains(word)) }
    }

    @Test func trainHelpSaysWhatEachOptionDoesAndItsDefault() throws {
        let r = try nntrain(["train", "--help"])
        #expect(r.status == 0)
        for line in ["--batch-size <n|full|auto>", "(default: auto)", "--lr <η>", "(default: 0.05)", "--workers <n>",
                     "--reduction <mode>", "(default: fast)", "--config <file>", "mlp:784-1024-1024-10)",
                     "--blas-threads <n>", "--quiet", "--stall-timeout <seconds>", "(default: 300)"] {
            #expect(r.stdout.contains(line), "help lacks '\(line)'")
        }
    }

    @Test func runsTheWidestBLASKernelTheCPUHas() throws {
        // This test process was not re-executed: if OpenBLAS chose less than the CPU runs here,
        // the CLI must have asked for the better kernel; otherwise it keeps this one.
        let r = try nntrain(["train", "--dataset", "xor", "--model", "mlp:2-4-2", "--epochs", "1"])
        #expect(r.status == 0)
        let want = BLASKernel.recommended ?? BLASKernel.current
        #expect(r.stdout.contains("(OpenBLAS \(want))"), "header: \(r.stdout.prefix(200))")
    }

    @Test func trainsXorAndWritesMetrics() throws {
        let dir = temporaryDirectory()
        let r = try nntrain(["train", "--dataset", "xor", "--model", "mlp:2-4-2", "--activation", "tanh", "--batch-size", "full",
                             "--epochs", "400", "--lr", "0.5", "--schedule", "constant", "--eval-every", "100",
                             "--metrics", "\(dir)/m.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try metricsLines("\(dir)/m.jsonl")
        #expect(lines.count == 401)
        let epoch = lines[0]
        for key in ["event", "epoch", "step", "train_loss", "lr", "samples_per_second", "epoch_seconds", "world_size",
                    "compute_seconds", "comm_seconds"] { #expect(epoch[key] != nil, "missing \(key)") }
        let done = lines.last!
        #expect(done["event"] as? String == "done")
        #expect(done["test_accuracy"] as? Double == 1.0)
        #expect((done["parameters_sha256"] as? String)?.count == 64)
    }

    @Test func sameSeedSameBits() throws {
        let args = ["train", "--dataset", "spirals", "--model", "mlp:2-16-16-2", "--epochs", "3", "--batch-size", "32", "--quiet",
                    "--seed", "7"]
        let d = temporaryDirectory()
        _ = try nntrain(args + ["--metrics", "\(d)/a.jsonl"])
        _ = try nntrain(args + ["--metrics", "\(d)/b.jsonl"])
        let a = try metricsLines("\(d)/a.jsonl").last!["parameters_sha256"] as? String
        let b = try metricsLines("\(d)/b.jsonl").last!["parameters_sha256"] as? String
        #expect(a != nil && a == b)
    }

    func expectCleanFailure(_ args: [String], mentions: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try nntrain(args)
        #expect(r.status != 0, sourceLocation: sourceLocation)
        #expect(r.stderr.contains(mentions), "stderr was: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("Backtrac") && !r.stderr.contains("crashed"),
                sourceLocation: sourceLocation)
    }

    @Test func badInputEndsInOneClearMessage() throws {
        let d = temporaryDirectory()
        try expectCleanFailure(["train", "--data", "/nonexistent/fashion"], mentions: "/nonexistent/fashion: dataset directory not found")
        // An IDX file with a wrong magic number.
        FileManager.default.createFile(atPath: "\(d)/train-images-idx3-ubyte", contents: Data([1, 2, 3, 4, 0, 0, 0, 0]))
        FileManager.default.createFile(atPath: "\(d)/train-labels-idx1-ubyte", contents: Data([0, 0, 8, 1, 0, 0, 0, 0]))
        try expectCleanFailure(["train", "--data", d], mentions: "train-images-idx3-ubyte: wrong magic number 0x01020304")
        // A truncated one.
        FileManager.default.createFile(atPath: "\(d)/train-images-idx3-ubyte", contents: Data([0, 0, 8, 3, 0, 0, 0, 9, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2]))
        try expectCleanFailure(["train", "--data", d], mentions: "truncated")
        // A CSV with a non-numeric cell.
        FileManager.default.createFile(atPath: "\(d)/x.csv", contents: Data("y,a,b\n0,1,2\n1,3,oops\n".utf8))
        try expectCleanFailure(["train", "--dataset", "csv", "--data", "\(d)/x.csv", "--model", "linear"], mentions: "x.csv:3:3: 'oops' is not a number")
        try expectCleanFailure(["train", "--model", "mlp:784-abc-10"], mentions: "mlp needs positive widths")
        try expectCleanFailure(["train", "--model", "transformer"], mentions: "unknown model 'transformer'")
        try expectCleanFailure(["train", "--lr=-0.1"], mentions: "--lr must be a positive number, got -0.1")
        try expectCleanFailure(["train", "--lr", "fast"], mentions: "--lr expects a number, got 'fast'")
        try expectCleanFailure(["train", "--blas-threads", "-1"], mentions: "--blas-threads must be ≥ 1, got -1")
        try expectCleanFailure(["train", "--optimizer", "lbfgs"], mentions: "--optimizer expects one of sgd, adam, got 'lbfgs'")
        try expectCleanFailure(["train", "--dataset", "xor", "--model", "mlp:3-4-2"], mentions: "takes 3 inputs but the data has 2 features")
        // A typo'd config key.
        FileManager.default.createFile(atPath: "\(d)/run.yaml", contents: Data("batch_size: 64\nlr: 0.1\n".utf8))
        try expectCleanFailure(["train", "--config", "\(d)/run.yaml"], mentions: "\(d)/run.yaml: unknown key 'batch_size' (did you mean 'batch-size'?)")
        FileManager.default.createFile(atPath: "\(d)/bad.yaml", contents: Data("lr: [1, {a: b}\n".utf8))
        try expectCleanFailure(["train", "--config", "\(d)/bad.yaml"], mentions: "bad.yaml: not valid YAML")
        try expectCleanFailure(["train", "--config", "\(d)/none.yaml"], mentions: "none.yaml: file not found")
        FileManager.default.createFile(atPath: "\(d)/dup.yaml", contents: Data("lr: 0.1\nepochs: 2\nlr: 0.2\n".utf8))
        try expectCleanFailure(["train", "--config", "\(d)/dup.yaml"], mentions: "\(d)/dup.yaml:3: duplicate key 'lr' (first given at line 1)")
        FileManager.default.createFile(atPath: "\(d)/threads.yaml", contents: Data("blas-threads: 0\n".utf8))
        try expectCleanFailure(["train", "--config", "\(d)/threads.yaml"], mentions: "\(d)/threads.yaml: 'blas-threads' must be ≥ 1, got 0")
        try expectCleanFailure(["train", "--workers", "0"], mentions: "--workers must be ≥ 1")
        try expectCleanFailure(["train", "--metrics", "/proc/nope/m.jsonl", "--dataset", "xor", "--model", "linear"], mentions: "--metrics /proc/nope/m.jsonl")
    }

    @Test func configFileAndFlagsCombine() throws {
        let d = temporaryDirectory()
        FileManager.default.createFile(atPath: "\(d)/run.yaml", contents: Data("""
            dataset: xor
            model: mlp:2-4-2
            activation: tanh
            batch-size: full
            epochs: 50
            lr: 0.5
            schedule: constant
            milestones: [10, 20]
            """.utf8))
        let r = try nntrain(["train", "--config", "\(d)/run.yaml", "--epochs", "2", "--metrics", "\(d)/m.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try metricsLines("\(d)/m.jsonl")
        #expect(lines.count == 3)   // flags override the file: 2 epochs
        #expect(lines[0]["lr"] as? Double == 0.5)
    }

    /// The long flags of a command's `--help` (the first flag of each option line).
    func helpFlags(_ command: String) throws -> Set<String> {
        let r = try nntrain([command, "--help"])
        #expect(r.status == 0)
        var flags = Set<String>()
        for line in r.stdout.split(separator: "\n") {
            // Option lines are indented by two spaces; wrapped help text by more.
            guard line.hasPrefix("  -"), let dashes = line.range(of: "--") else { continue }
            flags.insert(String(line[dashes.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }))
        }
        return flags
    }

    @Test func everyFlagIsAYAMLKeyAndTheReverse() throws {
        let keys = Set(TrainConfig.keys)
        for (command, own) in [("train", ["config", "help", "version"]), ("evaluate", ["config", "help", "version", "checkpoint"])] {
            let flags = try helpFlags(command)
            #expect(flags.subtracting(own) == keys, "\(command): flags without a key \(flags.subtracting(own).subtracting(keys)), keys without a flag \(keys.subtracting(flags))")
        }
        #expect(try helpFlags("experiment").isSuperset(of: keys))
    }

    @Test func everyKeyIsAcceptedInAYAMLFile() throws {
        // Each key, with its default value, in one file: the run must accept every one.
        let d = temporaryDirectory()
        var yaml = ""
        for s in TrainConfig.settings {
            switch s.name {
            case "data", "metrics", "checkpoint-dir", "resume", "tensorboard", "workers", "init": continue
            case "dataset": yaml += "dataset: xor\n"
            case "model": yaml += "model: mlp:2-4-2\n"
            case "epochs": yaml += "epochs: 1\n"
            case "quiet": yaml += "quiet: true\n"
            case "blas-threads": yaml += "blas-threads: 1\n"
            default: yaml += "\(s.name): \(s.text(TrainConfig()))\n"
            }
        }
        yaml += "workers: 2\nmetrics: \(d)/m.jsonl\n"
        FileManager.default.createFile(atPath: "\(d)/all.yaml", contents: Data(yaml.utf8))
        let r = try nntrain(["train", "--config", "\(d)/all.yaml"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty, "quiet: true printed \(r.stdout)")
        let lines = try metricsLines("\(d)/m.jsonl")
        #expect(lines.last?["world_size"] as? Int == 2, "workers: 2 did not give two ranks")
    }

    @Test func negativeValuesAfterAFlagAreValues() throws {
        // The label in the last column, addressed as -1.
        let d = temporaryDirectory()
        FileManager.default.createFile(atPath: "\(d)/t.csv", contents: Data("a,b,y\n0,0,0\n0,1,1\n1,0,1\n1,1,1\n".utf8))
        let r = try nntrain(["train", "--dataset", "csv", "--data", "\(d)/t.csv", "--csv-label-column", "-1", "--model", "linear",
                             "--epochs", "2", "--quiet"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test func gradcheckPasses() throws {
        for loss in ["cross-entropy", "squared", "mse", "bce"] {
            let r = try nntrain(["gradcheck", "--loss", loss, "--activation", "sigmoid", "--l2", "0.01"])
            #expect(r.status == 0, "\(loss): \(r.stdout)")
            #expect(r.stdout.contains("PASS"))
        }
    }

    @Test func perceptron() throws {
        let and = try nntrain(["perceptron", "--dataset", "and"])
        #expect(and.stdout.contains("accuracy 1.00") && and.stdout.contains("converged"))
        let xor = try nntrain(["perceptron", "--dataset", "xor"])
        #expect(xor.stdout.contains("did not converge"))
    }
}
