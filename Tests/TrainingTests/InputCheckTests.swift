// Checks where a run's inputs enter the launch layer (issue 12): the --data path count, a
// checkpoint directory that cannot be written (found before training), Foundation's file
// errors as words, a model too large for memory, and ranks that disagree, found before the
// model is built.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData

/// The message of the UserError `body` throws, or nil when it throws something else or nothing.
func userMessage(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as UserError { return e.message } catch { return nil }
}

@Suite struct InputCheckTests {
    func csvFile(_ text: String) -> String {
        let path = NSTemporaryDirectory() + "nntrain-\(UUID().uuidString).csv"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    @Test func aThirdCSVPathIsAnErrorNotIgnored() {
        let a = csvFile("0,1\n1,2\n")
        var c = TrainConfig()
        c.dataset = "csv"; c.data = "\(a),\(a),\(a)"
        let m = userMessage { _ = try loadData(c) }
        #expect(m?.hasPrefix("--data '\(a),\(a),\(a)': --dataset csv takes one file") == true)
        #expect(m?.contains("got 3 part(s)") == true)
        c.data = "\(a),"
        #expect(userMessage { _ = try loadData(c) }?.contains("with an empty one") == true)
    }

    @Test func csvTrainAndTestMustAgree() {
        var c = TrainConfig()
        c.dataset = "csv"
        let train = csvFile("0,1,2\n1,2,3\n2,3,4\n"), test = csvFile("0,1,2\n7,1,1\n")
        c.data = "\(train),\(test)"
        #expect(userMessage { _ = try loadData(c) }?.hasPrefix("\(test): test label 7 at index 1 is outside the 3 classes") == true)
    }

    @Test func anUnwritableCheckpointDirectoryIsFoundAtTheStart() {
        // /proc exists and refuses new files, even to root (whom permission bits do not stop).
        let m = userMessage { try prepareWritableDirectory("/proc", what: "--checkpoint-dir /proc") }
        #expect(m?.hasPrefix("--checkpoint-dir /proc: the directory is not writable") == true)
        var c = TrainConfig()
        c.dataset = "blobs"; c.model = "linear"; c.epochs = 1; c.checkpointDir = "/proc"
        #expect(userMessage { _ = try Checkpointer(config: c, comm: SingleCommunicator()) }?.hasPrefix("--checkpoint-dir /proc:") == true)
    }

    @Test func foundationFileErrorsAreWordsNotCocoaCodes() {
        let file = csvFile("0,1\n")
        let m = userMessage { try prepareWritableDirectory("\(file)/sub", what: "--checkpoint-dir \(file)/sub") }
        #expect(m?.hasPrefix("--checkpoint-dir \(file)/sub: cannot create the directory (") == true)
        #expect(m?.contains("NSCocoaErrorDomain") == false)
    }

    @Test func aModelLargerThanMemoryIsRefusedBeforeBuilding() throws {
        var c = TrainConfig()
        c.dataset = "blobs"; c.model = "mlp:2-1000000000-1000000-3"; c.epochs = 1
        let data = try loadData(c)
        #expect(userMessage { try checkModelMemory(config: c, data: data) }?.contains("more than this machine's memory") == true)
    }

    @Test func ranksWithAnotherModelAreStoppedBeforeTheModelIsBuilt() throws {
        var c = TrainConfig()
        c.dataset = "blobs"; c.model = "mlp:2-64-3"; c.epochs = 1
        var small = c; small.model = "mlp:2-32-3"
        let data = try loadData(c)
        let m = userMessage {
            _ = try runOnRanks(RunPlan(workers: 2, blasThreads: 1, quiet: true)) { comm in
                try train(config: comm.rank == 1 ? small : c, data: data, comm: comm, quiet: true)
            }
        }
        #expect(m?.hasPrefix("ranks disagree on configuration, model or data: rank(s) 1 differ from rank 0") == true)
    }
}
