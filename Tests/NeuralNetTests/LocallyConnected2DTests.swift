// LocallyConnected2D: finite-difference gradient checks in Double, the fast per-position
// GEMM path against the slow reference, and values pinned from the PyTorch unfold/einsum
// equivalent documented in LocallyConnected2D.swift.
import Foundation
import NNCore
import Testing
@testable import NeuralNet

@Suite struct LocallyConnected2DTests {
    @Test(arguments: convCases.indices)
    func parameterGradients(_ i: Int) {
        let errors = parameterCheck([LocallyConnected2D<Double>(geometry(convCases[i]), outChannels: convCases[i].o)], batch: 3)
        #expect(errors.count == 2)
        for (name, r) in errors { #expect(r.maxRelativeError <= 1e-6, "case \(i) \(name): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)") }
    }

    @Test(arguments: convCases.indices)
    func inputGradient(_ i: Int) {
        let r = inputCheck(LocallyConnected2D<Double>(geometry(convCases[i]), outChannels: convCases[i].o), batch: 2)
        #expect(r.count > 0)
        #expect(r.maxRelativeError <= 1e-6, "case \(i): relative error \(r.maxRelativeError), absolute \(r.maxAbsoluteError)")
    }

    @Test(arguments: convCases.indices)
    func fastMatchesReference(_ i: Int) {
        let t = convCases[i], g = geometry(t), batch = 3
        let layer = LocallyConnected2D<Double>(g, outChannels: t.o)
        let w = randomArray(layer.parameterCount, seed: UInt64(30 + i))
        let x = randomArray(batch * g.inputSize, seed: UInt64(40 + i))
        let fast = runForward(layer, parameters: w, x: x, batch: batch, reserve: batch + 1)
        let nw = g.positions * t.o * g.patch
        let slow = referenceLocallyConnected2D(g, outChannels: t.o, x: x, w: Array(w[0..<nw]), b: Array(w[nw...]), batch: batch)
        #expect(fast.count == slow.count)
        #expect(maxDifference(fast, slow) < 1e-12)
    }

    @Test func accumulateAddsAndOverwrites() {
        let layer = LocallyConnected2D<Double>(geometry(convCases[1]), outChannels: convCases[1].o)
        let (first, twice) = gradientsTwice(layer, batch: 3)
        #expect(!first.contains(7))
        #expect(maxDifference(first.map { 2 * $0 }, twice) < 1e-12)
    }

    @Test func shapesAndNames() {
        let g = ConvGeometry(channels: 6, height: 14, width: 14, kernel: 5, stride: 1, padding: 0)!
        let layer = LocallyConnected2D<Double>(g, outChannels: 16)
        #expect(layer.outputShape == [16, 10, 10])
        #expect(layer.parameterTensors.map(\.name) == ["weight", "bias"])
        #expect(layer.parameterTensors.map(\.shape) == [[10, 10, 16, 6, 5, 5], [16, 10, 10]])
        #expect(layer.parameterCount == 100 * 16 * 150 + 1600)
    }

    /// PyTorch: cols = F.unfold(x, 3, padding=1, stride=2); y = einsum('nkl,lok->nol', cols,
    /// weight.view(9, 3, 18)) + bias.view(3, 9), with x[i] = sin(0.37 i) ([2, 2, 5, 6]),
    /// weight[i] = cos(0.11 i), bias[i] = sin(0.05 i), in float64.
    @Test func matchesPyTorchEquivalent() {
        let g = ConvGeometry(channels: 2, height: 5, width: 6, kernel: 3, stride: 2, padding: 1)!
        let layer = LocallyConnected2D<Double>(g, outChannels: 3)
        let weight: [Double] = (0..<(9 * 3 * 18)).map { (i: Int) -> Double in cos(0.11 * Double(i)) }
        let bias: [Double] = (0..<27).map { (i: Int) -> Double in sin(0.05 * Double(i)) }
        let w = weight + bias
        let x: [Double] = (0..<120).map { (i: Int) -> Double in sin(0.37 * Double(i)) }
        let y = runForward(layer, parameters: w, x: x, batch: 2)
        let torch: [Double] = [
            0.652610024170862, 1.9566530300819, 2.44703890591331, 0.786171465065974, 1.19438093955692, 1.83008367591501,
            0.61831506765414, 0.14374848422311, -0.220475168156889, -0.565323381520721, -1.70023448754374, -1.47444623583296,
            1.33806077576508, 1.20718055791504, 0.187083238954429, 1.92464052242759, 3.283380389922, 2.89871975706772,
            0.926704539888976, 0.641222996875444, 0.0834999230780223, -0.384763713229363, -0.583545759294614, -0.306147497492937,
            -0.379884057714156, -0.893799773837327, -0.135389805871325, -0.73940185128181, -1.94205698040456, -2.01699382565396,
            -0.633077040674141, -1.02705005330848, -1.48451855124505, -0.146936978810408, 0.45428224939736, 0.786428181060282,
            1.74381154541261, 2.8701681429976, 2.4159988331681, 0.0596875617091279, 0.443315379129196, 1.50884018036103,
            -0.667281445689388, -1.80447045633865, -1.00141805472281, 0.481204407027259, 0.902999704549381, 1.45168084945394,
            2.05176018189431, 2.24573686769607, 1.95665640312542, 2.44790997600186, 2.84436319043096, 1.96127172527286,
        ]
        #expect(maxDifference(y, torch) < 1e-12)
    }
}
