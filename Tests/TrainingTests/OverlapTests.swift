// Fast mode's allreduce in buckets overlapped with backward (OverlappedAllreduceExchange):
// the bucket layout and the same bits as one allreduce after backward.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData
import NeuralNet

@Suite(.serialized) struct OverlapTests {
    typealias Bucket = OverlappedAllreduceExchange.Bucket

    @Test func bucketsAreRunsOfWholeLayersFromTheTop() {
        // Layers 0, 2, 4 own parameters [0, 100), [100, 300), [300, 310); the tail is [310, 314).
        let layers = [(index: 0, range: 0..<100), (index: 2, range: 100..<300), (index: 4, range: 300..<310)]
        #expect(OverlappedAllreduceExchange.buckets(layers: layers, parameterCount: 310, capFloats: 50)
                == [Bucket(range: 100..<314, lowestLayer: 2), Bucket(range: 0..<100, lowestLayer: 0)])
        #expect(OverlappedAllreduceExchange.buckets(layers: layers, parameterCount: 310, capFloats: 1)
                == [Bucket(range: 300..<314, lowestLayer: 4), Bucket(range: 100..<300, lowestLayer: 2), Bucket(range: 0..<100, lowestLayer: 0)])
        #expect(OverlappedAllreduceExchange.buckets(layers: layers, parameterCount: 310, capFloats: 10_000)
                == [Bucket(range: 0..<314, lowestLayer: 0)])
        // A cap reached exactly closes the bucket: 10 + 200 = 210.
        #expect(OverlappedAllreduceExchange.buckets(layers: layers, parameterCount: 310, capFloats: 210)
                == [Bucket(range: 100..<314, lowestLayer: 2), Bucket(range: 0..<100, lowestLayer: 0)])
        #expect(OverlappedAllreduceExchange.buckets(layers: layers, parameterCount: 310, capFloats: 211)
                == [Bucket(range: 0..<314, lowestLayer: 0)])
    }

    @Test func theDefaultMLPGoesInTwoBuckets() throws {
        // 784-1024-1024-10 at the default 1 MiB: layer 4 (41 KB) joins layer 2 (4.2 MB); layer 0 alone.
        let model = try ModelSpec(parsing: "mlp:784-1024-1024-10").build(Float.self, inputShape: [784], outputs: 10, activation: .relu, gradientTail: Tail.size)
        let b = OverlappedAllreduceExchange.buckets(model: model, bucketMiB: TrainConfig().bucketMiB)
        let P = model.parameterCount
        #expect(b == [Bucket(range: model.offsets[2]..<P + Tail.size, lowestLayer: 2), Bucket(range: 0..<model.offsets[2], lowestLayer: 0)])
    }

    /// Workers with `--exchange allreduce`: overlapped with the given cap, and with 0 (one allreduce after backward).
    func both(_ c0: TrainConfig, workers n: Int, cap: Double, data: DataSplit? = nil) throws -> (overlapped: ([Float], DoneMetrics), plain: ([Float], DoneMetrics)) {
        var c = c0
        c.exchange = .allreduce
        c.bucketMiB = cap
        let o = try trainParameters(c, workers: n, data: data)
        c.bucketMiB = 0
        let p = try trainParameters(c, workers: n, data: data)
        return (o, p)
    }

    @Test func overlappedBucketsGiveTheBitsOfOneAllreduce() throws {
        // The in-process workers sum every element in rank order, so buckets must not change a
        // bit: a bucket sent before its layer's gradient is final, a wrong range, or a tail
        // written late would. Momentum, L2, an uneven last batch, 2 and 3 ranks.
        let data = try DataParallelTests.fashion.get()
        var c = fashionConfig(); c.momentum = 0.9; c.l2 = 1e-4
        for n in [2, 3] {
            let (o, p) = try both(c, workers: n, cap: 0.001, data: data)   // 262 floats: one bucket per layer
            #expect(o.1.exchange == "allreduce (3 buckets, overlapped with backward)")
            #expect(p.1.exchange == "allreduce")
            #expect(o.0 == p.0, "workers \(n): relative difference \(relativeDifference(o.0, p.0))")
            #expect(o.1.parameters_sha256 == p.1.parameters_sha256 && o.1.train_loss == p.1.train_loss && o.1.steps == 50)
        }
    }

    @Test func microBatchesSendOnlyAfterTheLastOne() throws {
        // 64 samples on 2 workers in micro-batches of 8: a bucket may go only once the last
        // micro-batch has added its part.
        let data = try DataParallelTests.fashion.get()
        var c = fashionConfig(); c.steps = 20; c.microBatch = 8
        let (o, p) = try both(c, workers: 2, cap: 0.001, data: data)
        #expect(o.1.exchange.hasPrefix("allreduce (3 buckets"))
        #expect(o.0 == p.0, "relative difference \(relativeDifference(o.0, p.0))")
    }

    @Test func ranksWithoutSamplesStillSendTheirBuckets() throws {
        // Batch 3 over 4 workers: one rank has no sample in every step (its backward reports no layer).
        var c = TrainConfig()
        c.dataset = "xor"; c.model = "mlp:2-4-2"; c.activation = "tanh"; c.batchSize = 3; c.epochs = 5
        c.schedule = .constant; c.lr = 0.1
        let (o, p) = try both(c, workers: 4, cap: 1e-6, data: nil)
        #expect(o.1.exchange == "allreduce (2 buckets, overlapped with backward)")
        #expect(o.0 == p.0 && o.1.steps == 10)
        let (one, _) = try trainParameters(c, workers: 1)
        #expect(relativeDifference(o.0, one) <= 1e-6)
    }

    @Test func oneBucketIsThePlainAllreduce() throws {
        // The small MLP's 55,050 parameters fit one 1 MiB bucket: nothing to overlap, no thread.
        var c = fashionConfig(); c.steps = 3; c.exchange = .allreduce
        let (_, d) = try trainParameters(c, workers: 2, data: try DataParallelTests.fashion.get())
        #expect(d.exchange == "allreduce")
    }
    // A stalled rank under the overlapped allreduce ends the whole job (the process), so it
    // is checked from outside: tests/stall.sh, case "--exchange allreduce".
}
