// The perceptron rule learns AND and OR and never XOR.
import Testing
@testable import NeuralNet

@Suite struct PerceptronTests {
    let x: [Double] = [0, 0, 0, 1, 1, 0, 1, 1]

    func train(_ labels: [Int]) -> Perceptron {
        var p = Perceptron(inputs: 2)
        for _ in 0..<100 where p.epoch(features: x, labels: labels, inputs: 2, order: [0, 1, 2, 3]) > 0 {}
        return p
    }

    @Test func learnsAndAndOr() {
        #expect(train([0, 0, 0, 1]).accuracy(features: x, labels: [0, 0, 0, 1], inputs: 2) == 1)
        #expect(train([0, 1, 1, 1]).accuracy(features: x, labels: [0, 1, 1, 1], inputs: 2) == 1)
    }

    @Test func neverXor() {
        var p = Perceptron(inputs: 2)
        for _ in 0..<1000 { p.epoch(features: x, labels: [0, 1, 1, 0], inputs: 2, order: [0, 1, 2, 3]) }
        #expect(p.accuracy(features: x, labels: [0, 1, 1, 0], inputs: 2) <= 0.75)
    }
}
