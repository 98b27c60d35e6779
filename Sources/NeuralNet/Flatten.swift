// Flatten: the reshape from [C, H, W] to [C·H·W] between the convolutional and the fully
// connected part of a network. NCHW is already row-major, so it only copies.
import NNCore

/// Flattens each sample: `y[n, (c·H + h)·W + w] = x[n, c, h, w]`, as `nn.Flatten()`.
///
/// x: [batch, shape...], y: [batch, ∏shape]. Backward: dx = dy.
public final class Flatten<Scalar: NNScalar>: Layer {
    public let inputShape: [Int]

    public init(inputShape: [Int]) {
        precondition(!inputShape.isEmpty && inputShape.allSatisfy { $0 > 0 }, "Flatten needs a positive shape, got \(inputShape)")
        self.inputShape = inputShape
    }

    public var description: String { "Flatten(\(inputShape.map(String.init).joined(separator: "×")) → \(inputSize))" }
    public var pytorchModule: String { "nn.Flatten()" }
    public var outputShape: [Int] { [inputShape.reduce(1, *)] }

    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        y.update(from: x, count: batch * inputSize)
    }

    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        dx?.update(from: dy, count: batch * inputSize)
    }
}
