// Finite-difference gradient checks, in Double, of every layer, activation and loss.
import Foundation
import Testing
@testable import NeuralNet
import NNCore

/// Builds inputs and targets for a check and runs it.
func checkModel(_ layers: [any Layer<Double>], loss: LossFunction, batch: Int = 4, l2: Double = 0,
                seed: UInt64 = 1, inputScale: Double = 1, smoothing: Double = 0) -> [GradientCheckResult] {
    let net = Sequential<Double>(layers)
    var rng = RNG(seed: seed)
    net.initialize(.pytorch, rng: &rng)
    let x = Buffer<Double>(count: batch * net.inputSize)
    for i in 0..<x.count { x[i] = rng.uniform(-inputScale, inputScale) }
    let outputs = net.outputSize
    let labels = Buffer<Int32>(count: batch)
    for i in 0..<batch { labels[i] = Int32(rng.int(below: loss == .bce ? 2 : outputs)) }
    let values = Buffer<Double>(count: batch * outputs)
    for i in 0..<values.count { values[i] = rng.uniform(-1, 1) }
    return GradientCheck.run(model: net, loss: loss, x: x.pointer,
                             targets: Targets(labels: labels.pointer, values: values.pointer), batch: batch, l2: l2,
                             smoothing: smoothing)
}

@Suite struct GradientCheckTests {
    static let smooth: [Activation] = [.sigmoid, .tanh, .relu, .leakyReLU(0.1)]

    @Test(arguments: smooth)
    func mlpWithActivation(_ a: Activation) {
        let layers: [any Layer<Double>] = [Linear(6, 5), ActivationLayer(a, shape: [5]), Linear(5, 3)]
        let results = checkModel(layers, loss: .crossEntropy)
        #expect(results.count == 4)
        for r in results { #expect(r.maxRelativeError <= 1e-6, "\(a) \(r.name): \(r.maxRelativeError)") }
    }

    @Test(arguments: LossFunction.allCases)
    func everyLoss(_ loss: LossFunction) {
        let out = loss == .bce ? 1 : 3
        let layers: [any Layer<Double>] = [Linear(4, 6), ActivationLayer(.tanh, shape: [6]), Linear(6, out)]
        for r in checkModel(layers, loss: loss, batch: 5) {
            #expect(r.maxRelativeError <= 1e-6, "\(loss) \(r.name): \(r.maxRelativeError)")
        }
    }

    @Test func l2Regularization() {
        // J(θ) = λ‖θ‖² + 1/N Σ (yᵢ − θᵀxᵢ)²: the lecture's regularized squared loss.
        let layers: [any Layer<Double>] = [Linear(5, 1)]
        for r in checkModel(layers, loss: .mse, batch: 8, l2: 0.3) {
            #expect(r.maxRelativeError <= 1e-6, "\(r.name): \(r.maxRelativeError)")
        }
    }

    @Test func linearWithoutBias() {
        for r in checkModel([Linear<Double>(3, 2, bias: false)], loss: .squared) {
            #expect(r.maxRelativeError <= 1e-6)
        }
    }

    @Test(arguments: smooth + [.step])
    func activationInputGradient(_ a: Activation) {
        var rng = RNG(seed: 5)
        let layer = ActivationLayer<Double>(a, shape: [7])
        let x = Buffer<Double>(count: 3 * 7)
        // Keep inputs away from the kinks of relu/leaky/step (|x| ≥ 0.05).
        for i in 0..<x.count { let v = rng.uniform(0.05, 2); x[i] = rng.uniform() < 0.5 ? -v : v }
        let r = GradientCheck.inputGradient(layer: layer, x: x.pointer, batch: 3, rng: &rng)
        #expect(r.maxRelativeError <= 1e-6, "\(a): \(r.maxRelativeError)")
    }

    @Test func linearInputGradient() {
        var rng = RNG(seed: 11)
        let layer = Linear<Double>(4, 3)
        let net = Sequential<Double>([layer])
        net.initialize(.xavier, rng: &rng)
        let x = Buffer<Double>(count: 2 * 4)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let r = GradientCheck.inputGradient(layer: layer, x: x.pointer, batch: 2, rng: &rng)
        #expect(r.maxRelativeError <= 1e-6)
    }

    @Test func stepHasExactlyZeroGradient() {
        // Gradient descent cannot train through a Heaviside unit: every weight before it gets 0.
        let layers: [any Layer<Double>] = [Linear(3, 4), ActivationLayer(.step, shape: [4]), Linear(4, 2)]
        let net = Sequential<Double>(layers)
        var rng = RNG(seed: 2)
        net.initialize(.pytorch, rng: &rng)
        let x = Buffer<Double>(count: 6 * 3)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: 6)
        for i in 0..<6 { labels[i] = Int32(i % 2) }
        let z = net.forward(x.pointer, batch: 6)
        _ = LossFunction.crossEntropy.evaluate(z, targets: Targets(labels: labels.pointer), batch: 6, outputs: 2,
                                               dz: net.outputGradient, scale: 1)
        net.backward(x.pointer, batch: 6)
        for i in 0..<(4 * 3 + 4) { #expect(net.gradients[i] == 0) }
        // The layer after the step still learns.
        #expect((16..<net.parameterCount).contains { net.gradients[$0] != 0 })
    }

    @Test func gradientCheckCanFail() {
        // A deliberately wrong analytic gradient must be caught: perturb a weight gradient.
        let net = Sequential<Double>([Linear(3, 2)])
        var rng = RNG(seed: 4)
        net.initialize(.pytorch, rng: &rng)
        let x = Buffer<Double>(count: 3 * 2)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: 2)
        let good = GradientCheck.run(model: net, loss: .crossEntropy, x: x.pointer, targets: Targets(labels: labels.pointer), batch: 2)
        #expect(good.allSatisfy { $0.maxRelativeError <= 1e-6 })
        // Wrong loss derivative: scale dz by 2 through an mse-vs-squared mix-up.
        let bad = GradientCheck.run(model: net, loss: .crossEntropy, x: x.pointer,
                                    targets: Targets(labels: labels.pointer), batch: 2, h: 3.0)
        #expect(bad.contains { $0.maxRelativeError > 1e-6 }, "a huge finite-difference step must show a mismatch")
    }

