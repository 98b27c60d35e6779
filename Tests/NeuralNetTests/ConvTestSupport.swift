// Helpers shared by the convolution, locally connected and pooling tests: a one-layer model
// with random parameters, random batches, and a squared-loss gradient check over it.
import NNCore
@testable import NeuralNet

/// Random values in [-1, 1) from a fixed seed.
func randomArray(_ n: Int, seed: UInt64) -> [Double] {
    var rng = RNG(seed: seed)
    return (0..<n).map { _ in rng.uniform(-1, 1) }
}

/// Checks dL/dθ of `layers` (as one Sequential) against finite differences, for the
/// squared loss ½‖f(x) − t‖² with random x and t. Returns the result per tensor.
///
/// On the step h: for one Conv2D or LocallyConnected2D, f is affine in θ, so L is exactly
/// quadratic in each θᵢ and the central difference has no truncation error for any h; its
/// only error is rounding, ≈ ε·|L|/h. A large step (the default 1e-2) therefore makes the check
/// sharper, not looser: with h = 1e-6 and |L| ≈ 10 rounding alone is ≈ 1e-9, which is already a
/// relative error of 1e-4 on a gradient element of 1e-5. Networks with nonlinearities need a
/// small h (truncation error O(h²)); pass one.
func parameterCheck(_ layers: [any Layer<Double>], batch: Int, seed: UInt64 = 1, h: Double = 1e-2) -> [String: GradientCheckResult] {
    let model = Sequential<Double>(layers)
    var rng = RNG(seed: seed)
    model.initialize(.pytorch, rng: &rng)
    let x = Buffer<Double>(count: batch * model.inputSize)
    for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
    let t = Buffer<Double>(count: batch * model.outputSize)
    for i in 0..<t.count { t[i] = rng.uniform(-1, 1) }
    let results = GradientCheck.run(model: model, loss: .squared, x: x.pointer,
                                    targets: Targets(values: t.pointer), batch: batch, h: h)
    return Dictionary(uniqueKeysWithValues: results.map { ($0.name, $0) })
}

/// Checks dL/dx of one layer (with its parameters drawn at random) against finite differences,
/// for L = Σ c ⊙ layer(x). For layers linear in x (conv, locally connected, average pooling,
/// flatten) L is linear in x and any h is exact up to rounding (see `parameterCheck`); max
/// pooling is only piecewise linear, so it needs h below the gaps between window values.
func inputCheck(_ layer: any Layer<Double>, batch: Int, seed: UInt64 = 2, h: Double = 1e-2) -> GradientCheckResult {
    let params = Buffer<Double>(count: layer.parameterCount), grads = Buffer<Double>(count: layer.parameterCount)
    layer.bind(parameters: params.pointer, gradients: grads.pointer)
    var rng = RNG(seed: seed)
    layer.initialize(.pytorch, rng: &rng)
    let x = Buffer<Double>(count: batch * layer.inputSize)
    for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
    return withExtendedLifetime(params) {
        withExtendedLifetime(grads) { GradientCheck.inputGradient(layer: layer, x: x.pointer, batch: batch, rng: &rng, h: h) }
    }
}

/// Runs `layer.forward` on `x` with the given flat parameters; returns y. Reserves for
/// `reserve` samples (≥ batch) to exercise batches smaller than the scratch space.
func runForward(_ layer: any Layer<Double>, parameters: [Double], x: [Double], batch: Int, reserve: Int? = nil) -> [Double] {
    let p = Buffer<Double>(count: layer.parameterCount), g = Buffer<Double>(count: layer.parameterCount)
    for i in 0..<parameters.count { p[i] = parameters[i] }
    layer.bind(parameters: p.pointer, gradients: g.pointer)
    layer.reserve(batch: reserve ?? batch)
    let y = Buffer<Double>(count: batch * layer.outputSize)
    x.withUnsafeBufferPointer { layer.forward($0.baseAddress!, y.pointer, batch: batch) }
    return withExtendedLifetime(p) { withExtendedLifetime(g) { y.array } }
}

/// Gradients of one forward/backward with dy = `dy`, run twice with `accumulate` true the
/// second time: returns (first, accumulated).
func gradientsTwice(_ layer: any Layer<Double>, batch: Int, seed: UInt64 = 3) -> ([Double], [Double]) {
    let p = Buffer<Double>(count: layer.parameterCount), g = Buffer<Double>(count: layer.parameterCount)
    layer.bind(parameters: p.pointer, gradients: g.pointer)
    var rng = RNG(seed: seed)
    layer.initialize(.pytorch, rng: &rng)
    layer.reserve(batch: batch)
    let x = Buffer<Double>(count: batch * layer.inputSize), y = Buffer<Double>(count: batch * layer.outputSize)
    let dy = Buffer<Double>(count: batch * layer.outputSize), dx = Buffer<Double>(count: batch * layer.inputSize)
    for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
    for i in 0..<dy.count { dy[i] = rng.uniform(-1, 1) }
    g.pointer.update(repeating: 7, count: g.count)   // stale values that a non-accumulating pass must overwrite
    layer.forward(x.pointer, y.pointer, batch: batch)
    layer.backward(x: x.pointer, y: y.pointer, dy: dy.pointer, dx: dx.pointer, batch: batch, accumulate: false)
    let first = g.array
    layer.forward(x.pointer, y.pointer, batch: batch)
    layer.backward(x: x.pointer, y: y.pointer, dy: dy.pointer, dx: dx.pointer, batch: batch, accumulate: true)
    return withExtendedLifetime(p) { (first, g.array) }
}

/// max |a − b| over two equally long arrays (∞ when the lengths differ).
func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
