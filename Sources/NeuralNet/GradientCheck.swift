// GradientCheck: compares backpropagation with central finite differences in Double.
import NNCore

/// The result of checking one parameter tensor (or the input).
public struct GradientCheckResult: Sendable {
    public var name: String
    public var count: Int
    /// max over elements of |analytic − numeric| / max(|analytic|, |numeric|, floor).
    public var maxRelativeError: Double
    /// max over elements of |analytic − numeric|.
    public var maxAbsoluteError: Double
}

/// Central-difference gradient checks.
///
/// For each parameter θᵢ the five-point central difference
///   numeric = [8(L(θ+h) − L(θ−h)) − (L(θ+2h) − L(θ−2h))] / 12h
/// (truncation error O(h⁴), rounding error ≈ ε·|L|/h ≈ 1e-12 at h = 1e-4) is compared with
/// the backpropagated ∂L/∂θᵢ. The relative error uses `floor` in its denominator so that
/// elements whose true gradient is ~0 (e.g. a dead ReLU) are judged by absolute error
/// below `floor` rather than by noise.
public enum GradientCheck {
    /// Checks every parameter tensor of `model` on the batch (x, targets).
    ///
    /// - Parameters:
    ///   - maxPerTensor: check at most this many elements per tensor (spread evenly); nil = all.
    public static func run(model: Sequential<Double>, loss: LossFunction, x: UnsafePointer<Double>,
                           targets: Targets<Double>, batch: Int, l2: Double = 0, h: Double = 1e-4,
                           floor: Double = 1e-7, maxPerTensor: Int? = nil, smoothing: Double = 0) -> [GradientCheckResult] {
        let n = model.parameterCount
        let w = model.parameters.pointer
        func objective() -> Double {
            let z = model.forward(x, batch: batch)
            var l = loss.evaluate(z, targets: targets, batch: batch, outputs: model.outputSize, dz: nil, smoothing: smoothing)
            if l2 > 0 { var s = 0.0; for i in 0..<n { s += w[i] * w[i] }; l += l2 * s * Double(batch) }
            return l / Double(batch)
        }
        // Analytic gradient of the mean loss (+ λ‖θ‖²).
        let z = model.forward(x, batch: batch)
        _ = loss.evaluate(z, targets: targets, batch: batch, outputs: model.outputSize,
                          dz: model.outputGradient, scale: 1 / Double(batch), smoothing: smoothing)
        model.backward(x, batch: batch)
        let analytic = (0..<n).map { i in model.gradients[i] + 2 * l2 * w[i] }

        var results: [GradientCheckResult] = []
        for t in model.namedTensors {
            var maxRel = 0.0, maxAbs = 0.0
            let stride = maxPerTensor.map { max(1, t.count / $0) } ?? 1
            for j in Swift.stride(from: 0, to: t.count, by: stride) {
                let i = t.offset + j
                let saved = w[i]
                let numeric = fivePoint(h) { w[i] = saved + $0; return objective() }
                w[i] = saved
                let a = analytic[i]
                let abs = Swift.abs(a - numeric)
                maxAbs = max(maxAbs, abs)
                maxRel = max(maxRel, abs / max(Swift.abs(a), Swift.abs(numeric), floor))
            }
            results.append(GradientCheckResult(name: t.name, count: t.count, maxRelativeError: maxRel, maxAbsoluteError: maxAbs))
        }
        return results
    }

    /// Checks the gradient with respect to the input of a single layer, with the
    /// scalar objective L = Σ c ⊙ layer(x) for a fixed random c.
    public static func inputGradient(layer: any Layer<Double>, x: UnsafeMutablePointer<Double>, batch: Int,
                                     rng: inout RNG, h: Double = 1e-4, floor: Double = 1e-7) -> GradientCheckResult {
        let nIn = batch * layer.inputSize, nOut = batch * layer.outputSize
        let c = Buffer<Double>(count: nOut), y = Buffer<Double>(count: nOut), dx = Buffer<Double>(count: nIn)
        for i in 0..<nOut { c[i] = rng.uniform(-1, 1) }
        layer.reserve(batch: batch)
        func objective() -> Double {
            layer.forward(x, y.pointer, batch: batch)
            var s = 0.0; for i in 0..<nOut { s += c[i] * y[i] }; return s
        }
        layer.forward(x, y.pointer, batch: batch)
        layer.backward(x: x, y: y.pointer, dy: c.pointer, dx: dx.pointer, batch: batch, accumulate: false)
        var maxRel = 0.0, maxAbs = 0.0
        for i in 0..<nIn {
            let saved = x[i]
            let numeric = fivePoint(h) { x[i] = saved + $0; return objective() }
            x[i] = saved
            let abs = Swift.abs(dx[i] - numeric)
            maxAbs = max(maxAbs, abs)
            maxRel = max(maxRel, abs / max(Swift.abs(dx[i]), Swift.abs(numeric), floor))
        }
        return GradientCheckResult(name: "input", count: nIn, maxRelativeError: maxRel, maxAbsoluteError: maxAbs)
    }

    /// [8(f(h) − f(−h)) − (f(2h) − f(−2h))] / 12h, where f(d) evaluates the objective at offset d.
    static func fivePoint(_ h: Double, _ f: (Double) -> Double) -> Double {
        let p1 = f(h), m1 = f(-h), p2 = f(2 * h), m2 = f(-2 * h)
        return (8 * (p1 - m1) - (p2 - m2)) / (12 * h)
    }
}
