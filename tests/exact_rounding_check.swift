// exact_rounding_check.swift: checks the identity Trainer.step relies on in exact mode,
//   Int64(x + copysign(0.5 − 2⁻⁵⁴, x)) == Int64(x.rounded())  and  |x.rounded()| < L ⇔ |y| < ⌈L⌉,
// on edge cases (ties, binade edges, 2⁵², limits, NaN, ±∞) and random values.
// Run by tests/exact_rounding_check.sh (launch/test.sh runs it), or by hand:
//   swiftc -O tests/exact_rounding_check.swift -o /tmp/erc && /tmp/erc   (prints "N passed, M failed", exit 1 on a failure)
// The random values come from a fixed-seed SplitMix64, so a failure reproduces.
import Foundation
var bad = 0
func check(_ x: Double, _ limit: Double) {
    let bound = limit.rounded(.up)
    let v = x.rounded()
    let okOld = abs(v) < limit
    let y = x + Double(signOf: x, magnitudeOf: 0x1.fffffffffffffp-2)
    let okNew = abs(y) < bound
    if okOld != okNew { bad += 1; print("bound mismatch", x, limit); return }
    if okOld && Int64(v) != Int64(y) { bad += 1; print("value mismatch", x, v, y) }
}
let limits = [0x1p62 / 4, 0x1p62 / 3, 0x1p62 / 7, 0x1p62 / 1000, 0x1p62 / 1e9, 1000.5, 7.0]
var xs: [Double] = [0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994, 0x1p52, 0x1p52 - 0.5, 0x1p51 + 0.5, 0x1p53 - 1, 0x1p60, -0x1p60, .nan, .infinity, -.infinity, 4503599627370495.5, 1e-300, 0x1.fffffffffffffp-2 + 0x1p-54]
for k in -60...62 { let p = Double(sign: .plus, exponent: k, significand: 1); for d in [-2.0, -1, -0.5, 0, 0.5, 1, 2] { xs.append(p + d); xs.append(-(p + d)); xs.append(p.nextUp); xs.append(p.nextDown); xs.append(-p.nextDown) } }
for l in limits { for d in [-1.0, -0.5, 0, 0.5, 1] { xs.append(l + d); xs.append(l.rounded(.up) + d); xs.append(-(l + d)) } }
/// SplitMix64 (prng.di.unimi.it/splitmix64.c), fixed seed.
struct SplitMix64: RandomNumberGenerator {
    var x: UInt64
    mutating func next() -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
var rng = SplitMix64(x: UInt64(ProcessInfo.processInfo.environment["SEED"] ?? "") ?? 2024)
for _ in 0..<1_000_000 {
    let f = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
    xs.append(Double(f) * 0x1p40)
    xs.append(Double.random(in: -1e6...1e6, using: &rng) + [0, 0.5, -0.5][Int.random(in: 0...2, using: &rng)])
    xs.append(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)) + 0.5)
}
for x in xs { for l in limits { check(x, l) } }
print("\(xs.count * limits.count - bad) passed, \(bad) failed")
if bad > 0 { exit(1) }
