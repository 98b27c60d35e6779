// PowerSGDExchange: `--compress powersgd:R` (Vogels, Karimireddy & Jaggi 2019). Each Linear
// weight gradient M [out, in] whose rank-R factors are less than half its size crosses ranks
// as two thin matrices instead of itself, by one power iteration per step:
//
//   M  ← Mᵢ + eᵢ                          this rank's gradient plus its error feedback
//   P  = Σᵢ M Q          (allreduce)      [out, R], Q [in, R] from the previous step
//   P̂  = orthonormal columns of P         (Gram–Schmidt, the same on every rank)
//   Q  = Σᵢ Mᵀ P̂         (allreduce)      [in, R]
//   M̃  = P̂ Qᵀ                             ≈ Σᵢ M: the gradient every rank applies
//   eᵢ = M − M̃ ÷ N                        what this rank's share of M̃ left out, sent next step
//
// Bytes per matrix: R·(out + in) floats twice, against out·in. Biases, small layers and any
// non-Linear parameters go uncompressed in the same allreduce as the P factors and the tail.
// Ranks keep identical parameters (P̂, Q and M̃ are computed from reduced values); the error
// buffers are each rank's own. Not in checkpoints: a resumed run starts with zero error and
// Q drawn anew (training continues; the bits of an uninterrupted run are not promised).
import Collectives
import Foundation
import NNCore
import NeuralNet

final class PowerSGDExchange: ExchangeStrategy {
    struct Matrix {
        /// Offset of the weight in the parameter buffer; W is [rows = out, cols = in].
        let offset: Int, rows: Int, cols: Int
        /// Offsets of this matrix's P [rows, R] in the reduced buffer and its Q [cols, R] in `q`.
        let p: Int, q: Int
        /// M, then the error feedback eᵢ: [rows, cols].
        let error: Buffer<Float>
    }
    let comm: Communicator
    let model: Sequential<Float>
    let rank: Int
    let matrices: [Matrix]
    /// The parameter ranges sent uncompressed.
    let dense: [Range<Int>]
    /// Reduced in one allreduce: every P, then the dense ranges, then the tail.
    let first: Buffer<Float>
    let denseOffset: Int
    /// Every Q, reduced in the second allreduce.
    let q: Buffer<Float>
    let updateRanges: [Range<Int>]
    var label: String { "allreduce (powersgd:\(rank) on \(matrices.count) matrices)" }

    /// Whether a Linear layer's weight is worth compressing at rank R: R·(out + in) < out·in ÷ 2.
    static func compresses(rows: Int, cols: Int, rank R: Int) -> Bool { 2 * R * (rows + cols) < rows * cols }

