// The passes of PowerSGDExchange over a weight-sized matrix [rows, cols] (row-major) and its
// rank-R factors P [rows, R] and Qᵀ [R, cols], in C (Sources/CKernels/powersgd.c) so that
// they run at the CPU's vector width (AVX2 where it has it; Swift builds for baseline SSE2).
// Each walks the matrix once, a row at a time. On the default MLP's two large weights
// (1.85 M elements, R = 4, one core of the AMD EPYC machine, best of 30 in a C loop) they take
// 0.53 + 0.47 + 0.29 ms, where OpenBLAS 0.3.21's sgemm on these shapes (K = R or N = R: it
// packs its operands first and reaches a fraction of its rate) with the loops around it took
// 1.03 + 0.73 + 1.41 ms.
import CKernels

extension PowerSGDExchange {
    /// M ← (M − P̂ₒQᵀ ÷ N) + g, then P = M Q, row by row: M (`error`), g: [rows, cols]; P̂ₒ
    /// (`owed`, the last step's P̂; nil at the first step: M ← M + g): [rows, R]; Qᵀ (the last
    /// step's Q, which this step projects on): [R, cols]; P: [rows, R]; N = 1 ÷ `inverseRanks`.
    static func accumulateAndProject(error e: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, owed pHat: UnsafePointer<Float>?,
                                     q: UnsafePointer<Float>, p: UnsafeMutablePointer<Float>, rows: Int, cols: Int, rank R: Int,
                                     inverseRanks inv: Float) {
        nn_psgd_accumulate_project(e, g, pHat, q, p, rows, cols, R, inv)
    }

    /// Qᵀ = (Mᵀ P̂)ᵀ, i.e. Qᵀ[r, j] = Σᵢ M[i, j] · P̂[i, r] summed over i in order: M
    /// (`error`): [rows, cols]; P̂: [rows, R]; Qᵀ (`q`, overwritten): [R, cols].
    static func projectTransposed(error e: UnsafePointer<Float>, pHat: UnsafePointer<Float>, q: UnsafeMutablePointer<Float>,
                                  rows: Int, cols: Int, rank R: Int) {
        nn_psgd_project_transposed(e, pHat, q, rows, cols, R)
    }

    /// g = P̂ Qᵀ (M̃, the gradient every rank applies: the same bits on any CPU), row by row,
    /// and whether every element of g is finite. P̂: [rows, R]; Qᵀ: [R, cols]; g: [rows, cols].
    static func expand(p: UnsafePointer<Float>, q: UnsafePointer<Float>, gradient g: UnsafeMutablePointer<Float>,
                       rows: Int, cols: Int, rank R: Int) -> Bool {
        nn_psgd_expand(p, q, g, rows, cols, R)
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
