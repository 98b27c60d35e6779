// Conv2D: finite-difference gradient checks in Double, the fast im2col path against the
// slow reference, and values pinned from PyTorch's F.conv2d.
import Foundation
import NNCore
import Testing
@testable import NeuralNet

/// Geometries that exercise stride, padding, several channels and non-square inputs.
let convCases: [(c: Int, h: Int, w: Int, o: Int, k: Int, s: Int, p: Int)] = [
    (1, 6, 6, 2, 3, 1, 0),
    (2, 5, 6, 3, 3, 2, 1),
    (3, 7, 5, 2, 2, 2, 0),
    (2, 6, 7, 2, 5, 1, 2),
    (1, 4, 4, 1, 1, 1, 0),
    (2, 8, 8, 3, 3, 3, 2),
]

func geometry(_ t: (c: Int, h: Int, w: Int, o: Int, k: Int, s: Int, p: Int)) -> ConvGeometry {
    ConvGeometry(channels: t.c, height: t.h, width: t.w, kernel: t.k, stride: t.s, padding: t.p)!
}

@Suite struct Conv2DTests {
    @Test(arguments: convCases.indices)
    func parameterGradients(_ i: Int) {
        let g = geometry(convCases[i])
        let errors = parameterCheck([Conv2D<Double>(g, outChannels: convCases[i].o)], batch: 3)
        #expect(errors.count == 2)
        for (name, r) in errors { #expect(r.maxRelativeError <= 1e-6, "case \(i) \(name): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)") }
    }

    @Test(arguments: convCases.indices)
    func inputGradient(_ i: Int) {
        let r = inputCheck(Conv2D<Double>(geometry(convCases[i]), outChannels: convCases[i].o), batch: 2)
        #expect(r.count > 0)
        #expect(r.maxRelativeError <= 1e-6, "case \(i): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)")
    }

    @Test(arguments: convCases.indices)
    func fastMatchesReference(_ i: Int) {
        let t = convCases[i], g = geometry(t), batch = 3
        let layer = Conv2D<Double>(g, outChannels: t.o)
        let w = randomArray(layer.parameterCount, seed: UInt64(10 + i))
        let x = randomArray(batch * g.inputSize, seed: UInt64(20 + i))
        let fast = runForward(layer, parameters: w, x: x, batch: batch, reserve: batch + 2)
        let slow = referenceConv2D(g, outChannels: t.o, x: x, w: Array(w[0..<(t.o * g.patch)]),
                                   b: Array(w[(t.o * g.patch)...]), batch: batch)
        #expect(fast.count == slow.count)
        #expect(maxDifference(fast, slow) < 1e-12)
    }

    @Test func accumulateAddsAndOverwrites() {
        let layer = Conv2D<Double>(geometry(convCases[1]), outChannels: convCases[1].o)
        let (first, twice) = gradientsTwice(layer, batch: 3)
        #expect(!first.contains(7))
        #expect(maxDifference(first.map { 2 * $0 }, twice) < 1e-12)
    }

    @Test func shapesAndNames() {
        let layer = Conv2D<Double>(inChannels: 1, outChannels: 6, kernel: 5, padding: 2, height: 28, width: 28)
        #expect(layer.outputShape == [6, 28, 28])
        #expect(layer.parameterCount == 156)
        #expect(layer.parameterTensors.map(\.name) == ["weight", "bias"])
        #expect(layer.parameterTensors.map(\.shape) == [[6, 1, 5, 5], [6]])
        #expect(layer.pytorchModule == "nn.Conv2d(1, 6, 5, padding=2)")
        let strided = Conv2D<Double>(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1, height: 5, width: 6)
        #expect(strided.outputShape == [3, 3, 3])
        #expect(strided.pytorchModule == "nn.Conv2d(2, 3, 3, stride=2, padding=1)")
    }

    /// F.conv2d(x, w, b, stride=2, padding=1) in float64 with x[i] = sin(0.37 i),
    /// w[i] = cos(0.11 i) (flat [3, 2, 3, 3]), b[o] = 0.1 o − 0.05, x: [2, 2, 5, 6].
    @Test func matchesPyTorch() {
        let g = ConvGeometry(channels: 2, height: 5, width: 6, kernel: 3, stride: 2, padding: 1)!
        let layer = Conv2D<Double>(g, outChannels: 3)
        let weight: [Double] = (0..<54).map { (i: Int) -> Double in cos(0.11 * Double(i)) }
        let bias: [Double] = (0..<3).map { (o: Int) -> Double in 0.1 * Double(o) - 0.05 }
        let w = weight + bias
        let x: [Double] = (0..<120).map { (i: Int) -> Double in sin(0.37 * Double(i)) }
        let y = runForward(layer, parameters: w, x: x, batch: 2)
        let torch: [Double] = [
            0.602610024170861, 1.22429881400385, 1.03124169929898, 1.23724457968412, 1.21264371830133, -0.0927555280007117,
            1.11870560340256, 1.92345932254965, 1.31373066364731, -0.950288915631951, -2.38379137582198, -2.56735825826011,
            -0.433849673820379, -1.15162279647227, -1.39469285009081, -1.31992905802594, -2.44969049156252, -2.03399754044538,
            0.293377630261493, 0.812409529299471, 1.15154141290356, -0.752217453077582, -0.156443068339981, 1.34238105633367,
            0.0714260581563239, 0.165688752662857, 0.444626525099421, -0.78940185128181, -1.33972165925613, -0.961431500302294,
            -1.2157397531408, -0.985349078154973, 0.389784615950946, -1.3103546599502, -1.95179229767043, -1.08694254758496,
            1.35884601130138, 2.68307026599343, 2.45644402771131, 0.708563839198858, 1.39688494580751, 1.42186118050378,
            1.62537280369007, 2.56857078190391, 1.79329920691797, -0.152122502600225, -0.655564404830228, -0.853514978866195,
            0.791682475822392, 0.0135549474300022, -1.38145377894085, 0.156739546087273, 0.0476200851421964, -0.200301302669794,
        ]
        #expect(maxDifference(y, torch) < 1e-12)
    }

    @Test func floatAgreesWithDouble() {
        let g = geometry(convCases[3]), o = convCases[3].o, batch = 2
        let w = randomArray(o * g.patch + o, seed: 5), x = randomArray(batch * g.inputSize, seed: 6)
        let yd = runForward(Conv2D<Double>(g, outChannels: o), parameters: w, x: x, batch: batch)
        let lf = Conv2D<Float>(g, outChannels: o)
        let p = Buffer<Float>(count: w.count), gr = Buffer<Float>(count: w.count)
        for i in 0..<w.count { p[i] = Float(w[i]) }
        lf.bind(parameters: p.pointer, gradients: gr.pointer)
        lf.reserve(batch: batch)
        let xf = x.map(Float.init), yf = Buffer<Float>(count: batch * lf.outputSize)
        xf.withUnsafeBufferPointer { lf.forward($0.baseAddress!, yf.pointer, batch: batch) }
        #expect(maxDifference(yd, yf.array.map(Double.init)) < 1e-5)
    }
}
