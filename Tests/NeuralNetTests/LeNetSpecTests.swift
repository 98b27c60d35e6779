// LeNet-5 and the layers: spec syntax for image models: parameter counts and state_dict
// names pinned from PyTorch, clear errors for specs that do not fit, and an end-to-end
// gradient check of the whole network.
import NNCore
import Testing
@testable import NeuralNet

@Suite struct LeNetSpecTests {
    static let fashion = [1, 28, 28]

    /// PyTorch 2.x: nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
    /// nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
    /// nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)): 61,706 parameters and this state_dict.
    static let torchStateDict: [(String, [Int])] = [
        ("0.weight", [6, 1, 5, 5]), ("0.bias", [6]),
        ("3.weight", [16, 6, 5, 5]), ("3.bias", [16]),
        ("7.weight", [120, 400]), ("7.bias", [120]),
        ("9.weight", [84, 120]), ("9.bias", [84]),
        ("11.weight", [10, 84]), ("11.bias", [10]),
    ]

    @Test func lenet5MatchesPyTorch() throws {
        let net = try ModelSpec(parsing: "lenet5").build(Float.self, inputShape: Self.fashion, outputs: 10, activation: .relu)
        #expect(net.parameterCount == 61_706)
        #expect(net.layers.count == 12)
        #expect(net.namedTensors.map(\.name) == Self.torchStateDict.map(\.0))
        #expect(net.namedTensors.map(\.shape) == Self.torchStateDict.map(\.1))
        // Tensors tile the flat buffer in order.
        var offset = 0
        for t in net.namedTensors { #expect(t.offset == offset); offset += t.count }
        #expect(offset == net.parameterCount)
        #expect(net.pytorchSource == """
            nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(400, 120),
                nn.ReLU(),
                nn.Linear(120, 84),
                nn.ReLU(),
                nn.Linear(84, 10),
            )
            """)
    }

    @Test func lenet5TakesActivationAndPoolingVariants() throws {
        let tanh = try ModelSpec(parsing: "lenet5").build(Double.self, inputShape: Self.fashion, outputs: 10, activation: .tanh)
        #expect(tanh.layers[1].pytorchModule == "nn.Tanh()")
        let avg = try ModelSpec(parsing: "lenet5-avg").build(Double.self, inputShape: Self.fashion, outputs: 10, activation: .relu)
        #expect(avg.layers[2].pytorchModule == "nn.AvgPool2d(2)")
        #expect(avg.parameterCount == 61_706)
    }

    @Test func explicitLayersEqualLenet5() throws {
        let text = "layers:conv:6x5p2,relu,maxpool:2,conv:16x5,relu,maxpool:2,flatten,linear:120,relu,linear:84,relu,linear:10"
        #expect(try ModelSpec(parsing: text).items == ModelSpec(parsing: "lenet5").items.map { (item: ModelSpec.Item) -> ModelSpec.Item in
            if case .activation(nil) = item { return .activation(.relu) } else { return item }
        })
    }

    @Test func lenet5LocallyConnected() throws {
        let net = try ModelSpec(parsing: "lenet5-lc").build(Float.self, inputShape: Self.fashion, outputs: 10, activation: .relu)
        // lc 1→6 at 28×28: 784·6·25 + 6·784; lc 6→16 at 10×10: 100·16·150 + 16·100; then 400-120-84-10.
        #expect(net.parameterCount == 122_304 + 241_600 + 48_120 + 10_164 + 850)
        #expect(net.namedTensors.map(\.name) == Self.torchStateDict.map(\.0))
        #expect(net.namedTensors[0].shape == [28, 28, 6, 1, 5, 5])
        #expect(net.namedTensors[1].shape == [6, 28, 28])
    }

    @Test func windowSyntax() throws {
        let s = try ModelSpec(parsing: "layers:conv:8x3s2p1,lc:4x3p1s1,avgpool:3s2,maxpool:2,flatten,linear:10")
        #expect(s.items == [.conv(channels: 8, kernel: 3, stride: 2, padding: 1),
                            .locallyConnected(channels: 4, kernel: 3, stride: 1, padding: 1),
                            .avgPool(kernel: 3, stride: 2), .maxPool(kernel: 2, stride: 2), .flatten, .linear(10)])
        #expect(s.items.map(\.description) == ["conv:8x3s2p1", "lc:4x3p1", "avgpool:3s2", "maxpool:2", "flatten", "linear:10"])
        #expect(s.defaultInputShape == [1, 28, 28])
        // 28 → conv s2 p1 → 14 → lc → 14 → avgpool 3s2 → 6 → maxpool 2 → 3; 4·3·3 = 36 features.
        let net = try s.build(Double.self, inputShape: Self.fashion, outputs: 10, activation: .relu)
        #expect(net.layers[4].outputShape == [36])
    }

    /// Every malformed or ill-fitting spec ends in a UserError naming the part.
    @Test(arguments: [
        ("layers:conv:6", "conv:6"), ("layers:conv:0x5", "conv:0x5"), ("layers:conv:6x5q2", "conv:6x5q2"),
        ("layers:conv:6x5s0", "conv:6x5s0"), ("layers:maxpool:2p1", "maxpool:2p1"), ("layers:maxpool:", "maxpool:"),
        ("layers:lc:x5", "lc:x5"), ("layers:pool:2", "pool:2"), ("layers:conv:6x5,,linear:10", "empty layer"),
        ("lenet6", "lenet6"),
    ])
    func parseErrors(_ text: String, _ named: String) {
        do {
            _ = try ModelSpec(parsing: text)
            Issue.record("'\(text)' parsed")
        } catch let e as UserError {
            #expect(e.message.contains(named), "\(e.message)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test(arguments: [
        ("layers:conv:6x5,relu,linear:10", [1, 28, 28], "insert 'flatten'"),
        ("layers:conv:6x29,flatten,linear:10", [1, 28, 28], "conv:6x29"),
        ("layers:conv:6x5,maxpool:2,conv:16x5,maxpool:2,conv:8x5,flatten,linear:10", [1, 28, 28], "layer 4 'conv:8x5'"),
        ("lenet5", [2], "not images"),
        ("layers:linear:10,conv:2x3", [1, 28, 28], "needs an image input"),
        ("layers:conv:2x3", [1, 8, 8], "end with flatten"),
        ("lenet5", [1, 28, 28], "needs 7"),
    ])
    func buildErrors(_ text: String, _ shape: [Int], _ named: String) throws {
        let spec = try ModelSpec(parsing: text)
        let outputs = text == "lenet5" && shape.count == 3 ? 7 : 10
        do {
            _ = try spec.build(Double.self, inputShape: shape, outputs: outputs, activation: .relu)
            Issue.record("'\(text)' built on \(shape)")
        } catch let e as UserError {
            #expect(e.message.contains(named), "\(e.message)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func mlpOnImagesStillFlattensImplicitly() throws {
        let net = try ModelSpec(parsing: "mlp:784-32-10").build(Float.self, inputShape: Self.fashion, outputs: 10, activation: .relu)
        #expect(net.parameterCount == 784 * 32 + 32 + 32 * 10 + 10)
    }

    /// The whole LeNet-5 on a batch of two 28×28 images: backprop through every layer against
    /// finite differences, a sample of elements per tensor. Average pooling and tanh keep the
    /// loss smooth: with max pooling, moving one conv weight by h moves every value of its channel,
    /// and some window's maximum switches inputs (a kink) — the finite difference then measures
    /// the kink, not the gradient. Max pooling's own gradient is checked in PoolingTests.
    @Test func lenet5GradientCheck() throws {
        let net = try ModelSpec(parsing: "lenet5-avg").build(Double.self, inputShape: Self.fashion, outputs: 10, activation: .tanh)
        var rng = RNG(seed: 4)
        net.initialize(.pytorch, rng: &rng)
        let batch = 2
        let x = Buffer<Double>(count: batch * net.inputSize)
        for i in 0..<x.count { x[i] = rng.uniform(0, 1) }
        let labels = Buffer<Int32>(count: batch)
        labels[0] = 3; labels[1] = 7
        let results = GradientCheck.run(model: net, loss: .crossEntropy, x: x.pointer,
                                        targets: Targets(labels: labels.pointer), batch: batch, h: 1e-4, maxPerTensor: 40)
        #expect(results.count == 10)
        for r in results { #expect(r.maxRelativeError <= 1e-6, "\(r.name): \(r.maxRelativeError)") }
    }
}
