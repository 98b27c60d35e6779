// Conv2D: the 2-D convolution (cross-correlation, as in PyTorch) over NCHW batches,
// computed as im2col + one GEMM per batch, with its hand-written backward beside it.
import NNCore

/// A 2-D convolution: `y[n, o, oh, ow] = b[o] + Σ_{c,ki,kj} W[o, c, ki, kj] · x[n, c, oh·s − p + ki, ow·s − p + kj]`
/// (zero outside the input), as `nn.Conv2d(C, O, k, stride: s, padding: p)`.
///
/// x: [batch, C, H, W], W: [O, C, k, k], b: [O], y: [batch, O, OH, OW].
///
/// Forward unrolls the patches of the whole batch into col: [K, batch·P] (K = C·k², P = OH·OW)
/// and computes `Y = W · col` in one GEMM ([O, batch·P], channel-major), then copies it into
/// NCHW order while adding the bias. Backward, with dY in the same channel-major order:
/// dW = dY · colᵀ, db = Σ dY, dcol = Wᵀ · dY, and dx = col2im(dcol).
///
/// `backward` reuses the patches saved by the preceding `forward` on the same x (as PyTorch
/// saves tensors for backward), and overwrites them when it computes dx.
public final class Conv2D<Scalar: NNScalar>: Layer {
    public let geometry: ConvGeometry
    public let outChannels: Int
    private var w: UnsafeMutablePointer<Scalar>!
    private var dw: UnsafeMutablePointer<Scalar>!
    private var col = Buffer<Scalar>(count: 0)      // [K, batch·P]
    private var staged = Buffer<Scalar>(count: 0)   // [O, batch·P]: y or dy, channel-major
    private var capacity = 0

    /// A convolution of `outChannels` filters over inputs of the given geometry.
    public init(_ geometry: ConvGeometry, outChannels: Int) {
        precondition(outChannels > 0, "Conv2D needs a positive channel count, got \(outChannels)")
        self.geometry = geometry
        self.outChannels = outChannels
    }

