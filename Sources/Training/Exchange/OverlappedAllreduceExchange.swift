// OverlappedAllreduceExchange: fast mode's allreduce, sent in buckets while backward is still
// running (DDP's reducer does the same). A bucket is a run of whole layers, last layer first;
// it is handed to the rank's CollectiveThread as soon as backward has finished the lowest
// layer in it (`LocalPass.gradient`'s hooks), and the main thread computes the layers below
// while it crosses the network. `reduce` then waits for the thread: the communication that
// backward did not hide is what the step pays (and what `comm_seconds` counts).
//
// Buckets (`--bucket-mb B`, MiB as DDP's bucket_cap_mb): walking the layers from the top, a
// bucket closes once it holds ≥ B MiB of gradient. The first bucket (the top layers) also
// carries the tail (loss sum, count, stop), which is known before the last backward starts.
//
// Bits: each bucket is one allreduce of the final Floats of its layers, so the result is the
// non-overlapped allreduce of the same buckets bit for bit (the same calls on the same data;
// only when they run differs). With 2 ranks (a + b is the same whoever adds), or the
// in-process workers (which sum every element in rank order), it is also the bits of one
// allreduce of the whole buffer, which the tests check. Exact mode is not bucketed: its Int64 words exist only after
// every shard's backward (AllreduceExchange<ExactSum> is used).
import Collectives
import NNCore
import NNData
import NeuralNet

final class OverlappedAllreduceExchange: ExchangeStrategy {
    struct Bucket: Equatable {
        /// Gradient words (indices into the P + Tail.size buffer) the bucket sums.
        let range: Range<Int>
        /// The lowest layer in it: the bucket is ready after `layerDone` of this layer.
        let lowestLayer: Int
    }

    /// Buckets of whole layers, top first, each closed at ≥ `capFloats` gradient words; the
    /// first also holds the tail (words P ..< P + Tail.size). `layers`: (index, parameter
    /// range) of the layers that have parameters, in increasing index and offset order, the
    /// last one ending at P.
    static func buckets(layers: [(index: Int, range: Range<Int>)], parameterCount P: Int, capFloats: Int) -> [Bucket] {
        var out: [Bucket] = []
        var upper = P + Tail.size, size = 0
        for (j, l) in layers.enumerated().reversed() {
            size += l.range.count
            if size >= capFloats || j == 0 {
                out.append(Bucket(range: l.range.lowerBound..<upper, lowestLayer: l.index))
                upper = l.range.lowerBound; size = 0
            }
        }
        if out.isEmpty { out.append(Bucket(range: 0..<P + Tail.size, lowestLayer: 0)) }
        return out
    }

    let comm: Communicator
    let model: Sequential<Float>
    let buckets: [Bucket]
    private let thread: CollectiveThread
    let updateRanges: [Range<Int>]
    var label: String { "allreduce (\(buckets.count) buckets, overlapped with backward)" }

    /// The buckets of `model` at a cap of `bucketMiB` MiB (> 0).
    static func buckets(model: Sequential<Float>, bucketMiB: Double) -> [Bucket] {
        let layers = model.layers.indices.filter { model.layers[$0].parameterCount > 0 }
            .map { (index: $0, range: model.offsets[$0]..<model.offsets[$0] + model.layers[$0].parameterCount) }
        let cap = max(1, Int(min(bucketMiB * 1_048_576 / 4, Double(Int.max / 2)).rounded(.up)))
        return buckets(layers: layers, parameterCount: model.parameterCount, capFloats: cap)
    }

    /// - Parameter buckets: `buckets(model:bucketMiB:)`.
    init(comm: Communicator, model: Sequential<Float>, buckets: [Bucket]) {
        self.comm = comm; self.model = model; self.buckets = buckets
        thread = CollectiveThread(comm: comm)
        updateRanges = [0..<model.parameterCount]
    }

    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        let mine = Sampler.slice(batch, part: comm.rank, of: comm.size)
        let P = model.parameterCount
        // Read each step: a node-shared strategy of an earlier run may have rebound the buffer.
        let g = model.gradients.pointer
        var next = 0
        let buckets = self.buckets, thread = self.thread
        func send(through layer: Int) {
            while next < buckets.count && buckets[next].lowestLayer >= layer {
                let r = buckets[next].range
                thread.submit(UnsafeMutableBufferPointer(start: g + r.lowerBound, count: r.count))
                next += 1
            }
        }
        var tail = LocalTail(lossSum: 0, count: mine.count, stop: stop)
        let hooks = BackwardHooks(lossKnown: { loss in
            tail.lossSum = loss
            FastSum.write(tail, into: g + P)
        }, layerDone: { send(through: $0) })
        tail.lossSum = pass.gradient(positions: mine, scale: scale, hooks: hooks)
        send(through: Int.min)   // buckets of layers that reported nothing (a rank without samples)
        clock.charge(.compute)
        return tail
    }

    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        let g = model.gradients.pointer, P = model.parameterCount
        try thread.wait()
        clock.charge(.comm)
        let (lossSum, count, stop) = FastSum().tail { g[P + $0] }
        return .wholeModel(model, lossSum: lossSum, count: count, stop: stop, l2: l2)
    }

    func detach() throws { thread.stop() }
}
