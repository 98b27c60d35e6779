// Perceptron runs on the synthetic gates (the lecture's linear-limits demonstration).
import Foundation
import NNCore
import NNData
import NeuralNet
import Training

/// The outcome of a perceptron run.
public struct PerceptronResult: Sendable {
    public var accuracy: Double
    public var epochs: Int
    public var converged: Bool
    public var weights: [Double]
    public var bias: Double
    public var summary: String
}

/// Trains the perceptron rule on a two-class dataset until an error-free pass or `epochs`.
public func runPerceptron(dataset: String, epochs: Int, lr: Double, seed: UInt64) throws -> PerceptronResult {
    let split = try Synthetic.split(dataset, seed: seed)
    let d = split.train
    guard case .classification(let c) = d.task, c <= 2 else { throw UserError("the perceptron needs a two-class dataset, '\(dataset)' is not") }
    guard case .floats(let f) = d.features else { throw UserError("the perceptron needs real features") }
    let feats = f.map(Double.init)
    let labels = d.labels.map(Int.init)
    var p = Perceptron(inputs: d.sampleSize, learningRate: lr)
    var rng = RNG(seed: seed)
    var order = Array(0..<d.count)
    var used = 0, converged = false
    for e in 0..<epochs {
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, rng.int(below: i + 1)) }
        used = e + 1
        if p.epoch(features: feats, labels: labels, inputs: d.sampleSize, order: order) == 0 { converged = true; break }
    }
    let acc = p.accuracy(features: feats, labels: labels, inputs: d.sampleSize)
    let text = String(format: "perceptron on %@: accuracy %.2f after %d epoch(s), %@; w = %@, b = %.3g",
                      dataset, acc, used, converged ? "converged (no mistakes in a pass)" : "did not converge",
                      "[" + p.weights.map { String(format: "%.3g", $0) }.joined(separator: ", ") + "]", p.bias)
    return PerceptronResult(accuracy: acc, epochs: used, converged: converged, weights: p.weights, bias: p.bias, summary: text)
}

/// Test and experiment entry point: accuracy of the perceptron rule on a gate.
public enum NNTrainPerceptron {
    public static func run(_ gate: String, epochs: Int = 100, seed: UInt64 = 0) throws -> Double {
        try runPerceptron(dataset: gate, epochs: epochs, lr: 1, seed: seed).accuracy
    }
}
