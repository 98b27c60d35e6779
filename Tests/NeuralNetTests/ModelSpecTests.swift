// Tests of the model-spec language and the PyTorch naming of parameters.
import Testing
@testable import NeuralNet
import NNCore

@Suite struct ModelSpecTests {
    @Test func defaultMLP() throws {
        let net = try ModelSpec(parsing: "mlp:784-1024-1024-10").build(Float.self, inputShape: [1, 28, 28], outputs: 10, activation: .relu)
        #expect(net.parameterCount == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10)
        #expect(net.parameterCount == 1_863_690)
        #expect(net.namedTensors.map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        #expect(net.namedTensors[0].shape == [1024, 784])
        #expect(net.pytorchSource.contains("nn.Linear(784, 1024)"))
    }

    @Test func linearTakesItsSizesFromTheData() throws {
        let net = try ModelSpec(parsing: "linear").build(Double.self, inputShape: [2], outputs: 2, activation: .relu)
        #expect(net.parameterCount == 6)
    }

    @Test func errorsNameThePart() {
        #expect(throws: UserError.self) { try ModelSpec(parsing: "resnet50") }
        #expect(throws: UserError.self) { try ModelSpec(parsing: "mlp:784-x-10") }
        #expect(throws: UserError.self) { try ModelSpec(parsing: "layers:linear:4,swish") }
        #expect(throws: UserError("model 'mlp:10-4-2' takes 10 inputs but the data has 2 features; start the widths with 2")) {
            _ = try ModelSpec(parsing: "mlp:10-4-2").build(Float.self, inputShape: [2], outputs: 2, activation: .relu)
        }
        #expect(throws: UserError("model 'mlp:2-4-3' ends with 3 outputs but the task needs 2; end the widths with 2")) {
            _ = try ModelSpec(parsing: "mlp:2-4-3").build(Float.self, inputShape: [2], outputs: 2, activation: .relu)
        }
    }

    @Test func activationNames() {
        #expect(Activation(parsing: "leaky-relu:0.2") == .leakyReLU(0.2))
        #expect(Activation(parsing: "ReLU") == .relu)
        #expect(Activation(parsing: "swish") == nil)
    }

    @Test func initializationSchemes() throws {
        for scheme in InitScheme.allCases {
            let net = try ModelSpec(parsing: "mlp:100-50-10").build(Double.self, inputShape: [100], outputs: 10, activation: .relu)
            var rng = RNG(seed: 1)
            net.initialize(scheme, rng: &rng)
            let w = (0..<5000).map { net.parameters[$0] }
            let bound = 1 / 10.0   // pytorch: U(±1/√100)
            switch scheme {
            case .pytorch: #expect(w.allSatisfy { abs($0) <= bound }); #expect(w.max()! > 0.09)
            case .xavier: #expect(w.allSatisfy { abs($0) <= (6.0 / 150).squareRoot() })
            case .he:
                let v = w.map { $0 * $0 }.reduce(0, +) / Double(w.count)
                #expect(abs(v - 2.0 / 100) < 0.003)
            }
        }
    }
}

/// Model specs whose sizes overflow or exceed memory (issue 12): errors before anything is allocated.
@Suite struct ModelSizeTests {
    @Test func aWidthBeyondTheLimitIsAParseError() {
        #expect(throws: UserError.self) { try ModelSpec(parsing: "mlp:784-99999999999-10") }
        #expect(throws: UserError.self) { try ModelSpec(parsing: "layers:conv:4x3p99999999999,flatten,linear:10") }
    }

    @Test func aModelBeyondTheMemoryBudgetIsRefusedBeforeBuilding() throws {
        let spec = try ModelSpec(parsing: "mlp:784-60000-60000-10")
        let f = try spec.footprint(inputShape: [1, 28, 28], outputs: 10)
        #expect(f.parameters == 784 * 60000 + 60000 + 60000 * 60000 + 60000 + 60000 * 10 + 10)
        // 10¹⁵ parameters: more than any machine's memory.
        let huge = try ModelSpec(parsing: "mlp:784-1000000000-1000000-10")
        #expect(throws: UserError.self) { try huge.checkMemory(inputShape: [1, 28, 28], outputs: 10, batch: 1) }
        #expect(throws: UserError.self) { _ = try huge.build(Float.self, inputShape: [1, 28, 28], outputs: 10, activation: .relu) }
    }

    @Test func sizesThatOverflowAreAnErrorNotATrap() throws {
        // 1×1 input padded by 2³⁰: 2³¹ × 2³¹ positions, × 2³⁰ channels overflows Int.
        let spec = try ModelSpec(parsing: "layers:lc:1073741824x1p1073741824,flatten,linear:10")
        #expect(throws: UserError.self) { _ = try spec.footprint(inputShape: [1, 1, 1], outputs: 10) }
    }

    @Test func activationsCountPerSample() throws {
        // linear:5 (out 5), relu (5), linear (3): each output and its gradient.
        let f = try ModelSpec(parsing: "layers:linear:5,relu,linear:3").footprint(inputShape: [4], outputs: 3)
        #expect(f.parameters == 4 * 5 + 5 + 5 * 3 + 3)
        #expect(f.activationsPerSample == 2 * (5 + 5 + 3))
    }
}
