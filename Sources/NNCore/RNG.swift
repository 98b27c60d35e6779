// RNG: the one deterministic random number generator of nntrain.
// Same seed, same numbers, on every platform and rank: initialization, shuffling and
// synthetic data all draw from it, which makes runs bit-reproducible.

/// xoshiro256** (Blackman & Vigna 2018), seeded through SplitMix64.
public struct RNG: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator whose whole sequence is fixed by `seed`.
    public init(seed: UInt64) {
        var sm = seed
        func next() -> UInt64 { defer { sm &+= RNG.golden }; return RNG.splitMix64(sm) }
        state = (next(), next(), next(), next())
    }

    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64 (Steele et al. 2014) at state x: the finalizer of x + golden, a bijection of
    /// 64-bit words that spreads every input bit. Seeds the generator, and hashes NoiseKey's fields.
    @inline(__always) public static func splitMix64(_ x: UInt64) -> UInt64 {
        var z = x &+ golden
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Restores a generator from a saved state (see `state`).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) { self.state = state }

    /// Derives an independent stream, e.g. `RNG(seed: seed, stream: epoch)`.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03) &+ 0x632B_E59B_D9B4_E019)
    }

    public static func == (a: RNG, b: RNG) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = RNG.rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = RNG.rotl(state.3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Standard normal by Box–Muller (one value per call; the pair's second value is discarded
    /// so that the stream position depends only on the number of calls).
    public mutating func normal() -> Double {
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        return (-2 * Foundation_log(u1)).squareRoot() * cos2pi(u2)
    }

    /// Uniform integer in 0..<n (Lemire's method, unbiased).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        return Int(next(upperBound: UInt64(n)))
    }

    /// A permutation of 0..<n by Fisher–Yates.
    public mutating func permutation(_ n: Int, into out: UnsafeMutablePointer<Int32>) {
        for i in 0..<n { out[i] = Int32(i) }
        if n < 2 { return }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = int(below: i + 1)
            let t = out[i]; out[i] = out[j]; out[j] = t
        }
    }
}

@inline(__always) private func cos2pi(_ u: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.cos(2 * Double.pi * u)
    #else
    return Darwin.cos(2 * Double.pi * u)
    #endif
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
