// Sequential: a stack of layers over one flat parameter buffer and one flat gradient buffer.
// Activation buffers are sized once for the largest batch seen; forward/backward then
// allocate nothing.
import NNCore

/// A feed-forward network `f = layerₙ ∘ … ∘ layer₁`.
///
/// Parameters live in `parameters` (one flat buffer), gradients in `gradients` (same layout);
/// layer k's tensors are named `k.weight`, `k.bias` as in PyTorch's `nn.Sequential` state_dict.
public final class Sequential<Scalar: NNScalar> {
    public let layers: [any Layer<Scalar>]
    /// All parameters, layer after layer.
    public private(set) var parameters: Buffer<Scalar>
    /// dL/dθ in the same layout as `parameters` (plus `gradientTail` scalars after them).
    public private(set) var gradients: Buffer<Scalar>
    /// Offset of each layer's slice in the flat buffers.
    public let offsets: [Int]
    public private(set) var capacity = 0
    private var activationStorage: [Buffer<Scalar>] = []
    private var deltaStorage: [Buffer<Scalar>] = []
    /// activations[k] = output of layer k, deltas[k] = dL/d(output of layer k): the model's own
    /// storage, unless `place` pointed some elsewhere for one step.
    private var activations: [UnsafeMutablePointer<Scalar>] = []
    private var deltas: [UnsafeMutablePointer<Scalar>] = []

    /// Builds the model and binds every layer to its slice (parameters start at zero; call `initialize`).
    ///
    /// - Parameter gradientTail: extra scalars allocated after the gradients, so that values
    ///   that must be reduced with them (loss sum, sample count) ride in the same allreduce.
    public init(_ layers: [any Layer<Scalar>], gradientTail: Int = 0) {
        precondition(!layers.isEmpty, "Sequential needs at least one layer")
        for k in 1..<layers.count {
            precondition(layers[k].inputSize == layers[k - 1].outputSize,
                         "layer \(k) (\(layers[k].description)) takes \(layers[k].inputShape) but layer \(k - 1) gives \(layers[k - 1].outputShape)")
        }
        self.layers = layers
        var offs: [Int] = []
        var total = 0
        for l in layers { offs.append(total); total += l.parameterCount }
        offsets = offs
        parameters = Buffer(count: total)
        gradients = Buffer(count: total + gradientTail)
        for (k, l) in layers.enumerated() {
            l.bind(parameters: parameters.pointer + offs[k], gradients: gradients.pointer + offs[k])
        }
    }

    /// Moves the model onto other storage (e.g. memory shared between processes): the
    /// parameters are copied into `parameters`, every layer is bound to the new buffers, and
    /// the old ones are released. `gradients` must hold as many scalars as the current one.
    /// The buffers change identity: read `parameters` anew rather than keeping an old one
    /// (Trainer.run moves a data-parallel model into shared memory and back).
    package func rebind(parameters newParameters: Buffer<Scalar>, gradients newGradients: Buffer<Scalar>, copyParameters: Bool = true) {
        precondition(newParameters.count == parameters.count && newGradients.count == gradients.count,
                     "rebind: buffers of \(newParameters.count)/\(newGradients.count) scalars for a model of \(parameters.count)/\(gradients.count)")
        if copyParameters && newParameters.pointer != parameters.pointer {
            newParameters.pointer.update(from: parameters.pointer, count: parameters.count)
        }
        parameters = newParameters
        gradients = newGradients
        for (k, l) in layers.enumerated() {
            l.bind(parameters: parameters.pointer + offsets[k], gradients: gradients.pointer + offsets[k])
        }
    }

    /// The key of the training forward passes that follow, handed to every `NoisyLayer`
    /// (dropout); nil (the default): those layers are the identity, as in evaluation.
    public var noise: NoiseKey? {
        didSet { for case let l as any NoisyLayer in layers { l.noise = noise } }
    }

    /// Whether any layer draws random numbers in training (then `noise` matters).
    public var isNoisy: Bool { layers.contains { $0 is any NoisyLayer } }

    public var parameterCount: Int { parameters.count }
    public var inputShape: [Int] { layers[0].inputShape }
    public var inputSize: Int { layers[0].inputSize }
    public var outputSize: Int { layers[layers.count - 1].outputSize }

    /// The named tensors of the whole model with absolute offsets, in state_dict order.
    public var namedTensors: [ParameterTensor] {
        var out: [ParameterTensor] = []
        for (k, l) in layers.enumerated() {
            for t in l.parameterTensors {
                out.append(ParameterTensor(name: "\(k).\(t.name)", shape: t.shape, offset: offsets[k] + t.offset))
            }
        }
        return out
    }

    /// Draws all parameters from `rng` under `scheme`, layer by layer.
    public func initialize(_ scheme: InitScheme, rng: inout RNG) {
        for l in layers { l.initialize(scheme, rng: &rng) }
    }

