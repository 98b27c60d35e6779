// Tests of the seeded RNG and the BLAS product wrapper.
import Testing
@testable import NNCore

@Suite struct RNGTests {
    @Test func sameSeedSameStream() {
        var a = RNG(seed: 42), b = RNG(seed: 42), c = RNG(seed: 43)
        let xa = (0..<100).map { _ in a.next() }
        let xb = (0..<100).map { _ in b.next() }
        let xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func generatorMatchesPublishedXoshiro256StarStar() {
        // The state (1, 2, 3, 4) gives the outputs published with the reference C code
        // (prng.di.unimi.it/xoshiro256starstar.c) and pinned in other ports' tests (e.g. Rust's
        // rand_xoshiro); recomputed here with that C code compiled by gcc.
        var r = RNG(state: (1, 2, 3, 4))
        let expected: [UInt64] = [11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
                                  607988272756665600, 16172922978634559625, 8476171486693032832,
                                  10595114339597558777, 2904607092377533576]
        #expect((0..<10).map { _ in r.next() } == expected)
    }

    @Test func pinnedFirstValues() {
        // Pins the seeding too: a change here changes every run's initialization and shuffling.
        // SplitMix64 from 0 (prng.di.unimi.it/splitmix64.c) gives the state; its first output
        // 0xe220a8397b1dcdaf is the published SplitMix64(0) value. The outputs were computed with
        // the reference C code of both generators (gcc) and, independently, a Python transcription.
        let r0 = RNG(seed: 0)
        #expect(r0.state.0 == 0xe220_a839_7b1d_cdaf && r0.state.1 == 0x6e78_9e6a_a1b9_65f4
                && r0.state.2 == 0x06c4_5d18_8009_454f && r0.state.3 == 0xf88b_b8a8_724c_81ec)
        var r = RNG(seed: 0)
        #expect((0..<5).map { _ in r.next() } == [0x99ec_5f36_cb75_f2b4, 0xbf6e_1f78_4956_452a, 0x1a5f_849d_4933_e6e0,
                                                    0x6aa5_94f1_262d_2d2c, 0xbba5_ad4a_1f84_2e59])
        var r42 = RNG(seed: 42)
        #expect((0..<5).map { _ in r42.next() } == [0x1578_0b2e_0c2e_c716, 0x6104_d986_6d11_3a7e, 0xae17_5332_39e4_99a1,
                                                      0xecb8_ad47_03b3_60a1, 0xfde6_dc7f_e2ec_5e64])
    }

    @Test func uniformAndNormalMoments() {
        var r = RNG(seed: 7)
        let n = 100_000
        var s = 0.0, s2 = 0.0, u = 0.0
        for _ in 0..<n { let z = r.normal(); s += z; s2 += z * z; u += r.uniform() }
        #expect(abs(s / Double(n)) < 0.02)
        #expect(abs(s2 / Double(n) - 1) < 0.02)
        #expect(abs(u / Double(n) - 0.5) < 0.01)
    }

    @Test func permutationIsAPermutation() {
        var r = RNG(seed: 3)
        let b = Buffer<Int32>(count: 1000)
        r.permutation(1000, into: b.pointer)
        #expect(Set(b.array).count == 1000)
        #expect(b.array.min() == 0 && b.array.max() == 999)
        #expect(b.array != Array(0..<1000).map(Int32.init))
    }

    @Test func streamsDiffer() {
        var a = RNG(seed: 1, stream: 1), b = RNG(seed: 1, stream: 2)
        #expect(a.next() != b.next())
    }
}

@Suite struct GemmTests {
    /// Slow obvious reference: C = op(A) op(B).
    func reference(_ tA: Bool, _ tB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Double], _ b: [Double]) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]) }
            c[i * n + j] = s
        } }
        return c
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesReference(_ t: (Bool, Bool)) {
        let (m, n, k) = (5, 7, 3)
        var r = RNG(seed: 9)
        let a = (0..<(m * k)).map { _ in r.uniform(-1, 1) }
        let b = (0..<(k * n)).map { _ in r.uniform(-1, 1) }
        var c = [Double](repeating: 0, count: m * n)
        Double.gemm(transA: t.0, transB: t.1, m: m, n: n, k: k, alpha: 1, a: a, lda: t.0 ? m : k,
                    b: b, ldb: t.1 ? k : n, beta: 0, c: &c, ldc: n)
        let ref = reference(t.0, t.1, m, n, k, a, b)
        for i in 0..<(m * n) { #expect(abs(c[i] - ref[i]) < 1e-12) }
        // Float path agrees to single precision.
        var cf = [Float](repeating: 0, count: m * n)
        Float.gemm(transA: t.0, transB: t.1, m: m, n: n, k: k, alpha: 1, a: a.map(Float.init), lda: t.0 ? m : k,
                   b: b.map(Float.init), ldb: t.1 ? k : n, beta: 0, c: &cf, ldc: n)
        for i in 0..<(m * n) { #expect(abs(Double(cf[i]) - ref[i]) < 1e-5) }
    }
}
