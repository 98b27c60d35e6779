// Dropout: gradient-checked with a fixed mask, the identity without a key, the keep rate and
// scale of inverted dropout, masks that depend on the sample's position and not on how the
// batch is sliced, the spec syntax and the PyTorch module.
import Testing
@testable import NeuralNet
import NNCore

@Suite struct DropoutTests {
    let key = NoiseKey(seed: 7, epoch: 3, firstPosition: 40)

    @Test func gradientCheckWithAFixedMask() {
        // The key stays set through the finite differences: every forward draws the same mask.
        let layers: [any Layer<Double>] = [Linear(6, 8), ActivationLayer(.tanh, shape: [8]), Dropout(0.5, shape: [8], stream: 2), Linear(8, 3)]
        let net = Sequential<Double>(layers)
        net.noise = key
        var rng = RNG(seed: 1)
        net.initialize(.pytorch, rng: &rng)
        let batch = 5
        let x = Buffer<Double>(count: batch * 6)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let labels = Buffer<Int32>(count: batch)
        for i in 0..<batch { labels[i] = Int32(i % 3) }
        let results = GradientCheck.run(model: net, loss: .crossEntropy, x: x.pointer, targets: Targets(labels: labels.pointer), batch: batch)
        #expect(results.count == 4)
        for r in results { #expect(r.maxRelativeError <= 1e-6, "\(r.name): \(r.maxRelativeError)") }
        // The mask did drop units: the gradient differs from the same network's without a key.
        let g = (0..<net.parameterCount).map { net.gradients[$0] }
        net.noise = nil
        _ = GradientCheck.run(model: net, loss: .crossEntropy, x: x.pointer, targets: Targets(labels: labels.pointer), batch: batch, maxPerTensor: 1)
        let plain = (0..<net.parameterCount).map { net.gradients[$0] }
        #expect(zip(g, plain).contains { abs($0 - $1) > 1e-6 })
    }

    @Test func inputGradientIsTheMask() {
        var rng = RNG(seed: 3)
        let layer = Dropout<Double>(0.3, shape: [2, 3, 3], stream: 0)
        layer.noise = key
        let x = Buffer<Double>(count: 4 * 18)
        for i in 0..<x.count { x[i] = rng.uniform(-1, 1) }
        let r = GradientCheck.inputGradient(layer: layer, x: x.pointer, batch: 4, rng: &rng)
        #expect(r.maxRelativeError <= 1e-6)
    }

    @Test func withoutAKeyItIsTheIdentity() {
        let layer = Dropout<Float>(0.5, shape: [10], stream: 0)
        let x = Buffer<Float>(count: 30), y = Buffer<Float>(count: 30), dx = Buffer<Float>(count: 30)
        for i in 0..<30 { x[i] = Float(i) - 7.5 }
        layer.forward(x.pointer, y.pointer, batch: 3)
        #expect(y.array == x.array)
        layer.backward(x: x.pointer, y: y.pointer, dy: x.pointer, dx: dx.pointer, batch: 3, accumulate: false)
        #expect(dx.array == x.array)
    }

    @Test func keepsOneMinusPScaledByItsInverse() {
        // 200 rows × 500 units = 10⁵ draws: the kept fraction is 0.7 within 4σ (σ ≈ 0.0014), and
        // each kept unit is exactly x / 0.7 in Float.
        let p = 0.3, rows = 200, units = 500
        let layer = Dropout<Float>(p, shape: [units], stream: 1)
        layer.noise = key
        let x = Buffer<Float>(count: rows * units, repeating: 2), y = Buffer<Float>(count: rows * units)
        layer.reserve(batch: rows)
        layer.forward(x.pointer, y.pointer, batch: rows)
        let kept = y.array.filter { $0 != 0 }
        #expect(kept.allSatisfy { $0 == 2 * Float(1 / (1 - p)) })
        let fraction = Double(kept.count) / Double(rows * units)
        #expect(abs(fraction - 0.7) < 0.0058, "kept \(fraction)")
        #expect(y.array.contains(0))
    }

    @Test func maskDependsOnThePositionNotOnTheSlice() {
        // Rows 2..<5 of a batch starting at position 40 = a batch of 3 starting at position 42;
        // another epoch, seed or layer stream draws another mask.
        let units = 64
        func output(_ k: NoiseKey, rows: Int, stream: Int = 1) -> [Float] {
            let layer = Dropout<Float>(0.5, shape: [units], stream: stream)
            layer.noise = k
            let x = Buffer<Float>(count: rows * units, repeating: 1), y = Buffer<Float>(count: rows * units)
            layer.reserve(batch: rows)
            layer.forward(x.pointer, y.pointer, batch: rows)
            return y.array
        }
        let whole = output(key, rows: 5)
        let part = output(NoiseKey(seed: 7, epoch: 3, firstPosition: 42), rows: 3)
        #expect(Array(whole[(2 * units)...]) == part)
        #expect(output(NoiseKey(seed: 7, epoch: 4, firstPosition: 40), rows: 5) != whole)
        #expect(output(NoiseKey(seed: 8, epoch: 3, firstPosition: 40), rows: 5) != whole)
        #expect(output(key, rows: 5, stream: 2) != whole)
        #expect(Array(whole[0..<units]) != Array(whole[units..<(2 * units)]))
    }

    @Test func specSyntaxAndPyTorchModule() throws {
        let mlp = try ModelSpec(parsing: "mlp:784-256-128-10,dropout:0.5")
        #expect(mlp.items == [.linear(256), .activation(nil), .dropout(0.5), .linear(128), .activation(nil), .dropout(0.5), .linear(10)])
        let layers = try ModelSpec(parsing: "layers:dropout:0.2,linear:64,relu,dropout:0.25,linear:10")
        #expect(layers.items == [.dropout(0.2), .linear(64), .activation(.relu), .dropout(0.25), .linear(10)])
        let net = try mlp.build(Float.self, inputShape: [784], outputs: 10, activation: .relu)
        #expect(net.pytorchSource == """
            nn.Sequential(
                nn.Linear(784, 256),
                nn.ReLU(),
                nn.Dropout(p=0.5),
                nn.Linear(256, 128),
                nn.ReLU(),
                nn.Dropout(p=0.5),
                nn.Linear(128, 10),
            )
            """)
        // state_dict names skip the parameterless modules, as in PyTorch: 0, 3, 6.
        #expect(net.namedTensors.map(\.name) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"])
        #expect(net.isNoisy)
        for bad in ["mlp:784-10,dropout:1", "mlp:784-10,dropout:-0.1", "mlp:784-10,dropout:nan", "mlp:784-10,dropout:",
                    "mlp:784-10,dropout:0.1,dropout:0.2", "mlp:784-10,relu", "layers:linear:10,dropout:1.5", "layers:dropout,linear:10"] {
            #expect(throws: UserError.self, "\(bad)") { _ = try ModelSpec(parsing: bad) }
        }
    }
}