    @Test func accumulateAddsMicroBatches() {
        // Two micro-batches accumulated = one batch of both.
        let net = Sequential<Double>([Linear(3, 4), ActivationLayer(.tanh, shape: [4]), Linear(4, 2)])
        var rng = RNG(seed: 8)
        net.initialize(.pytorch, rng: &rng)
        let x = Buffer<Double>(count: 6 * 3)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: 6)
        for i in 0..<6 { labels[i] = Int32(i % 2) }
        func grad(_ from: Int, _ n: Int, accumulate: Bool) {
            let z = net.forward(x.pointer + from * 3, batch: n)
            _ = LossFunction.crossEntropy.evaluate(z, targets: Targets(labels: labels.pointer + from), batch: n, outputs: 2,
                                                   dz: net.outputGradient, scale: 1)
            net.backward(x.pointer + from * 3, batch: n, accumulate: accumulate)
        }
        grad(0, 6, accumulate: false)
        let whole = (0..<net.parameterCount).map { net.gradients[$0] }
        grad(0, 2, accumulate: false)
        grad(2, 4, accumulate: true)
        for i in 0..<net.parameterCount { #expect(abs(net.gradients[i] - whole[i]) < 1e-12) }
    }

    @Test func weightGradientByRowsOverTwoHalvesIsBackward() {
        // The factor exchange's pieces: `backwardInputs` gives the deltas `backward` gives, and
        // each Linear's `weightGradient` over row ranges, from the inputs and output gradients of
        // a batch split in two (as two ranks hold them), gives `backward`'s dL/dθ of the whole batch.
        let l0 = Linear<Double>(5, 7), l2 = Linear<Double>(7, 3)
        let net = Sequential<Double>([l0, ActivationLayer(.tanh, shape: [7]), l2])
        var rng = RNG(seed: 21)
        net.initialize(.pytorch, rng: &rng)
        let batch = 6
        let x = Buffer<Double>(count: batch * 5)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: batch)
        for i in 0..<batch { labels[i] = Int32(i % 3) }
        let z = net.forward(x.pointer, batch: batch)
        _ = LossFunction.crossEntropy.evaluate(z, targets: Targets(labels: labels.pointer), batch: batch, outputs: 3, dz: net.outputGradient, scale: 0.5)
        net.backward(x.pointer, batch: batch)
        let whole = net.gradients.array
        #expect(net.parametersAreAllLinear)