    /// A convolution over [inChannels, height, width] inputs.
    public convenience init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                            height: Int, width: Int) {
        guard let g = ConvGeometry(channels: inChannels, height: height, width: width,
                                   kernel: kernel, stride: stride, padding: padding) else {
            preconditionFailure("Conv2D: kernel \(kernel) (padding \(padding)) does not fit a [\(inChannels), \(height), \(width)] input")
        }
        self.init(g, outChannels: outChannels)
    }

    public var description: String {
        let g = geometry
        return "Conv2D(\(g.channels) → \(outChannels), \(g.kernel)×\(g.kernel)\(g.stride != 1 ? ", stride \(g.stride)" : "")\(g.padding != 0 ? ", padding \(g.padding)" : ""))"
    }
    public var pytorchModule: String {
        let g = geometry
        return "nn.Conv2d(\(g.channels), \(outChannels), \(g.kernel)\(g.stride != 1 ? ", stride=\(g.stride)" : "")\(g.padding != 0 ? ", padding=\(g.padding)" : ""))"
    }
    public var inputShape: [Int] { [geometry.channels, geometry.height, geometry.width] }
    public var outputShape: [Int] { [outChannels, geometry.outHeight, geometry.outWidth] }
    public var parameterCount: Int { outChannels * geometry.patch + outChannels }
    public var parameterTensors: [ParameterTensor] {
        let g = geometry
        return [ParameterTensor(name: "weight", shape: [outChannels, g.channels, g.kernel, g.kernel], offset: 0),
                ParameterTensor(name: "bias", shape: [outChannels], offset: outChannels * g.patch)]
    }

    public func bind(parameters: UnsafeMutablePointer<Scalar>, gradients: UnsafeMutablePointer<Scalar>) {
        w = parameters; dw = gradients
    }

    /// PyTorch's fan-in C·k² (and fan-out O·k² for Xavier).
    public func initialize(_ scheme: InitScheme, rng: inout RNG) {
        let k2 = geometry.kernel * geometry.kernel
        initializeWeightAndBias(scheme, weight: w, weightCount: outChannels * geometry.patch,
                                bias: w + outChannels * geometry.patch, biasCount: outChannels,
                                fanIn: geometry.patch, fanOut: outChannels * k2, rng: &rng)
    }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        col = Buffer(count: geometry.patch * batch * geometry.positions)
        staged = Buffer(count: outChannels * batch * geometry.positions)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        precondition(batch <= capacity, "Conv2D: batch \(batch) exceeds the reserved \(capacity); call reserve(batch:)")
        let K = geometry.patch, P = geometry.positions, O = outChannels, NP = batch * P
        let c = col.pointer, t = staged.pointer, b = w + O * K
        geometry.im2col(x, batch: batch, c, sK: NP, sN: P, sP: 1)
        // t[O, NP] = W[O, K] · col[K, NP]
        Scalar.gemm(transA: false, transB: false, m: O, n: NP, k: K,
                    alpha: 1, a: w, lda: K, b: c, ldb: NP, beta: 0, c: t, ldc: NP)
        // y[n, o, :] = t[o, n·P ..< (n+1)·P] + b[o]
        for n in 0..<batch {
            for o in 0..<O {
                let src = t + o * NP + n * P, dst = y + (n * O + o) * P, bo = b[o]
                for p in 0..<P { dst[p] = src[p] + bo }
            }
        }
    }

    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        backward(dy: dy, dx: dx ?? staged.pointer, computeInputGradient: dx != nil, batch: batch, accumulate: accumulate)
    }

    // Separate from the protocol's `backward` because generic functions with optional pointer
    // arguments are not eagerly specialized (the unspecialized body is many times slower).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func backward(dy: UnsafePointer<Scalar>, dx: UnsafeMutablePointer<Scalar>, computeInputGradient: Bool,
                          batch: Int, accumulate: Bool) {
        let K = geometry.patch, P = geometry.positions, O = outChannels, NP = batch * P
        let c = col.pointer, t = staged.pointer
        let db = dw + O * K
        if !accumulate { db.update(repeating: 0, count: O) }
        // t[o, n·P + p] = dy[n, o, p]; db[o] += Σ dy[·, o, ·]
        for n in 0..<batch {
            for o in 0..<O {
                let src = dy + (n * O + o) * P, dst = t + o * NP + n * P
                var s: Scalar = 0
                for p in 0..<P { let v = src[p]; dst[p] = v; s += v }
                db[o] += s
            }
        }
        // dW[O, K] (+)= dY[O, NP] · col[K, NP]ᵀ
        Scalar.gemm(transA: false, transB: true, m: O, n: K, k: NP,
                    alpha: 1, a: t, lda: NP, b: c, ldb: NP, beta: accumulate ? 1 : 0, c: dw, ldc: K)
        if computeInputGradient {
            // dcol[K, NP] = Wᵀ[K, O] · dY[O, NP], written over the patches, then scattered back.
            Scalar.gemm(transA: true, transB: false, m: K, n: NP, k: O,
                        alpha: 1, a: w, lda: K, b: t, ldb: NP, beta: 0, c: c, ldc: NP)
            geometry.col2im(c, batch: batch, dx, sK: NP, sN: P, sP: 1)
        }
    }
}

/// The slow, obvious convolution by its definition (seven nested loops), for testing the
/// fast path against. x: [batch, C, H, W], w: [O, C, k, k], b: [O], y: [batch, O, OH, OW].
public func referenceConv2D<T: NNScalar>(_ g: ConvGeometry, outChannels O: Int, x: [T], w: [T], b: [T], batch: Int) -> [T] {
    let C = g.channels, H = g.height, W = g.width, k = g.kernel
    var y = [T](repeating: 0, count: batch * O * g.positions)
    for n in 0..<batch {
        for o in 0..<O {
            for oh in 0..<g.outHeight {
                for ow in 0..<g.outWidth {
                    var s = b[o]
                    for c in 0..<C {
                        for ki in 0..<k {
                            for kj in 0..<k {
                                let ih = oh * g.stride - g.padding + ki, iw = ow * g.stride - g.padding + kj
                                guard ih >= 0, ih < H, iw >= 0, iw < W else { continue }
                                s += w[((o * C + c) * k + ki) * k + kj] * x[((n * C + c) * H + ih) * W + iw]
                            }
                        }
                    }
                    y[((n * O + o) * g.outHeight + oh) * g.outWidth + ow] = s
                }
            }
        }
    }
    return y
}
