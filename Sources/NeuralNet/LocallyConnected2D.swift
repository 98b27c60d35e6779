// LocallyConnected2D: a convolution whose weights are not shared across positions — every
// output position (oh, ow) has its own filter bank (the "sparse W" of the lecture: each output
// sees only its window, like a conv, but with untied weights, like a fully connected layer).
import NNCore

/// A locally connected layer:
/// `y[n, o, oh, ow] = b[o, oh, ow] + Σ_{c,ki,kj} W[oh, ow, o, c, ki, kj] · x[n, c, oh·s − p + ki, ow·s − p + kj]`
/// (zero outside the input).
///
/// x: [batch, C, H, W], W: [OH, OW, O, C, k, k], b: [O, OH, OW], y: [batch, O, OH, OW].
///
/// Weight layout: position-major, so that the filter bank of one position, W[oh, ow]: [O, C, k, k],
/// is one contiguous [O, K] matrix laid out exactly like a Conv2D weight (K = C·k²). The bias has
/// the output's per-sample shape. PyTorch has no built-in module; the equivalent (state_dict
/// names `weight`, `bias`) is
///
///     cols = F.unfold(x, k, padding=p, stride=s)                  # [N, K, L], L = OH·OW
///     y = torch.einsum('nkl,lok->nol', cols, weight.view(L, O, K)) + bias.view(O, L)
///     y = y.view(N, O, OH, OW)
///
/// Forward unrolls patches into col: [P, batch, K] (P = OH·OW) and computes, per position,
/// `Y_p[batch, O] = col_p · W_pᵀ` (P small GEMMs), then reorders into NCHW adding the bias.
/// Backward per position: dW_p = dY_pᵀ · col_p, dcol_p = dY_p · W_p; db = Σ_batch dY; dx = col2im(dcol).
/// As with Conv2D, `backward` reuses the patches saved by the preceding `forward` on the same x.
public final class LocallyConnected2D<Scalar: NNScalar>: Layer {
    public let geometry: ConvGeometry
    public let outChannels: Int
    private var w: UnsafeMutablePointer<Scalar>!
    private var dw: UnsafeMutablePointer<Scalar>!
    private var col = Buffer<Scalar>(count: 0)      // [P, batch, K]
    private var staged = Buffer<Scalar>(count: 0)   // [P, batch, O]: y or dy, position-major
    private var capacity = 0

    public init(_ geometry: ConvGeometry, outChannels: Int) {
        precondition(outChannels > 0, "LocallyConnected2D needs a positive channel count, got \(outChannels)")
        self.geometry = geometry
        self.outChannels = outChannels
    }

    public var description: String {
        let g = geometry
        return "LocallyConnected2D(\(g.channels) → \(outChannels), \(g.kernel)×\(g.kernel) at \(g.outHeight)×\(g.outWidth) positions\(g.stride != 1 ? ", stride \(g.stride)" : "")\(g.padding != 0 ? ", padding \(g.padding)" : ""))"
    }
    public var pytorchModule: String {
        let g = geometry
        return "LocallyConnected2d(\(g.channels), \(outChannels), \(g.kernel), in_size=(\(g.height), \(g.width))\(g.stride != 1 ? ", stride=\(g.stride)" : "")\(g.padding != 0 ? ", padding=\(g.padding)" : ""))  # custom module, see LocallyConnected2D.swift"
    }
    public var inputShape: [Int] { [geometry.channels, geometry.height, geometry.width] }
    public var outputShape: [Int] { [outChannels, geometry.outHeight, geometry.outWidth] }
    private var weightCount: Int { geometry.positions * outChannels * geometry.patch }
    public var parameterCount: Int { weightCount + outChannels * geometry.positions }
    public var parameterTensors: [ParameterTensor] {
        let g = geometry
        return [ParameterTensor(name: "weight", shape: [g.outHeight, g.outWidth, outChannels, g.channels, g.kernel, g.kernel], offset: 0),
                ParameterTensor(name: "bias", shape: [outChannels, g.outHeight, g.outWidth], offset: weightCount)]
    }

    public func bind(parameters: UnsafeMutablePointer<Scalar>, gradients: UnsafeMutablePointer<Scalar>) {
        w = parameters; dw = gradients
    }

