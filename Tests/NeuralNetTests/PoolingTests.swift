// MaxPool2D, AvgPool2D and Flatten: finite-difference input gradients in Double and
// hand-computed forward values.
import NNCore
import Testing
@testable import NeuralNet

@Suite struct PoolingTests {
    static let windows: [(c: Int, h: Int, w: Int, k: Int, s: Int)] = [(2, 6, 6, 2, 2), (3, 7, 5, 3, 2), (1, 5, 5, 2, 1), (2, 9, 8, 3, 3)]

    static func pool(_ i: Int) -> ConvGeometry {
        let t = windows[i]
        return ConvGeometry(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s, padding: 0)!
    }

    @Test(arguments: windows.indices)
    func maxPoolInputGradient(_ i: Int) {
        let r = inputCheck(MaxPool2D<Double>(Self.pool(i)), batch: 3, h: 1e-6)
        #expect(r.count > 0)
        #expect(r.maxRelativeError <= 1e-6, "case \(i): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)")
    }

    @Test(arguments: windows.indices)
    func avgPoolInputGradient(_ i: Int) {
        let r = inputCheck(AvgPool2D<Double>(Self.pool(i)), batch: 3)
        #expect(r.count > 0)
        #expect(r.maxRelativeError <= 1e-6, "case \(i): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)")
    }

    @Test func flattenInputGradient() {
        let r = inputCheck(Flatten<Double>(inputShape: [3, 4, 5]), batch: 2)
        #expect(r.count == 120)
        #expect(r.maxRelativeError <= 1e-6)
    }

    /// A model of every layer kind in a row, checked end to end (parameters) with tanh.
    @Test func stackParameterGradients() {
        let c1 = Conv2D<Double>(ConvGeometry(channels: 1, height: 9, width: 9, kernel: 3, stride: 1, padding: 1)!, outChannels: 2)
        let p1 = MaxPool2D<Double>(ConvGeometry(channels: 2, height: 9, width: 9, kernel: 2, stride: 2, padding: 0)!)
        let l2 = LocallyConnected2D<Double>(ConvGeometry(channels: 2, height: 4, width: 4, kernel: 3, stride: 1, padding: 1)!, outChannels: 3)
        let p2 = AvgPool2D<Double>(ConvGeometry(channels: 3, height: 4, width: 4, kernel: 2, stride: 2, padding: 0)!)
        let layers: [any Layer<Double>] = [c1, ActivationLayer(.tanh, shape: [2, 9, 9]), p1, l2, ActivationLayer(.tanh, shape: [3, 4, 4]),
                                           p2, Flatten(inputShape: [3, 2, 2]), Linear(12, 4)]
        let errors = parameterCheck(layers, batch: 3, h: 1e-4)
        #expect(errors.count == 6)
        for (name, r) in errors { #expect(r.maxRelativeError <= 1e-6, "\(name): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)") }
    }

    @Test func maxPoolValues() {
        // One 4×4 plane, 2×2 windows.
        let x: [Double] = [1, 5, 2, 0,
                           3, 4, 8, 8,
                           -1, -2, 0, 0,
                           -3, -4, 0, 1]
        let layer = MaxPool2D<Double>(ConvGeometry(channels: 1, height: 4, width: 4, kernel: 2, stride: 2, padding: 0)!)
        #expect(runForward(layer, parameters: [], x: x, batch: 1) == [5, 8, -1, 1])
        #expect(layer.pytorchModule == "nn.MaxPool2d(2)")
    }

    @Test func maxPoolRoutesGradientToFirstMaximum() {
        let layer = MaxPool2D<Double>(ConvGeometry(channels: 1, height: 2, width: 4, kernel: 2, stride: 2, padding: 0)!)
        layer.reserve(batch: 1)
        let x: [Double] = [1, 9, 3, 3, 9, 0, 3, 2]
        var y = [Double](repeating: 0, count: 2), dx = [Double](repeating: -1, count: 8)
        let dy: [Double] = [10, 20]
        layer.forward(x, &y, batch: 1)
        layer.backward(x: x, y: y, dy: dy, dx: &dx, batch: 1, accumulate: false)
        #expect(y == [9, 3])
        #expect(dx == [0, 10, 20, 0, 0, 0, 0, 0])
    }

    @Test func avgPoolValues() {
        let x: [Double] = [1, 5, 2, 0,
                           3, 4, 8, 8,
                           -1, -2, 0, 0,
                           -3, -4, 0, 1]
        let layer = AvgPool2D<Double>(ConvGeometry(channels: 1, height: 4, width: 4, kernel: 2, stride: 2, padding: 0)!)
        #expect(runForward(layer, parameters: [], x: x, batch: 1) == [3.25, 4.5, -2.5, 0.25])
        #expect(layer.pytorchModule == "nn.AvgPool2d(2)")
    }

    @Test func poolingFloorRule() {
        // PyTorch: MaxPool2d(3, stride=2) on 7×5 gives 3×2.
        let g = ConvGeometry(channels: 1, height: 7, width: 5, kernel: 3, stride: 2, padding: 0)!
        #expect(MaxPool2D<Double>(g).outputShape == [1, 3, 2])
        #expect(MaxPool2D<Double>(g).pytorchModule == "nn.MaxPool2d(3, stride=2)")
    }
}
