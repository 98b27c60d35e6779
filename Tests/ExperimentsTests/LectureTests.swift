// The lecture's claims about what linear models and small MLPs can learn, checked.
import Experiments
import Testing
import Training

@Suite struct LectureTests {
    func xorConfig(_ model: String) -> TrainConfig {
        var c = TrainConfig()
        c.dataset = "xor"; c.model = model; c.activation = "tanh"; c.batchSize = nil
        c.epochs = 500; c.lr = 0.5; c.momentum = 0.9; c.schedule = .constant; c.evalEvery = 0
        return c
    }

    /// Trains `config` on one worker through the library's public `train`; rank 0's final metrics.
    func trainXor(_ config: TrainConfig) throws -> DoneMetrics {
        try train(config, plan: RunPlan(workers: 1, blasThreads: 1, quiet: true))
    }

    @Test func mlpWithFourHiddenUnitsLearnsXor() throws {
        let done = try trainXor(xorConfig("mlp:2-4-2"))
        #expect(done.test_accuracy == 1.0)
    }

    @Test(arguments: ["xor"])
    func linearModelCannotLearnXor(_ name: String) throws {
        let done = try trainXor(xorConfig("linear"))
        #expect(done.test_accuracy! <= 0.75)
    }

    @Test func perceptronRuleLearnsAndOrNotXor() throws {
        let and = try NNTrainPerceptron.run("and"), or = try NNTrainPerceptron.run("or"), xor = try NNTrainPerceptron.run("xor")
        #expect(and == 1.0 && or == 1.0)
        #expect(xor <= 0.75)
    }

    @Test func linearModelLearnsAndAndOr() throws {
        for gate in ["and", "or"] {
            var c = xorConfig("linear"); c.dataset = gate; c.epochs = 2000
            let done = try trainXor(c)
            #expect(done.test_accuracy == 1.0, "\(gate)")
        }
    }
}
