// The scalar types nntrain computes in: Float for training, Double for gradient checks.
// Both go through one protocol so that every layer is written once.
import CBLAS

/// A floating-point type with BLAS matrix products.
///
/// `Float` maps to `cblas_sgemm`, `Double` to `cblas_dgemm`.
public protocol NNScalar: BinaryFloatingPoint, Sendable where Self.RawSignificand: FixedWidthInteger {
    /// `C = alpha * op(A) * op(B) + beta * C`, row-major.
    ///
    /// - Parameters:
    ///   - transA, transB: whether A (resp. B) is read transposed.
    ///   - m, n, k: op(A) is [m, k], op(B) is [k, n], C is [m, n].
    ///   - lda, ldb, ldc: row strides of A, B, C as stored.
    static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Self, a: UnsafePointer<Self>, lda: Int,
                     b: UnsafePointer<Self>, ldb: Int,
                     beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func log1p(_ x: Self) -> Self
}

@inline(__always)
private func cblasTrans(_ t: Bool) -> CBLAS_TRANSPOSE { t ? CblasTrans : CblasNoTrans }

extension Float: NNScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Float, a: UnsafePointer<Float>, lda: Int,
                            b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                    b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inline(__always) public static func exp(_ x: Float) -> Float { Foundation_expf(x) }
    @inline(__always) public static func log(_ x: Float) -> Float { Foundation_logf(x) }
    @inline(__always) public static func tanh(_ x: Float) -> Float { Foundation_tanhf(x) }
    @inline(__always) public static func log1p(_ x: Float) -> Float { Foundation_log1pf(x) }
}

extension Double: NNScalar {
    @inline(__always)
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                            alpha: Double, a: UnsafePointer<Double>, lda: Int,
                            b: UnsafePointer<Double>, ldb: Int,
                            beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        cblas_dgemm(CblasRowMajor, cblasTrans(transA), cblasTrans(transB),
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda),
                    b, blasint(ldb), beta, c, blasint(ldc))
    }
    @inline(__always) public static func exp(_ x: Double) -> Double { Foundation_exp(x) }
    @inline(__always) public static func log(_ x: Double) -> Double { Foundation_log(x) }
    @inline(__always) public static func tanh(_ x: Double) -> Double { Foundation_tanh(x) }
    @inline(__always) public static func log1p(_ x: Double) -> Double { Foundation_log1p(x) }
}

/// OpenBLAS thread control.
public enum BLASThreads {
    /// Sets the number of threads OpenBLAS uses for every later call in this process.
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    /// The number of threads OpenBLAS currently uses.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
