// nntrain under mpirun: the same numbers as one process and as in-process workers, and
// failures that end the whole job with the failing rank's message instead of hanging.
import Foundation
import Testing

/// A small Fashion-MNIST job: 50 steps of an MLP on a subset, evaluation on 500 test images.
let smallJob = ["train", "--model", "mlp:784-64-64-10", "--train-subset", "1000", "--test-subset", "500",
                "--batch-size", "64", "--steps", "50", "--lr", "0.05", "--schedule", "constant", "--quiet"]

func done(_ path: String) throws -> [String: Any] {
    guard let d = try metricsLines(path).last, d["event"] as? String == "done" else { throw HarnessError("\(path): no done line") }
    return d
}

/// Runs `job` under `mpirun -np n` and on `n` in-process workers; expects both to succeed, the
/// MPI run to report `exchange`, and the same parameters bit for bit. Returns the MPI run's done line.
func mpiMatchesWorkers(_ job: [String], ranks n: Int, exchange: String, in d: String) throws -> [String: Any] {
    let r = try mpirun(["-np", "\(n)", nntrainBinary] + job + ["--metrics", "\(d)/np\(n).jsonl"])
    #expect(r.status == 0 && !r.timedOut, "np \(n): \(r.stderr)")
    let w = try nntrain(job + ["--workers", "\(n)", "--metrics", "\(d)/w\(n).jsonl"])
    #expect(w.status == 0, "workers \(n): \(w.stderr)")
    let a = try done("\(d)/np\(n).jsonl"), b = try done("\(d)/w\(n).jsonl")
    #expect(a["exchange"] as? String == exchange)
    #expect(a["parameters_sha256"] as? String == b["parameters_sha256"] as? String, "np \(n) vs workers \(n)")
    return a
}

@Suite(.serialized) struct MPITests {
    @Test func exactModeIsBitIdenticalAcrossRanksAndWorkers() throws {
        let d = temporaryDirectory()
        var shas: [String: String] = [:]
        for np in [1, 2, 4] {
            let r = try mpirun(["-np", "\(np)", nntrainBinary] + smallJob + ["--reduction", "exact", "--metrics", "\(d)/mpi\(np).jsonl"])
            #expect(r.status == 0 && !r.timedOut, "np \(np): \(r.stderr)")
            shas["mpi \(np)"] = try done("\(d)/mpi\(np).jsonl")["parameters_sha256"] as? String
            #expect(try done("\(d)/mpi\(np).jsonl")["world_size"] as? Int == np)
            #expect(try done("\(d)/mpi\(np).jsonl")["exchange"] as? String == (np == 1 ? "allreduce" : "shared 1x\(np)"))
        }
        for w in [1, 2, 4] {
            let r = try nntrain(smallJob + ["--reduction", "exact", "--workers", "\(w)", "--metrics", "\(d)/w\(w).jsonl"])
            #expect(r.status == 0, "workers \(w): \(r.stderr)")
            shas["workers \(w)"] = try done("\(d)/w\(w).jsonl")["parameters_sha256"] as? String
        }
        #expect(Set(shas.values).count == 1, "\(shas)")
        #expect(shas.count == 6)
    }

    @Test func fastModeAgreesWithOneProcess() throws {
        let d = temporaryDirectory()
        _ = try nntrain(smallJob + ["--metrics", "\(d)/one.jsonl"])
        let ref = try done("\(d)/one.jsonl")
        for np in [2, 4] {
            let r = try mpirun(["-np", "\(np)", nntrainBinary] + smallJob + ["--metrics", "\(d)/np\(np).jsonl"])
            #expect(r.status == 0, "\(r.stderr)")
            let m = try done("\(d)/np\(np).jsonl")
            for key in ["train_loss", "test_loss", "test_accuracy"] {
                let a = m[key] as! Double, b = ref[key] as! Double
                #expect(abs(a - b) <= 1e-5 * max(abs(b), 1e-3), "np \(np) \(key): \(a) vs \(b)")
            }
            #expect(m["steps"] as? Int == 50)
        }
    }

