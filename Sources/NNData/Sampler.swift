// Sampler: which samples make up global batch k of epoch e, and which of them are mine.
// Every rank derives the same permutation from (seed, epoch), so no indices cross ranks.
import NNCore

/// Global-batch sampling with per-rank contiguous slices.
public final class Sampler {
    public let count: Int
    public let batchSize: Int
    public let seed: UInt64
    public let shuffle: Bool
    /// The permutation of the current epoch.
    public let order: Buffer<Int32>
    public private(set) var epoch: Int = -1

    public init(count: Int, batchSize: Int, seed: UInt64, shuffle: Bool = true) {
        precondition(count > 0 && batchSize > 0)
        self.count = count; self.batchSize = batchSize; self.seed = seed; self.shuffle = shuffle
        order = Buffer(count: count)
    }

    /// Global batches per epoch (the last one may be partial).
    public var batchesPerEpoch: Int { (count + batchSize - 1) / batchSize }

    /// Draws the permutation of `epoch` (deterministic in seed and epoch only).
    public func setEpoch(_ epoch: Int) {
        guard epoch != self.epoch else { return }
        self.epoch = epoch
        if shuffle {
            var rng = RNG(seed: seed, stream: UInt64(epoch) &+ 1)
            rng.permutation(count, into: order.pointer)
        } else {
            for i in 0..<count { order[i] = Int32(i) }
        }
    }

    /// The range of positions in `order` of global batch `k`.
    public func batchRange(_ k: Int) -> Range<Int> {
        let lo = k * batchSize
        return lo..<min(lo + batchSize, count)
    }

    /// Splits `range` into `parts` contiguous slices as evenly as possible
    /// (the first `len % parts` slices get one more). Slice `i` may be empty.
    public static func slice(_ range: Range<Int>, part i: Int, of parts: Int) -> Range<Int> {
        let n = range.count, q = n / parts, r = n % parts
        let lo = range.lowerBound + i * q + min(i, r)
        return lo..<(lo + q + (i < r ? 1 : 0))
    }
}
