// libm entry points under names that do not collide with the NNScalar requirements.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func Foundation_expf(_ x: Float) -> Float { expf(x) }
@inline(__always) func Foundation_logf(_ x: Float) -> Float { logf(x) }
@inline(__always) func Foundation_tanhf(_ x: Float) -> Float { tanhf(x) }
@inline(__always) func Foundation_log1pf(_ x: Float) -> Float { log1pf(x) }
@inline(__always) func Foundation_exp(_ x: Double) -> Double { exp(x) }
@inline(__always) func Foundation_log(_ x: Double) -> Double { log(x) }
@inline(__always) func Foundation_tanh(_ x: Double) -> Double { tanh(x) }
@inline(__always) func Foundation_log1p(_ x: Double) -> Double { log1p(x) }

/// Whether all `count` floats at `p` are finite (no ±∞, no NaN), in one pass without an early
/// exit, so it vectorizes: |x| as bits ≥ 0x7f800000 ⇔ x is ±∞ or NaN, and an integer max
/// over the bits finds the largest. The check every training step runs on the gradients.
@inlinable public func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
    UnsafeRawPointer(p).withMemoryRebound(to: UInt32.self, capacity: count) { u in
        var m: UInt32 = 0
        for i in 0..<count { m = max(m, u[i] & 0x7fff_ffff) }
        return m < 0x7f80_0000
    }
}
