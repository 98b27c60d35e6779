// Dropout (Srivastava, Hinton et al. 2014; AlexNet's fully connected layers): during training each
// unit is kept with probability 1 − p and scaled by 1/(1 − p) ("inverted dropout", as
// nn.Dropout), so that at test time the layer is the identity.
//
// The mask is not drawn from a stream that advances with every call: it is a function of
// (seed, epoch, the sample's position in the epoch's order, the layer, the unit) only. A sample
// therefore gets the same mask whichever rank or worker computes it, however the global batch is
// sliced and after a stop and resume — the property the data-parallel and resume tests rely on.
import NNCore

/// A layer whose training forward pass draws random numbers from a `NoiseKey`.
public protocol NoisyLayer: AnyObject {
    /// The key of the next forward pass; nil: the layer is deterministic (evaluation).
    var noise: NoiseKey? { get set }
}

/// Inverted dropout with drop probability p, as `nn.Dropout(p)`; any per-sample shape.
///
/// Training (a key set): y = x ⊙ m with mᵢ = 1/(1−p) with probability 1 − p, else 0;
/// backward dx = dy ⊙ m (the same m: forward keeps it). Without a key: y = x, dx = dy.
/// x, y: [batch, ∏shape]; scratch: the mask, [batch, ∏shape].
public final class Dropout<Scalar: NNScalar>: Layer, NoisyLayer {
    public let p: Double
    public let shape: [Int]
    /// Which of the model's random streams this layer draws from (its index in the model).
    public let stream: Int
    public var noise: NoiseKey?
    private var mask = Buffer<Scalar>(count: 0)
    /// Whether the last forward applied a mask (backward then applies the same one).
    private var masked = false

    /// - Precondition: 0 ≤ p < 1 (ModelSpec checks a spec's p before building).
    public init(_ p: Double, shape: [Int], stream: Int) {
        precondition(p >= 0 && p < 1, "dropout probability \(p) is not in [0, 1)")
        self.p = p; self.shape = shape; self.stream = stream
    }

    public var description: String { "Dropout(p=\(p))" }
    public var pytorchModule: String { "nn.Dropout(p=\(p))" }
    public var inputShape: [Int] { shape }
    public var outputShape: [Int] { shape }

    public func reserve(batch: Int) {
        if mask.count < batch * inputSize { mask = Buffer(count: batch * inputSize) }
    }

    /// Fills the mask of `batch` rows from `key`: unit j of row r is kept when the j-th 24-bit
    /// draw of the row's generator is ≥ p·2²⁴ (keep probability 1 − p up to 2⁻²⁴).
    func drawMask(_ key: NoiseKey, batch: Int) {
        let n = inputSize, m = mask.pointer
        let threshold = UInt64((p * 16_777_216).rounded(.up)), keep = Scalar(1 / (1 - p))
        for r in 0..<batch {
            var rng = key.rng(row: r, stream: stream)
            let row = m + r * n
            for j in 0..<n { row[j] = (rng.next() >> 40) >= threshold ? keep : 0 }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        let count = batch * inputSize
        guard let key = noise, p > 0 else {
            masked = false
            y.update(from: x, count: count)
            return
        }
        reserve(batch: batch)
        drawMask(key, batch: batch)
        masked = true
        let m = mask.pointer
        for i in 0..<count { y[i] = x[i] * m[i] }
    }

    @_specialize(where Scalar == Float)
    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        guard let dx else { return }
        inputGradient(dy: dy, dx: dx, count: batch * inputSize)
    }

    // Apart from `backward` so that it is specialized (see ActivationLayer.inputGradient).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func inputGradient(dy: UnsafePointer<Scalar>, dx: UnsafeMutablePointer<Scalar>, count: Int) {
        if masked {
            let m = mask.pointer
            for i in 0..<count { dx[i] = dy[i] * m[i] }
        } else {
            dx.update(from: dy, count: count)
        }
    }
}
