// Perceptron: Rosenblatt's learning rule for one linear unit with a step output.
// It is not gradient descent (the step has no useful gradient): on a mistake,
// w ← w + η (y − ŷ) x and b ← b + η (y − ŷ). It converges on linearly separable data
// (AND, OR) and never on XOR.

/// A single threshold unit ŷ = step(w·x + b) trained by the perceptron rule.
public struct Perceptron: Sendable {
    public private(set) var weights: [Double]
    public private(set) var bias: Double = 0
    public let learningRate: Double

    public init(inputs: Int, learningRate: Double = 1) {
        weights = Array(repeating: 0, count: inputs)
        self.learningRate = learningRate
    }

    /// ŷ ∈ {0, 1}.
    public func predict(_ x: ArraySlice<Double>) -> Int {
        var s = bias
        for (w, v) in zip(weights, x) { s += w * v }
        return s > 0 ? 1 : 0
    }

    /// One pass over the data in the given order; returns the number of mistakes.
    @discardableResult
    public mutating func epoch(features: [Double], labels: [Int], inputs: Int, order: [Int]) -> Int {
        var mistakes = 0
        for i in order {
            let x = features[(i * inputs)..<((i + 1) * inputs)]
            let err = labels[i] - predict(x)
            if err != 0 {
                mistakes += 1
                for j in 0..<inputs { weights[j] += learningRate * Double(err) * x[x.startIndex + j] }
                bias += learningRate * Double(err)
            }
        }
        return mistakes
    }

    /// Fraction of samples classified correctly.
    public func accuracy(features: [Double], labels: [Int], inputs: Int) -> Double {
        guard !labels.isEmpty else { return 0 }
        var right = 0
        for i in 0..<labels.count where predict(features[(i * inputs)..<((i + 1) * inputs)]) == labels[i] { right += 1 }
        return Double(right) / Double(labels.count)
    }
}
