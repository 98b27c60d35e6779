// Activation functions as free functions, and one thin layer wrapping them (mlx-swift style).
import NNCore

/// The elementwise nonlinearities of the lecture.
public enum Activation: Equatable, Sendable, CustomStringConvertible {
    /// Heaviside step: 1 if x > 0 else 0. Its derivative is 0 almost everywhere, so gradient
    /// descent cannot train through it; kept to show exactly that.
    case step
    /// σ(x) = 1 / (1 + e^(−x)); σ' = σ(1 − σ).
    case sigmoid
    /// tanh(x); tanh' = 1 − tanh².
    case tanh
    /// max(0, x); derivative 1 for x > 0, else 0.
    case relu
    /// x if x > 0 else a·x.
    case leakyReLU(Double)

    public var description: String {
        switch self {
        case .step: "step"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        case .relu: "relu"
        case .leakyReLU(let a): a == 0.01 ? "leaky-relu" : "leaky-relu:\(a)"
        }
    }

    /// The PyTorch module that computes the same function.
    public var pytorchModule: String {
        switch self {
        case .step: "Heaviside (no nn module)"
        case .sigmoid: "nn.Sigmoid()"
        case .tanh: "nn.Tanh()"
        case .relu: "nn.ReLU()"
        case .leakyReLU(let a): "nn.LeakyReLU(\(a))"
        }
    }

    /// Parses `step`, `sigmoid`, `tanh`, `relu`, `leaky-relu` or `leaky-relu:A`.
    public init?(parsing s: String) {
        let lower = s.lowercased()
        switch lower {
        case "step", "heaviside": self = .step
        case "sigmoid": self = .sigmoid
        case "tanh": self = .tanh
        case "relu": self = .relu
        case "leaky-relu", "leakyrelu", "leaky_relu": self = .leakyReLU(0.01)
        default:
            for prefix in ["leaky-relu:", "leakyrelu:", "leaky_relu:"] where lower.hasPrefix(prefix) {
                if let a = Double(lower.dropFirst(prefix.count)), a.isFinite { self = .leakyReLU(a); return }
            }
            return nil
        }
    }

    public static let allNames = "step, sigmoid, tanh, relu, leaky-relu, leaky-relu:A"
}

/// y = f(x) elementwise over n values.
@inline(__always)
public func activationForward<T: NNScalar>(_ f: Activation, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
    switch f {
    case .step: for i in 0..<n { y[i] = x[i] > 0 ? 1 : 0 }
    case .sigmoid:
        for i in 0..<n {
            // Stable in both tails.
            let v = x[i]
            if v >= 0 { y[i] = 1 / (1 + T.exp(-v)) } else { let e = T.exp(v); y[i] = e / (1 + e) }
        }
    case .tanh: for i in 0..<n { y[i] = T.tanh(x[i]) }
    case .relu: for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v : 0 }
    case .leakyReLU(let a):
        let s = T(a)
        for i in 0..<n { let v = x[i]; y[i] = v > 0 ? v : s * v }
    }
}

/// dx = f'(x) ⊙ dy elementwise over n values (uses x or y, whichever is cheaper).
@inline(__always)
public func activationBackward<T: NNScalar>(_ f: Activation, x: UnsafePointer<T>, y: UnsafePointer<T>,
                                            dy: UnsafePointer<T>, dx: UnsafeMutablePointer<T>, _ n: Int) {
    switch f {
    case .step: dx.update(repeating: 0, count: n)
    case .sigmoid: for i in 0..<n { let s = y[i]; dx[i] = dy[i] * s * (1 - s) }
    case .tanh: for i in 0..<n { let t = y[i]; dx[i] = dy[i] * (1 - t * t) }
    // Both operands are loaded before the select: a conditional load (`x > 0 ? dy[i] : 0`)
    // compiled to an unpredictable branch per element and kept the loop scalar.
    case .relu: for i in 0..<n { let d = dy[i]; dx[i] = x[i] > 0 ? d : 0 }
    case .leakyReLU(let a):
        let s = T(a)
        for i in 0..<n { let d = dy[i]; dx[i] = x[i] > 0 ? d : s * d }
    }
}

/// An elementwise activation layer; any per-sample shape.
public final class ActivationLayer<Scalar: NNScalar>: Layer {
    public let function: Activation
    public let shape: [Int]
    public init(_ function: Activation, shape: [Int]) { self.function = function; self.shape = shape }
    public var description: String { function.description }
    public var pytorchModule: String { function.pytorchModule }
    public var inputShape: [Int] { shape }
    public var outputShape: [Int] { shape }
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        activationForward(function, x, y, batch * inputSize)
    }
    @_specialize(where Scalar == Float)
    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        guard let dx else { return }
        inputGradient(x: x, y: y, dy: dy, dx: dx, batch: batch)
    }

    // Separate from `backward` because generic functions with optional pointer arguments are
    // not eagerly specialized (the unspecialized body is many times slower).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func inputGradient(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                               dx: UnsafeMutablePointer<Scalar>, batch: Int) {
        activationBackward(function, x: x, y: y, dy: dy, dx: dx, batch * inputSize)
    }
}