    @Test func sharedExchangeUnderMPIGivesTheWorkersBits() throws {
        // Ranks of one node sum their gradients in shared memory in rank order, as the
        // in-process workers do: the same parameters bit for bit, and the allreduce path agrees.
        let d = temporaryDirectory()
        for n in [2, 4] {
            let a = try mpiMatchesWorkers(smallJob, ranks: n, exchange: "shared 1x\(n)", in: d)
            let x = try mpirun(["-np", "\(n)", nntrainBinary] + smallJob + ["--exchange", "allreduce", "--metrics", "\(d)/ar\(n).jsonl"])
            #expect(x.status == 0, "\(x.stderr)")
            let c = try done("\(d)/ar\(n).jsonl")
            #expect(c["exchange"] as? String == "allreduce")
            for key in ["train_loss", "test_loss"] {
                let u = a[key] as! Double, v = c[key] as! Double
                #expect(abs(u - v) <= 1e-5 * abs(v), "np \(n) \(key): shared \(u) vs allreduce \(v)")
            }
            if n == 2 {
                // Two ranks: a + b is the same bits whoever adds, so MPI's allreduce and the
                // shared exchange must agree exactly (this catches a bug both shared paths share).
                #expect(a["parameters_sha256"] as? String == c["parameters_sha256"] as? String, "np 2: shared vs MPI allreduce")
            }
        }
    }

    @Test func factorExchangeUnderMPIGivesTheWorkersBits() throws {
        // A wider MLP, whose batch factors are fewer than its weights: the ranks share factors
        // in the MPI-3 window as the workers do in memory — the same bits — and agree with one process.
        let d = temporaryDirectory()
        var job = smallJob
        job[job.firstIndex(of: "mlp:784-64-64-10")!] = "mlp:784-256-256-10"
        _ = try nntrain(job + ["--metrics", "\(d)/one.jsonl"])
        let ref = try done("\(d)/one.jsonl")
        for n in [2, 4] {
            let a = try mpiMatchesWorkers(job, ranks: n, exchange: "factors 1x\(n)", in: d)
            for key in ["train_loss", "test_loss"] {
                let u = a[key] as! Double, v = ref[key] as! Double
                #expect(abs(u - v) <= 1e-5 * abs(v), "np \(n) \(key): factors \(u) vs one process \(v)")
            }
        }
    }

    @Test func onlyRankZeroWrites() throws {
        let d = temporaryDirectory()
        let r = try mpirun(["-np", "2", nntrainBinary, "train", "--dataset", "xor", "--model", "linear", "--epochs", "2",
                            "--metrics", "\(d)/m.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.components(separatedBy: "parameters_sha256").count == 2, "exactly one summary: \(r.stdout)")
        #expect(r.stdout.contains("on 2 MPI ranks"))
        #expect(try metricsLines("\(d)/m.jsonl").count == 3)
    }

    @Test func workersUnderMpirunIsAnError() throws {
        let r = try mpirun(["-np", "2", nntrainBinary, "train", "--dataset", "xor", "--workers", "2"], timeout: 60)
        #expect(r.status != 0 && !r.timedOut)
        #expect(r.stderr.contains("--workers is for runs without mpirun"))
    }

    @Test func aMissingFileOnOneRankEndsTheJob() throws {
        // MPMD: rank 1 is pointed at a dataset directory that does not exist on "its host".
        let r = try mpirun(["-np", "1", nntrainBinary] + smallJob + [":", "-np", "1", nntrainBinary] + smallJob + ["--data", "/nonexistent/fmnist"],
                           timeout: 90)
        #expect(!r.timedOut, "the job hung")
        #expect(r.status != 0)
        #expect(r.stderr.contains("rank 1 of 2") && r.stderr.contains("/nonexistent/fmnist: dataset directory not found"), "\(r.stderr)")
    }

    @Test func fingerprintMismatchNamesTheRank() throws {
        let r = try mpirun(["-np", "2", nntrainBinary] + smallJob + [":", "-np", "1", nntrainBinary] + smallJob + ["--lr", "0.1"],
                           timeout: 90)
        #expect(!r.timedOut, "the job hung")
        #expect(r.status != 0)
        #expect(r.stderr.contains("rank(s) 2 differ from rank 0"), "\(r.stderr)")
    }
}