    /// Fan-in C·k² as for a convolution (each output sees one window); fan-out O·k².
    public func initialize(_ scheme: InitScheme, rng: inout RNG) {
        initializeWeightAndBias(scheme, weight: w, weightCount: weightCount,
                                bias: w + weightCount, biasCount: outChannels * geometry.positions,
                                fanIn: geometry.patch, fanOut: outChannels * geometry.kernel * geometry.kernel, rng: &rng)
    }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        col = Buffer(count: geometry.positions * batch * geometry.patch)
        staged = Buffer(count: geometry.positions * batch * outChannels)
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        precondition(batch <= capacity, "LocallyConnected2D: batch \(batch) exceeds the reserved \(capacity); call reserve(batch:)")
        let K = geometry.patch, P = geometry.positions, O = outChannels
        let c = col.pointer, t = staged.pointer, b = w + weightCount
        geometry.im2col(x, batch: batch, c, sK: 1, sN: K, sP: batch * K)
        for p in 0..<P {
            // t_p[batch, O] = col_p[batch, K] · W_p[O, K]ᵀ
            Scalar.gemm(transA: false, transB: true, m: batch, n: O, k: K,
                        alpha: 1, a: c + p * batch * K, lda: K, b: w + p * O * K, ldb: K,
                        beta: 0, c: t + p * batch * O, ldc: O)
        }
        // y[n, o, p] = t[p, n, o] + b[o, p]
        for n in 0..<batch {
            for o in 0..<O {
                let dst = y + (n * O + o) * P, src = t + n * O + o, bo = b + o * P
                for p in 0..<P { dst[p] = src[p * batch * O] + bo[p] }
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
        let K = geometry.patch, P = geometry.positions, O = outChannels
        let c = col.pointer, t = staged.pointer
        let db = dw + weightCount
        if !accumulate { db.update(repeating: 0, count: O * P) }
        // t[p, n, o] = dy[n, o, p]; db[o, p] += Σ_n dy[n, o, p]
        for n in 0..<batch {
            for o in 0..<O {
                let src = dy + (n * O + o) * P, dst = t + n * O + o, dbo = db + o * P
                for p in 0..<P { let v = src[p]; dst[p * batch * O] = v; dbo[p] += v }
            }
        }
        for p in 0..<P {
            let tp = t + p * batch * O, cp = c + p * batch * K
            // dW_p[O, K] (+)= dY_p[batch, O]ᵀ · col_p[batch, K]
            Scalar.gemm(transA: true, transB: false, m: O, n: K, k: batch,
                        alpha: 1, a: tp, lda: O, b: cp, ldb: K,
                        beta: accumulate ? 1 : 0, c: dw + p * O * K, ldc: K)
            if computeInputGradient {
                // dcol_p[batch, K] = dY_p[batch, O] · W_p[O, K], over col_p (no longer needed).
                Scalar.gemm(transA: false, transB: false, m: batch, n: K, k: O,
                            alpha: 1, a: tp, lda: O, b: w + p * O * K, ldb: K, beta: 0, c: cp, ldc: K)
            }
        }
        if computeInputGradient { geometry.col2im(c, batch: batch, dx, sK: 1, sN: K, sP: batch * K) }
    }
}

/// The slow, obvious locally connected layer by its definition, for testing the fast path.
/// x: [batch, C, H, W], w: [OH, OW, O, C, k, k], b: [O, OH, OW], y: [batch, O, OH, OW].
public func referenceLocallyConnected2D<T: NNScalar>(_ g: ConvGeometry, outChannels O: Int, x: [T], w: [T], b: [T], batch: Int) -> [T] {
    let C = g.channels, H = g.height, W = g.width, k = g.kernel, OH = g.outHeight, OW = g.outWidth
    var y = [T](repeating: 0, count: batch * O * g.positions)
    for n in 0..<batch {
        for o in 0..<O {
            for oh in 0..<OH {
                for ow in 0..<OW {
                    var s = b[(o * OH + oh) * OW + ow]
                    for c in 0..<C {
                        for ki in 0..<k {
                            for kj in 0..<k {
                                let ih = oh * g.stride - g.padding + ki, iw = ow * g.stride - g.padding + kj
                                guard ih >= 0, ih < H, iw >= 0, iw < W else { continue }
                                s += w[((((oh * OW + ow) * O + o) * C + c) * k + ki) * k + kj] * x[((n * C + c) * H + ih) * W + iw]
                            }
                        }
                    }
                    y[((n * O + o) * OH + oh) * OW + ow] = s
                }
            }
        }
    }
    return y
}
