// LeNet-5 under the data-parallel trainer: in exact reduction mode, one rank and two in-process
// workers must end with bit-identical parameters, as the MLP does.
import Foundation
import Testing
import Training

@Suite struct LeNetDistributedTests {
    static let haveData = FileManager.default.fileExists(atPath: defaultFashionMNISTDirectory + "/train-images-idx3-ubyte.gz")

    @Test(.enabled(if: haveData, "needs Fashion-MNIST in \(defaultFashionMNISTDirectory)"))
    func exactModeIsWorldSizeInvariant() throws {
        var c = TrainConfig()
        c.model = "lenet5"; c.trainSubset = 256; c.testSubset = 100; c.batchSize = 64
        c.epochs = 1; c.steps = 3; c.reduction = .exact; c.evalEvery = 0
        let one = try train(c, plan: RunPlan(workers: 1, blasThreads: 1, quiet: true))
        let two = try train(c, plan: RunPlan(workers: 2, blasThreads: 1, quiet: true))
        #expect(one.steps == 3 && two.steps == 3)
        #expect(one.parameters == 61_706)
        #expect(one.parameters_sha256 == two.parameters_sha256)
        #expect(two.world_size == 2)
    }
}