    init(_ c: ExchangeContext, rank R: Int) {
        comm = c.comm; model = c.model; rank = R
        var matrices: [Matrix] = []
        var dense: [Range<Int>] = []
        var p = 0, qCount = 0, covered = 0
        for (k, lin) in SharedFactorExchange.linearLayers(model) {
            let o = model.offsets[k], rows = lin.outFeatures, cols = lin.inFeatures
            guard PowerSGDExchange.compresses(rows: rows, cols: cols, rank: R) else { continue }
            if o > covered { dense.append(covered..<o) }
            matrices.append(Matrix(offset: o, rows: rows, cols: cols, p: p, q: qCount, error: Buffer(count: rows * cols)))
            p += rows * R; qCount += cols * R
            covered = o + rows * cols
        }
        if covered < model.parameterCount { dense.append(covered..<model.parameterCount) }
        self.matrices = matrices
        self.dense = dense
        denseOffset = p
        first = Buffer(count: p + dense.reduce(0) { $0 + $1.count } + Tail.size)
        q = Buffer(count: max(qCount, 1))
        // Q starts as the same standard normal draw on every rank.
        var rng = RNG(seed: c.config.seed, stream: 0x5057_5347)   // "PWSG"
        for i in 0..<qCount { q[i] = Float(rng.normal()) }
        updateRanges = [0..<model.parameterCount]
    }

    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        let t = FastSum().contribute(pass, batch: batch, rank: comm.rank, of: comm.size, scale: scale, stop: stop, into: model.gradients.pointer)
        clock.charge(.compute)
        return t
    }

    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        let g = model.gradients.pointer, f = first.pointer, P = model.parameterCount, R = rank
        // M = gradient + error; P = M Q.
        for m in matrices {
            PowerSGDExchange.accumulateAndProject(error: m.error.pointer, gradient: g + m.offset, q: q.pointer + m.q, p: f + m.p,
                                                  rows: m.rows, cols: m.cols, rank: R)
        }
        var d = denseOffset
        for r in dense { (f + d).update(from: g + r.lowerBound, count: r.count); d += r.count }
        (f + d).update(from: g + P, count: Tail.size)
        clock.charge(.compute)
        try comm.allReduceSum(first.buffer)
        clock.charge(.comm)
        for m in matrices {
            PowerSGDExchange.orthonormalizeColumns(f + m.p, rows: m.rows, columns: R)
            Float.gemm(transA: true, transB: false, m: m.cols, n: R, k: m.rows, alpha: 1, a: m.error.pointer, lda: m.cols,
                       b: f + m.p, ldb: R, beta: 0, c: q.pointer + m.q, ldc: R)
        }
        clock.charge(.compute)
        if !matrices.isEmpty { try comm.allReduceSum(q.buffer) }
        clock.charge(.comm)
        // M̃ = P̂ Qᵀ into the gradient; eᵢ = M − M̃ ÷ N.
        let inv = 1 / Float(comm.size)
        for m in matrices {
            PowerSGDExchange.expand(p: f + m.p, q: q.pointer + m.q, gradient: g + m.offset, error: m.error.pointer,
                                    rows: m.rows, cols: m.cols, rank: R, inverseRanks: inv)
        }
        d = denseOffset
        for r in dense { (g + r.lowerBound).update(from: f + d, count: r.count); d += r.count }
        let (lossSum, count, stop) = FastSum().tail { f[d + $0] }
        let r = Reduced.wholeModel(model, lossSum: lossSum, count: count, stop: stop, l2: l2)
        clock.charge(.compute)
        return r
    }

    /// Rows per block of the two fused passes below: a block of M and of the gradient (2 × 64 ×
    /// 1,024 Floats, 512 KB) is still in L2 when the block's GEMM or second loop reads it, so
    /// each of the large matrices crosses memory fewer times (the passes are memory-bound:
    /// for R = 4 the GEMMs do 8 flops per element).
    static let blockRows = 64

    /// e ← e + g (M: this rank's gradient plus its error feedback), then p = e · q, block of
    /// rows by block of rows. e, g: [rows, cols]; q: [cols, R]; p: [rows, R] (all row-major).
    static func accumulateAndProject(error e: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, q: UnsafePointer<Float>,
                                     p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rank R: Int) {
        var i = 0
        while i < rows {
            let n = min(blockRows, rows - i), eb = e + i * cols, gb = g + i * cols
            for k in 0..<(n * cols) { eb[k] += gb[k] }
            Float.gemm(transA: false, transB: false, m: n, n: R, k: cols, alpha: 1, a: eb, lda: cols,
                       b: q, ldb: R, beta: 0, c: p + i * R, ldc: R)
            i += n
        }
    }

    /// g = p · qᵀ (M̃, the gradient every rank applies) and e ← e − g ÷ N (N = 1 ÷ `inverseRanks`),
    /// block of rows by block of rows. p: [rows, R]; q: [cols, R]; g, e: [rows, cols].
    static func expand(p: UnsafePointer<Float>, q: UnsafePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                       error e: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rank R: Int, inverseRanks inv: Float) {
        var i = 0
        while i < rows {
            let n = min(blockRows, rows - i), eb = e + i * cols, gb = g + i * cols
            Float.gemm(transA: false, transB: true, m: n, n: cols, k: R, alpha: 1, a: p + i * R, lda: R,
                       b: q, ldb: R, beta: 0, c: gb, ldc: cols)
            for k in 0..<(n * cols) { eb[k] -= gb[k] * inv }
            i += n
        }
    }

    /// Gram–Schmidt on the columns of a row-major [rows, columns] matrix, in place: column j
    /// loses its projections on columns 0..<j and is scaled to unit norm (ε = 10⁻⁸ keeps a
    /// zero column finite, as PyTorch's powerSGD_hook does).
    static func orthonormalizeColumns(_ a: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for j in 0..<columns {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<rows { dot += Double(a[i * columns + j]) * Double(a[i * columns + k]) }
                let fd = Float(dot)
                for i in 0..<rows { a[i * columns + j] -= fd * a[i * columns + k] }
            }
            var norm = 0.0
            for i in 0..<rows { norm += Double(a[i * columns + j]) * Double(a[i * columns + j]) }
            let s = Float(1 / (norm.squareRoot() + 1e-8))
            for i in 0..<rows { a[i * columns + j] *= s }
        }
    }
}
