// Exact-value tests of the optimizers against torch.optim (values computed with PyTorch 2.x
// in float64 for w0 = [1, −2, 0.5] and the gradients below).
import Testing
@testable import NeuralNet
import NNCore

@Suite struct OptimizerTests {
    static let grads: [[Double]] = [[0.1, 0.2, -0.3], [-0.5, 0.05, 0.25], [0.3, -0.1, 0.0]]

    func run(_ config: OptimizerConfig, lr: Double) -> [Double] {
        let opt = Optimizer<Double>(config, parameterCount: 3)
        var w: [Double] = [1, -2, 0.5]
        for g in OptimizerTests.grads { opt.step(&w, g, count: 3, lr: lr) }
        return w
    }

    func expectClose(_ a: [Double], _ b: [Double], _ tol: Double = 1e-14) {
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= tol, "\(a) vs \(b)") }
    }

    @Test func plainSGD() {
        expectClose(run(OptimizerConfig(), lr: 0.1), [1.01, -2.015, 0.505])
    }

    @Test func momentum() {
        var c = OptimizerConfig(); c.momentum = 0.9
        expectClose(run(c, lr: 0.1), [1.0378999999999998, -2.0537, 0.5338])
    }

    @Test func nesterov() {
        var c = OptimizerConfig(); c.momentum = 0.9; c.nesterov = true
        expectClose(run(c, lr: 0.1), [1.04411, -2.0633299999999997, 0.53542])
    }

    @Test func weightDecayWithMomentum() {
        var c = OptimizerConfig(); c.momentum = 0.9; c.weightDecay = 0.01
        expectClose(run(c, lr: 0.1), [1.032282789, -2.0424086179999996, 0.5309084295])
    }

    @Test func adam() {
        var c = OptimizerConfig(); c.kind = .adam
        expectClose(run(c, lr: 0.01), [0.9967288866915633, -2.021291491485419, 0.5106759044010826], 1e-13)
    }

    @Test func adamWithWeightDecay() {
        var c = OptimizerConfig(); c.kind = .adam; c.weightDecay = 0.1
        expectClose(run(c, lr: 0.01), [0.9915361425502198, -1.9842706350466883, 0.5066222534836217], 1e-13)
    }

    @Test func updateByRangesIsOneStep() {
        // Ranks that update disjoint ranges of one shared buffer: Adam over ranges [0, 1) and
        // [1, 3) is Adam over all three (the bias correction's t advances once per step).
        var c = OptimizerConfig(); c.kind = .adam
        let opt = Optimizer<Double>(c, parameterCount: 3)
        var w: [Double] = [1, -2, 0.5]
        for g in OptimizerTests.grads { opt.step(&w, g, ranges: [1..<3, 0..<1], lr: 0.01) }
        #expect(opt.stepCount == 3)
        expectClose(w, run(c, lr: 0.01), 0)
    }

    @Test func validationMessages() {
        var c = OptimizerConfig(); c.momentum = 1.5
        #expect(throws: UserError("--momentum must be in [0, 1), got 1.5")) { try c.validate() }
        c = OptimizerConfig(); c.nesterov = true
        #expect(throws: UserError("--nesterov needs --momentum > 0")) { try c.validate() }
        c = OptimizerConfig(); c.weightDecay = -1
        #expect(throws: UserError.self) { try c.validate() }
    }
}
