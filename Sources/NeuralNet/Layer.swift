// Layer: the contract every layer of nntrain fulfils. A layer owns no parameter storage:
// the model binds it to a slice of the one flat parameter buffer and the one flat
// gradient buffer (layout of karpathy/llm.c), and calls forward/backward with raw
// pointers to activations that the model allocated once.
import NNCore

/// One named parameter tensor of a layer, as PyTorch's state_dict would name it.
public struct ParameterTensor: Sendable, Equatable {
    /// The name suffix within the layer, e.g. "weight" or "bias".
    public var name: String
    /// The shape, in PyTorch's layout (Linear weight: [out, in]).
    public var shape: [Int]
    /// The offset of the first element within the layer's parameter slice.
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
    public init(name: String, shape: [Int], offset: Int) {
        self.name = name; self.shape = shape; self.offset = offset
    }
}

/// How a layer's weights are drawn at initialization.
public enum InitScheme: String, Sendable, CaseIterable, Codable {
    /// PyTorch's default for nn.Linear and nn.Conv2d: weight and bias ~ U(-1/√fanIn, 1/√fanIn).
    case pytorch
    /// Glorot & Bengio (2010): weight ~ U(±√(6/(fanIn+fanOut))), bias 0.
    case xavier
    /// He et al. (2015): weight ~ N(0, 2/fanIn), bias 0.
    case he
}

/// A differentiable layer with a hand-written backward pass next to its forward pass.
///
/// Activations are laid out per sample, row-major: `x: [batch, inputSize]`,
/// `y: [batch, outputSize]` (for images `inputSize = C*H*W` in NCHW order).
public protocol Layer<Scalar>: AnyObject {
    associatedtype Scalar: NNScalar
    /// A short description, e.g. `Linear(784 → 1024)`.
    var description: String { get }
    /// The PyTorch module this layer corresponds to, e.g. `nn.Linear(784, 1024)`.
    var pytorchModule: String { get }
    /// Per-sample shape of the input (e.g. [784] or [1, 28, 28]).
    var inputShape: [Int] { get }
    /// Per-sample shape of the output.
    var outputShape: [Int] { get }
    /// Number of scalars this layer owns in the flat parameter buffer.
    var parameterCount: Int { get }
    /// This layer's tensors within its slice, in state_dict order.
    var parameterTensors: [ParameterTensor] { get }
    /// Points the layer at its slices of the flat parameter and gradient buffers.
    func bind(parameters: UnsafeMutablePointer<Scalar>, gradients: UnsafeMutablePointer<Scalar>)
    /// Draws initial parameters into the bound slice.
    func initialize(_ scheme: InitScheme, rng: inout RNG)
    /// Sizes per-batch scratch space for batches of up to `batch` samples (called outside the step).
    func reserve(batch: Int)
    /// y = f(x). x: [batch, inputSize], y: [batch, outputSize].
    func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int)
    /// Given dL/dy, writes dL/dx into `dx` (unless nil: nothing upstream needs it) and
    /// writes dL/dθ for this batch into this layer's gradient slice — overwriting it, or adding
    /// to it when `accumulate` is true (micro-batches of one large batch).
    /// Called right after `forward` on the same x, so a layer may reuse what that forward
    /// kept in its scratch (im2col patches, max-pool argmax), as PyTorch saves tensors for backward.
    func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                  dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool)
}

extension Layer {
    public var inputSize: Int { inputShape.reduce(1, *) }
    public var outputSize: Int { outputShape.reduce(1, *) }
    public var parameterCount: Int { 0 }
    public var parameterTensors: [ParameterTensor] { [] }
    public func bind(parameters: UnsafeMutablePointer<Scalar>, gradients: UnsafeMutablePointer<Scalar>) {}
    public func initialize(_ scheme: InitScheme, rng: inout RNG) {}
    public func reserve(batch: Int) {}
}

/// Fills `n` values with U(lo, hi) drawn from `rng`.
@inline(__always)
func fillUniform<T: NNScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int, _ lo: Double, _ hi: Double, _ rng: inout RNG) {
    for i in 0..<n { p[i] = T(rng.uniform(lo, hi)) }
}

/// Initializes a weight of `weightCount` elements and a bias of `biasCount` under `scheme`.
func initializeWeightAndBias<T: NNScalar>(_ scheme: InitScheme, weight: UnsafeMutablePointer<T>, weightCount: Int,
                                         bias: UnsafeMutablePointer<T>?, biasCount: Int,
                                         fanIn: Int, fanOut: Int, rng: inout RNG) {
    switch scheme {
    case .pytorch:
        let bound = 1 / Double(fanIn).squareRoot()
        fillUniform(weight, weightCount, -bound, bound, &rng)
        if let bias { fillUniform(bias, biasCount, -bound, bound, &rng) }
    case .xavier:
        let bound = (6 / Double(fanIn + fanOut)).squareRoot()
        fillUniform(weight, weightCount, -bound, bound, &rng)
        if let bias { bias.update(repeating: 0, count: biasCount) }
    case .he:
        let std = (2 / Double(fanIn)).squareRoot()
        for i in 0..<weightCount { weight[i] = T(rng.normal() * std) }
        if let bias { bias.update(repeating: 0, count: biasCount) }
    }
}
