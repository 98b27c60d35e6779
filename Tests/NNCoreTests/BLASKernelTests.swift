// BLASKernel.better: which OpenBLAS core type to ask for, given the one chosen and the CPU's features.
import Testing
@testable import NNCore

@Suite struct BLASKernelTests {
    @Test func asksForTheWidestKernelTheCPURuns() {
        #expect(BLASKernel.better(than: "Prescott", avx512: true, avx2: true) == "SkylakeX")
        #expect(BLASKernel.better(than: "Haswell", avx512: true, avx2: true) == "SkylakeX")
        #expect(BLASKernel.better(than: "Prescott", avx512: false, avx2: true) == "Haswell")
        #expect(BLASKernel.better(than: "Sandybridge", avx512: false, avx2: true) == "Haswell")
        // Already wide enough, or nothing better to run.
        #expect(BLASKernel.better(than: "SkylakeX", avx512: true, avx2: true) == nil)
        #expect(BLASKernel.better(than: "Cooperlake", avx512: true, avx2: true) == nil)
        #expect(BLASKernel.better(than: "Zen", avx512: false, avx2: true) == nil)
        #expect(BLASKernel.better(than: "Haswell", avx512: false, avx2: true) == nil)
        #expect(BLASKernel.better(than: "Prescott", avx512: false, avx2: false) == nil)
    }
}
