// BLASKernel: which of OpenBLAS's kernels this process runs, and which it should.
//
// OpenBLAS (Debian's 0.3.21, DYNAMIC_ARCH) picks its kernels from the CPU's model number. A virtual
// CPU that reports a model it does not know ("Intel(R) Xeon(R) Processor") gets the Prescott
// kernels (SSE3) even when it has AVX-512: on such a machine here the default MLP trains at 2,879
// samples/s instead of 9,477 with the SkylakeX kernels, and loses 3× to PyTorch (whose oneDNN
// reads the CPU's features, not its model). OPENBLAS_CORETYPE overrides the choice, but only when
// the library loads, before `main`; the CLI therefore re-executes itself once with it set
// (NNTrainCLI's `upgradeBLASKernel`).
import CBLAS

public enum BLASKernel {
    /// The kernel family OpenBLAS chose for this process, e.g. "Haswell", "SkylakeX", "Prescott".
    public static var current: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

    /// Kernel families with AVX2 + FMA, and those with AVX-512 (of OpenBLAS 0.3.21's x86-64 list).
    static let avx2Cores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]
    static let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]

    /// The core type to ask for when OpenBLAS chose one that uses less of the CPU than it has:
    /// SkylakeX on a CPU with AVX-512 F/BW/VL, Haswell on one with AVX2 and FMA; nil when the
    /// choice already uses them (or the CPU has neither).
    public static func better(than current: String, avx512: Bool, avx2: Bool) -> String? {
        if avx512 && !avx512Cores.contains(current) { return "SkylakeX" }
        if avx2 && !avx2Cores.contains(current) { return "Haswell" }
        return nil
    }

    /// `better(than:)` for this process and CPU.
    public static var recommended: String? {
        better(than: current, avx512: nntrain_cpu_has_avx512() != 0, avx2: nntrain_cpu_has_avx2_fma() != 0)
    }
}