    /// Sizes activation buffers for batches of up to `batch` samples. Allocates only when growing.
    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        activationStorage = layers.map { Buffer(count: batch * $0.outputSize) }
        deltaStorage = layers.map { Buffer(count: batch * $0.outputSize) }
        activations = activationStorage.map(\.pointer)
        deltas = deltaStorage.map(\.pointer)
        for l in layers { l.reserve(batch: batch) }
    }

    /// Until `usePrivateStorage()`, keeps the output of layer k in `output` and dL/d(that
    /// output) in `gradient` (each room for `capacity` samples), instead of the model's own
    /// buffers: the sufficient-factor exchange lets forward and backward write straight into
    /// memory the node's ranks share. Allocates nothing.
    package func place(layer k: Int, output: UnsafeMutablePointer<Scalar>?, gradient: UnsafeMutablePointer<Scalar>?) {
        precondition(capacity > 0, "reserve before place")
        if let output { activations[k] = output }
        if let gradient { deltas[k] = gradient }
    }

    /// Back to the model's own activation buffers (in place: no allocation).
    package func usePrivateStorage() {
        for k in layers.indices { activations[k] = activationStorage[k].pointer; deltas[k] = deltaStorage[k].pointer }
    }

    /// Runs the network on x: [batch, inputSize]; returns a pointer to the output,
    /// [batch, outputSize], valid until the next call.
    @discardableResult
    public func forward(_ x: UnsafePointer<Scalar>, batch: Int) -> UnsafeMutablePointer<Scalar> {
        reserve(batch: batch)
        var input = x
        for (k, l) in layers.enumerated() {
            let out = activations[k]
            l.forward(input, out, batch: batch)
            input = UnsafePointer(out)
        }
        return activations[layers.count - 1]
    }

    /// The buffer that receives dL/d(output) before `backward`: [batch, outputSize].
    public var outputGradient: UnsafeMutablePointer<Scalar> {
        precondition(capacity > 0, "call forward before outputGradient")
        return deltas[layers.count - 1]
    }

    /// Backpropagates `outputGradient` through the layers (chain rule, last layer first),
    /// overwriting `gradients` with dL/dθ. x must be the input of the preceding `forward`.
    /// `layerDone(k)` runs once layer k's gradients (offsets[k] ..< offsets[k] + its parameter
    /// count) are final and backward will not touch them again, so that an exchange may start
    /// sending them while the layers below are still computed. For a Linear layer that is
    /// before its dx GEMM (Linear.backward's own order: dW and db, then dx; the same bits).
    public func backward(_ x: UnsafePointer<Scalar>, batch: Int, accumulate: Bool = false, layerDone: ((Int) -> Void)? = nil) {
        for k in stride(from: layers.count - 1, through: 0, by: -1) {
            let input = k == 0 ? x : UnsafePointer(activations[k - 1])
            let dx: UnsafeMutablePointer<Scalar>? = k == 0 ? nil : deltas[k - 1]
            if let layerDone, let linear = layers[k] as? Linear<Scalar> {
                linear.weightGradient(rows: 0..<linear.outFeatures, x: input, dy: deltas[k], batch: batch, accumulate: accumulate)
                layerDone(k)
                if let dx { linear.inputGradient(dy: deltas[k], dx: dx, batch: batch) }
                continue
            }
            layers[k].backward(x: input, y: activations[k], dy: deltas[k], dx: dx, batch: batch, accumulate: accumulate)
            layerDone?(k)
        }
    }

    /// The layers that own parameters are all `Linear` (an MLP or a linear classifier):
    /// then `backwardInputs` and each Linear's `weightGradient` can stand in for `backward`.
    package var parametersAreAllLinear: Bool {
        layers.allSatisfy { $0.parameterCount == 0 || $0 is Linear<Scalar> }
    }

    /// Backpropagates `outputGradient` like `backward`, but leaves `gradients` alone: every
    /// layer's dL/d(output) is computed, no dL/dθ. Needs `parametersAreAllLinear`.
    ///
    /// For an exchange that sends factors while backward runs: `dyReady(k)` runs once
    /// dL/d(output of layer k) is final (top layer first, layer 0 last), and, when `between`
    /// is given, each Linear's dx GEMM runs in `blocks(of:)` its columns with `between()`
    /// after each block (to advance collectives in flight).
    package func backwardInputs(_ x: UnsafePointer<Scalar>, batch: Int, dyReady: ((Int) -> Void)? = nil, between: (() -> Void)? = nil) {
        defer { dyReady?(0) }
        for k in stride(from: layers.count - 1, through: 1, by: -1) {
            dyReady?(k)
            let dx = deltas[k - 1], dy = UnsafePointer(deltas[k])
            if let linear = layers[k] as? Linear<Scalar> {
                if let between {
                    for c in blocks(of: linear.inFeatures) { linear.inputGradient(dy: dy, dx: dx, batch: batch, columns: c); between() }
                } else {
                    linear.inputGradient(dy: dy, dx: dx, batch: batch)
                }
            } else {
                precondition(layers[k].parameterCount == 0, "backwardInputs: layer \(k) (\(layers[k].description)) has parameters and is not Linear")
                layers[k].backward(x: UnsafePointer(activations[k - 1]), y: activations[k], dy: dy, dx: dx, batch: batch, accumulate: false)
            }
        }
    }

    /// 0..<n in at most 8 contiguous blocks of at least 128 (one block when n < 256): the
    /// pieces a GEMM is cut into between polls, large enough to keep sgemm at its rate.
    package func blocks(of n: Int) -> [Range<Int>] {
        let count = max(1, min(8, n / 128))
        return (0..<count).map { n * $0 / count ..< n * ($0 + 1) / count }
    }

    /// One line per layer with its PyTorch equivalent, and the parameter count.
    public var summary: String {
        var lines: [String] = []
        for (k, l) in layers.enumerated() {
            lines.append("  (\(k)) \(l.description)  [\(l.parameterCount) parameters]")
        }
        lines.append("  \(parameterCount) parameters in all")
        return lines.joined(separator: "\n")
    }

    /// The equivalent PyTorch module, as Python source.
    public var pytorchSource: String {
        "nn.Sequential(\n" + layers.map { "    " + $0.pytorchModule + "," }.joined(separator: "\n") + "\n)"
    }
}
