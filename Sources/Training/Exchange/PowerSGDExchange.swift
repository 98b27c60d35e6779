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
// The last line is not a pass of its own: the buffer keeps M, and the next step's first pass
// forms M' = (M − P̂Qᵀ ÷ N) + g' from the P̂ and Q this step kept (the same eᵢ up to
// rounding). A step thus crosses each matrix three times, row by row (PowerSGDPasses.swift):
// M' with P = M'Q; Q = M'ᵀP̂; M̃ = P̂Qᵀ with its finiteness check.
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
        /// Offsets of this matrix's P [rows, R] in the reduced buffer and its Qᵀ [R, cols] in `q`.
        let p: Int, q: Int
        /// M of the last step (this rank's gradient plus its error feedback), [rows, cols]; its
        /// eᵢ is M − P̂Qᵀ ÷ N with the P̂ in `pHat` (at offset `p`) and the Q in `q`.
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
    /// Every Q (as Qᵀ, [R, cols]: each of its columns contiguous), reduced in the second allreduce.
    let q: Buffer<Float>
    /// Every matrix's P̂ of the last step (the P part of `first`, copied), for the error
    /// feedback still owed (see the header).
    let pHat: Buffer<Float>
    /// Whether `pHat` and `q` hold a step's P̂ and Q whose M̃ ÷ N the error buffers still hold.
    var owed = false
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
        pHat = Buffer(count: max(p, 1))
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
        let inv = 1 / Float(comm.size)
        // M = gradient + error (the last step's M − P̂Qᵀ ÷ N); P = M Q.
        for m in matrices {
            PowerSGDExchange.accumulateAndProject(error: m.error.pointer, gradient: g + m.offset, owed: owed ? pHat.pointer + m.p : nil,
                                                  q: q.pointer + m.q, p: f + m.p, rows: m.rows, cols: m.cols, rank: R,
                                                  inverseRanks: inv)
        }
        var d = denseOffset
        for r in dense { (f + d).update(from: g + r.lowerBound, count: r.count); d += r.count }
        (f + d).update(from: g + P, count: Tail.size)
        clock.charge(.compute)
        try comm.allReduceSum(first.buffer)
        clock.charge(.comm)
        for m in matrices {
            PowerSGDExchange.orthonormalizeColumns(f + m.p, rows: m.rows, columns: R)
            PowerSGDExchange.projectTransposed(error: m.error.pointer, pHat: f + m.p, q: q.pointer + m.q, rows: m.rows, cols: m.cols, rank: R)
        }
        clock.charge(.compute)
        if !matrices.isEmpty { try comm.allReduceSum(q.buffer) }
        clock.charge(.comm)
        // M̃ = P̂ Qᵀ into the gradient, checked as it is written; every P̂ kept for eᵢ = M − M̃ ÷ N.
        var finite = true
        for m in matrices {
            finite = PowerSGDExchange.expand(p: f + m.p, q: q.pointer + m.q, gradient: g + m.offset, rows: m.rows, cols: m.cols, rank: R) && finite
        }
        pHat.pointer.update(from: f, count: denseOffset)
        owed = !matrices.isEmpty
        d = denseOffset
        for r in dense {
            (g + r.lowerBound).update(from: f + d, count: r.count)
            finite = allFinite(g + r.lowerBound, count: r.count) && finite
            d += r.count
        }
        let (lossSum, count, stop) = FastSum().tail { f[d + $0] }
        // With λ > 0, 2λθ is added over the whole model, which is then checked whole.
        let r = l2 > 0 ? Reduced.wholeModel(model, lossSum: lossSum, count: count, stop: stop, l2: l2)
                       : Reduced(lossSum: lossSum, count: count, stop: stop, finite: finite, sumSquares: 0)
        clock.charge(.compute)
        return r
    }
}
