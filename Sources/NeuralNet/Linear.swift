// Linear: the fully connected layer, y = x Wᵀ + b, with W stored [out, in] as PyTorch does.
import NNCore

/// A fully connected layer: `y = x · Wᵀ + b`.
///
/// x: [batch, in], W: [out, in], b: [out], y: [batch, out].
/// Backward: dW = dyᵀ · x, db = Σ_batch dy, dx = dy · W.
public final class Linear<Scalar: NNScalar>: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let useBias: Bool
    private var w: UnsafeMutablePointer<Scalar>!
    private var dw: UnsafeMutablePointer<Scalar>!

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear needs positive sizes, got \(inFeatures)→\(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.useBias = bias
    }

    public var description: String { "Linear(\(inFeatures) → \(outFeatures)\(useBias ? "" : ", no bias"))" }
    public var pytorchModule: String { "nn.Linear(\(inFeatures), \(outFeatures)\(useBias ? "" : ", bias=False"))" }
    public var inputShape: [Int] { [inFeatures] }
    public var outputShape: [Int] { [outFeatures] }
    public var parameterCount: Int { outFeatures * inFeatures + (useBias ? outFeatures : 0) }
    public var parameterTensors: [ParameterTensor] {
        var t = [ParameterTensor(name: "weight", shape: [outFeatures, inFeatures], offset: 0)]
        if useBias { t.append(ParameterTensor(name: "bias", shape: [outFeatures], offset: outFeatures * inFeatures)) }
        return t
    }

    public func bind(parameters: UnsafeMutablePointer<Scalar>, gradients: UnsafeMutablePointer<Scalar>) {
        w = parameters; dw = gradients
    }

    public func initialize(_ scheme: InitScheme, rng: inout RNG) {
        initializeWeightAndBias(scheme, weight: w, weightCount: outFeatures * inFeatures,
                                bias: useBias ? w + outFeatures * inFeatures : nil, biasCount: outFeatures,
                                fanIn: inFeatures, fanOut: outFeatures, rng: &rng)
    }

    @_specialize(where Scalar == Float)
    public func forward(_ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>, batch: Int) {
        let o = outFeatures
        if useBias {
            // y ← broadcast b, then y += x Wᵀ (one pass fewer than adding b afterwards).
            let b = w + o * inFeatures
            for r in 0..<batch { (y + r * o).update(from: b, count: o) }
        }
        Scalar.gemm(transA: false, transB: true, m: batch, n: o, k: inFeatures,
                    alpha: 1, a: x, lda: inFeatures, b: w, ldb: inFeatures,
                    beta: useBias ? 1 : 0, c: y, ldc: o)
    }

    public func backward(x: UnsafePointer<Scalar>, y: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>,
                         dx: UnsafeMutablePointer<Scalar>?, batch: Int, accumulate: Bool) {
        parameterGradients(rows: 0..<outFeatures, x: x, dy: dy, batch: batch, accumulate: accumulate)
        if let dx { inputGradient(dy: dy, dx: dx, batch: batch) }
    }

    /// dx[batch, i] = dy[batch, o] · W[o, i], without dL/dθ: the sufficient-factor exchange
    /// computes the weight gradient later, over the rows of every rank (`weightGradient(rows:…)`).
    @_specialize(where Scalar == Float)
    package func inputGradient(dy: UnsafePointer<Scalar>, dx: UnsafeMutablePointer<Scalar>, batch: Int) {
        inputGradient(dy: dy, dx: dx, batch: batch, columns: 0..<inFeatures)
    }

    /// dx[batch, columns] = dy[batch, o] · W[o, columns]: one block of columns of `inputGradient`
    /// (the blocks are independent; an exchange computes them one by one between polls of its
    /// collectives in flight).
    @_specialize(where Scalar == Float)
    package func inputGradient(dy: UnsafePointer<Scalar>, dx: UnsafeMutablePointer<Scalar>, batch: Int, columns: Range<Int>) {
        guard !columns.isEmpty else { return }
        Scalar.gemm(transA: false, transB: false, m: batch, n: columns.count, k: outFeatures,
                    alpha: 1, a: dy, lda: outFeatures, b: w + columns.lowerBound, ldb: inFeatures, beta: 0,
                    c: dx + columns.lowerBound, ldc: inFeatures)
    }

    /// dW[rows] = dy[:, rows]ᵀ · x and db[rows] = Σ_batch dy[:, rows], overwriting those rows of
    /// the gradient slice: the part of this layer's gradient that one rank owns, computed from
    /// the inputs x: [batch, in] and output gradients dy: [batch, out] of all ranks' samples
    /// (a sum over all of them, in row order, as one process would compute it). With
    /// `accumulate`, adds to those rows instead (one block of samples after another).
    package func weightGradient(rows: Range<Int>, x: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>, batch: Int, accumulate: Bool = false) {
        parameterGradients(rows: rows, x: x, dy: dy, batch: batch, accumulate: accumulate)
    }

    // Separate from the protocol's `backward` because generic functions with an optional pointer
    // argument are not specialized (see Conv2D.swift); the bias loop must run specialized.
    // Overwriting zeroes the rows and accumulates into them: memset is faster than OpenBLAS
    // 0.3.21's β = 0 pass over C, and 0 + Σ gives the same bits.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func parameterGradients(rows: Range<Int>, x: UnsafePointer<Scalar>, dy: UnsafePointer<Scalar>, batch: Int, accumulate: Bool) {
        let o = outFeatures, i = inFeatures, r0 = rows.lowerBound, nr = rows.count
        guard nr > 0 else { return }
        let dW = dw + r0 * i, db = dw + o * i + r0
        if !accumulate {
            dW.update(repeating: 0, count: nr * i)
            if useBias { db.update(repeating: 0, count: nr) }
        }
        guard batch > 0 else { return }
        // dW[rows, i] = dyᵀ[rows, batch] · x[batch, i]
        Scalar.gemm(transA: true, transB: false, m: nr, n: i, k: batch,
                    alpha: 1, a: dy + r0, lda: o, b: x, ldb: i, beta: 1, c: dW, ldc: i)
        if useBias {
            for r in 0..<batch {
                let row = dy + r * o + r0
                for j in 0..<nr { db[j] += row[j] }
            }
        }
    }
}
