// NoiseKey: per-sample randomness that does not depend on who computes the sample. Dropout's
// masks and augmentation's crops are drawn from a generator seeded by (seed, epoch, the sample's
// position in the epoch's order, a stream), never from a stream that advances call by call: a
// sample gets the same numbers whichever rank or worker computes it, however the global batch is
// sliced, and after a stop and resume — like the shuffling (Sampler), which is a function of
// (seed, epoch) only.

/// What a layer or an augmentation that draws per-sample random numbers needs for one batch:
/// row r of the batch is the sample at position `firstPosition + r` of epoch `epoch`'s order.
/// Without a key such layers are deterministic (evaluation and inference).
public struct NoiseKey: Sendable, Equatable {
    public var seed: UInt64
    public var epoch: Int
    public var firstPosition: Int
    public init(seed: UInt64, epoch: Int, firstPosition: Int) {
        self.seed = seed; self.epoch = epoch; self.firstPosition = firstPosition
    }

    /// The generator of one (row, stream) pair: independent of every other row and stream.
    public func rng(row: Int, stream: Int) -> RNG {
        var h = RNG.splitMix64(seed ^ 0x6A09_E667_F3BC_C908)
        h = RNG.splitMix64(h ^ UInt64(truncatingIfNeeded: epoch))
        h = RNG.splitMix64(h ^ UInt64(truncatingIfNeeded: firstPosition + row))
        h = RNG.splitMix64(h ^ UInt64(truncatingIfNeeded: stream))
        return RNG(seed: h)
    }
}