        // Two "ranks" of 4 and 2 samples write their rows into shared factor buffers through `place`.
        let x0 = Buffer<Double>(count: batch * 5), h = Buffer<Double>(count: batch * 7)
        let d0 = Buffer<Double>(count: batch * 7), d2 = Buffer<Double>(count: batch * 3)
        x0.pointer.update(from: x.pointer, count: batch * 5)
        for (lo, n) in [(0, 4), (4, 2)] {
            net.place(layer: 0, output: nil, gradient: d0.pointer + lo * 7)     // Linear 0's dy
            net.place(layer: 1, output: h.pointer + lo * 7, gradient: nil)      // Linear 2's input
            net.place(layer: 2, output: nil, gradient: d2.pointer + lo * 3)
            let z = net.forward(x0.pointer + lo * 5, batch: n)
            _ = LossFunction.crossEntropy.evaluate(z, targets: Targets(labels: labels.pointer + lo), batch: n, outputs: 3, dz: net.outputGradient, scale: 0.5)
            net.backwardInputs(x0.pointer + lo * 5, batch: n)
            net.usePrivateStorage()
        }
        net.gradients.pointer.update(repeating: .nan, count: net.parameterCount)
        for rows in [0..<3, 3..<7] { l0.weightGradient(rows: rows, x: x0.pointer, dy: d0.pointer, batch: batch) }
        for rows in [0..<2, 2..<3] { l2.weightGradient(rows: rows, x: h.pointer, dy: d2.pointer, batch: batch) }
        for i in 0..<net.parameterCount {
            #expect(abs(net.gradients[i] - whole[i]) <= 1e-14 * max(1, abs(whole[i])), "θ[\(i)]: \(net.gradients[i]) vs \(whole[i])")
        }
        // No rows: zeros.
        l2.weightGradient(rows: 0..<3, x: h.pointer, dy: d2.pointer, batch: 0)
        #expect((0..<l2.parameterCount).allSatisfy { net.gradients[net.offsets[2] + $0] == 0 })
        // A model with a non-Linear parameter layer cannot use factors.
        let conv = Conv2D<Double>(ConvGeometry(channels: 1, height: 4, width: 4, kernel: 3, stride: 1, padding: 0)!, outChannels: 2)
        #expect(!Sequential<Double>([conv]).parametersAreAllLinear)
    }
}

@Suite struct LabelSmoothingTests {
    @Test func gradientCheck() {
        for eps in [0.1, 0.5] {
            let layers: [any Layer<Double>] = [Linear(4, 6), ActivationLayer(.tanh, shape: [6]), Linear(6, 5)]
            for r in checkModel(layers, loss: .crossEntropy, batch: 3, seed: 9, smoothing: eps) {
                #expect(r.maxRelativeError <= 1e-6, "ε \(eps) \(r.name): \(r.maxRelativeError)")
            }
        }
    }

    @Test func exactValues() {
        // z = (1, 2, 3), y = 0, ε = 0.1: loss = 0.9·(lse − 1) + 0.1·(lse − 2), lse = log(e + e² + e³)
        // (PyTorch: F.cross_entropy(z, y, label_smoothing=0.1) = 2.3076); dz = softmax − 0.9·e₀ − 0.1/3.
        let z: [Double] = [1, 2, 3]
        let labels: [Int32] = [0]
        var dz = [Double](repeating: 0, count: 3)
        let loss = z.withUnsafeBufferPointer { zp in
            labels.withUnsafeBufferPointer { lp in
                dz.withUnsafeMutableBufferPointer { g in
                    LossFunction.crossEntropy.evaluate(zp.baseAddress!, targets: Targets(labels: lp.baseAddress!), batch: 1, outputs: 3,
                                                       dz: g.baseAddress!, smoothing: 0.1)
                }
            }
        }
        let lse = Foundation.log(Foundation.exp(1.0) + Foundation.exp(2.0) + Foundation.exp(3.0))
        #expect(abs(loss - (0.9 * (lse - 1) + 0.1 * (lse - 2))) < 1e-12)
        #expect(abs(loss - 2.3076) < 5e-5)
        for j in 0..<3 {
            let softmax = Foundation.exp(z[j] - lse)
            #expect(abs(dz[j] - (softmax - (j == 0 ? 0.9 : 0) - 0.1 / 3)) < 1e-12)
        }
    }
}
