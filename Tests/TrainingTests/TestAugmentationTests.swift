// Test-time flip averaging: evaluate's loss and accuracy are those of p̄ = ½(softmax f(x) +
// softmax f(mirror x)), computed here sample by sample with the mirror written out by index, and
// they differ from the plain evaluation (so a silent no-op fails); the figure is the same for
// any number of workers; data and losses it cannot serve are refused with a message.
import Foundation
import NNCore
import NNData
import NeuralNet
import Testing
@testable import Training

@Suite(.serialized) struct TestAugmentationTests {
    /// A small conv net, trained a few steps so that its predictions are not symmetric by accident.
    static func config(_ tta: TestAugmentation) -> TrainConfig {
        var c = fashionConfig()
        c.model = "layers:conv:4x3p1,relu,maxpool:2,flatten,linear:10"
        c.normalize = .auto
        c.steps = 20
        c.testSubset = 300
        c.testAugment = tta
        c.reduction = .exact     // the same parameters on any number of workers, so the same evaluation
        return c
    }

    /// Loss and accuracy of `model` on `set`, one sample at a time: plain and flip-averaged.
    static func reference(_ model: Sequential<Float>, _ set: Dataset) -> (plain: (Double, Double), flip: (Double, Double)) {
        let shape = set.sampleShape, (C, H, W) = (shape[0], shape[1], shape[2])
        var x = [Float](repeating: 0, count: C * H * W), label: Int32 = 0
        var lossPlain = 0.0, lossFlip = 0.0, rightPlain = 0, rightFlip = 0
        func softmax(_ xs: [Float]) -> [Double] {
            let out = xs.withUnsafeBufferPointer { model.forward($0.baseAddress!, batch: 1) }
            let z = (0..<10).map { Double(out[$0]) }
            let m = z.max()!, e = z.map { exp($0 - m) }, s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        for i in 0..<set.count {
            var idx = Int32(i)
            x.withUnsafeMutableBufferPointer { set.gather(&idx, count: 1, into: $0.baseAddress!, labels: &label, targets: nil) }
            var mirrored = x
            for c in 0..<C { for h in 0..<H { for w in 0..<W { mirrored[(c * H + h) * W + w] = x[(c * H + h) * W + (W - 1 - w)] } } }
            let p = softmax(x), q = softmax(mirrored)
            let mean = (0..<10).map { (p[$0] + q[$0]) / 2 }
            let y = Int(label)
            lossPlain -= log(p[y]); lossFlip -= log(mean[y])
            if p.indices.max(by: { p[$0] < p[$1] }) == y { rightPlain += 1 }
            if mean.indices.max(by: { mean[$0] < mean[$1] }) == y { rightFlip += 1 }
        }
        let n = Double(set.count)
        return ((lossPlain / n, Double(rightPlain) / n), (lossFlip / n, Double(rightFlip) / n))
    }

    @Test func flipAveragesTheProbabilitiesOfEachImageAndItsMirror() throws {
        let data = try DataParallelTests.fashion.get()
        var byWorkers: [(Double, Double?)] = []
        for workers in [1, 2] {
            let (evaluated, ref) = try runOnRanks(RunPlan(workers: workers, blasThreads: 1, quiet: true)) { comm in
                let t = try Trainer(config: TestAugmentationTests.config(.flip), data: data, comm: comm)
                try t.run()
                let e = try t.evaluate(t.data.test)
                return (e, comm.rank == 0 ? TestAugmentationTests.reference(t.model, t.data.test) : nil)
            }
            byWorkers.append(evaluated)
            let r = try #require(ref)
            #expect(abs(evaluated.loss - r.flip.0) <= 1e-5 * r.flip.0, "loss \(evaluated.loss) vs \(r.flip.0)")
            #expect(evaluated.accuracy == r.flip.1)
            // The flip changed the figure: the plain loss of the same model is elsewhere.
            #expect(abs(evaluated.loss - r.plain.0) > 1e-3, "flip \(evaluated.loss) plain \(r.plain.0)")
        }
        #expect(byWorkers[0].0 == byWorkers[1].0 && byWorkers[0].1 == byWorkers[1].1)
    }

    @Test func trainingIsUntouched() throws {
        let data = try DataParallelTests.fashion.get()
        let (plain, _) = try trainParameters(TestAugmentationTests.config(.none), workers: 1, data: data)
        let (flip, _) = try trainParameters(TestAugmentationTests.config(.flip), workers: 1, data: data)
        #expect(plain == flip)
    }

    @Test func refusesWhatItCannotAverage() throws {
        var c = TrainConfig()
        c.dataset = "xor"
        c.model = "mlp:2-4-2"
        c.testAugment = .flip
        let data = try loadData(c)
        #expect(throws: UserError("--test-augment flip: needs image data [C, H, W]; dataset 'xor' has samples of shape \(data.train.sampleShape)")) {
            _ = try runOnRanks(RunPlan(workers: 1, blasThreads: 1, quiet: true)) { comm in try Trainer(config: c, data: data, comm: comm) }
        }
        #expect(throws: UserError("--test-augment flip: averages the class probabilities of cross-entropy; --loss bce has none (use --test-augment none)")) {
            _ = try EvaluationForward(.flip, sampleShape: [1, 28, 28], loss: .bce, outputs: 1, micro: 4, dataset: "idx")
        }
        var t = TrainConfig()
        try t.set("test-augment", "flip", source: "run.yaml")
        #expect(t.testAugment == .flip)
        #expect(throws: UserError.self) { try t.set("test-augment", "crop", source: "run.yaml") }
    }
}
