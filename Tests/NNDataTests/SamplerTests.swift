// An epoch visits every training sample exactly once, over all ranks: the sampler's
// permutation, its global batches and the per-rank slices (and, in exact mode, the logical
// shards dealt to ranks) compose to a partition of the training set.
import Testing
@testable import NNData

@Suite struct SamplerCoverageTests {
    /// The sample indices rank `rank` of `world` trains on in global batch `k`, as the trainer
    /// picks them: its slice of the batch (fast mode), or the batch's slices for the logical
    /// shards dealt to it (exact mode, `shards` not nil).
    func samples(_ s: Sampler, batch k: Int, rank: Int, of world: Int, shards: Int?) -> [Int] {
        let range = s.batchRange(k)
        let positions: [Range<Int>]
        if let S = shards {
            positions = Sampler.slice(0..<S, part: rank, of: world).map { Sampler.slice(range, part: $0, of: S) }
        } else {
            positions = [Sampler.slice(range, part: rank, of: world)]
        }
        return positions.flatMap { $0.map { Int(s.order[$0]) } }
    }

    @Test(arguments: [1, 2, 3, 4, 7])
    func everySampleOncePerEpochAcrossRanks(world: Int) {
        let count = 130
        // Batch sizes that do not divide 130 (and one larger than the set), and one that does.
        for batch in [1, 7, 32, 64, 129, 200, 65] {
            for shards in [nil, 1, 4, 5] as [Int?] {
                for shuffle in [true, false] {
                    let s = Sampler(count: count, batchSize: batch, seed: 11, shuffle: shuffle)
                    for epoch in 0..<2 {
                        s.setEpoch(epoch)
                        var visits = [Int](repeating: 0, count: count)
                        for k in 0..<s.batchesPerEpoch {
                            var inBatch = 0
                            for rank in 0..<world {
                                let mine = samples(s, batch: k, rank: rank, of: world, shards: shards)
                                inBatch += mine.count
                                for i in mine { visits[i] += 1 }
                            }
                            #expect(inBatch == min(batch, count - k * batch), "batch \(k) of size \(batch)")
                        }
                        #expect(visits == [Int](repeating: 1, count: count),
                                "world \(world) batch \(batch) shards \(String(describing: shards)) shuffle \(shuffle) epoch \(epoch)")
                    }
                }
            }
        }
    }

    @Test func epochsVisitInDifferentOrders() {
        let s = Sampler(count: 130, batchSize: 32, seed: 11)
        s.setEpoch(0)
        let first = (0..<s.batchesPerEpoch).flatMap { k in samples(s, batch: k, rank: 0, of: 3, shards: nil) }
        s.setEpoch(1)
        let second = (0..<s.batchesPerEpoch).flatMap { k in samples(s, batch: k, rank: 0, of: 3, shards: nil) }
        #expect(first != second)
    }
}
