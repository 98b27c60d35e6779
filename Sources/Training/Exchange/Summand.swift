// Summand: the numbers that cross ranks in a step, and how they are formed and added.
// Fast mode sends Float gradients; exact mode rounds each logical shard's gradient to Int64
// fixed point and sends those sums. The strategies (allreduce, shared memory) are written
// once over this protocol and carry either.
import Collectives
import NNCore
import NNData

/// Slots after the P gradient words of a summed buffer.
enum Tail {
    static let size = 4
}

/// How a rank's contribution to a step is represented and summed.
protocol Summand {
    associatedtype Word
    /// The reduction's name in metrics ("fast", "exact").
    var name: String { get }
    /// Whether the sums, and the loss's Σθ², must not depend on how ranks are laid out.
    var worldSizeInvariant: Bool { get }
    /// Writes this rank's contribution to global batch `batch` (P gradient words, then the
    /// tail) into `out`, using `pass` (which computes into model.gradients).
    func contribute(_ pass: LocalPass, batch: Range<Int>, rank: Int, of size: Int, scale: Float, stop: Bool,
                    into out: UnsafeMutablePointer<Word>) -> LocalTail
    /// Reads the tail of a summed buffer; `word(t)` is tail word t.
    func tail(_ word: (Int) -> Word) -> (lossSum: Double, count: Int, stop: Bool)
    /// g[range] = the Float gradient that summed words[range] stand for.
    func gradients(_ words: UnsafePointer<Word>, _ range: Range<Int>, into g: UnsafeMutablePointer<Float>)
    func allReduce(_ comm: Communicator, _ buffer: UnsafeMutableBufferPointer<Word>) throws
    func crossNodeSum(_ memory: NodeSharedMemory, _ buffer: UnsafeMutableBufferPointer<Word>) throws
    /// Local rank r's slot of node shared memory, as words.
    func slot(_ memory: NodeSharedMemory, _ r: Int) -> UnsafeMutablePointer<Word>
    /// out[range] = Σ over the node's local ranks, in rank order, of their slots[range];
    /// `out` is this rank's slot. `scratch` is working space of `scratchCount` Floats.
    func sumSlots(_ memory: NodeSharedMemory, _ range: Range<Int>, scratch: UnsafeMutablePointer<Float>, scratchCount: Int)
}

/// Fast mode: Float gradients, summed in a fixed rank order.
///
/// Tail: [loss sum, count mod 2¹², count ÷ 2¹², stop]. The count is split so that its Float
/// sum stays an exact integer: each part sums exactly while below 2²⁴, i.e. for fewer than
/// 4,096 ranks and fewer than 2³⁶ samples per batch.
struct FastSum: Summand {
    typealias Word = Float
    var name: String { "fast" }
    var worldSizeInvariant: Bool { false }

    func contribute(_ pass: LocalPass, batch: Range<Int>, rank: Int, of size: Int, scale: Float, stop: Bool,
                    into out: UnsafeMutablePointer<Float>) -> LocalTail {
        // The gradients are computed in place: `out` is the model's gradient buffer.
        let g = pass.model.gradients.pointer, P = pass.parameterCount
        precondition(out == g, "fast mode sums the model's own gradient buffer")
        let mine = Sampler.slice(batch, part: rank, of: size)
        let l = pass.gradient(positions: mine, scale: scale)
        let t = LocalTail(lossSum: l, count: mine.count, stop: stop)
        FastSum.write(t, into: g + P)
        return t
    }

    /// Writes a rank's tail in this layout at `tail` (Tail.size Floats).
    static func write(_ t: LocalTail, into tail: UnsafeMutablePointer<Float>) {
        tail[0] = Float(t.lossSum)
        tail[1] = Float(t.count & 0xfff)
        tail[2] = Float(t.count >> 12)
        tail[3] = t.stop ? 1 : 0
    }

    func tail(_ word: (Int) -> Float) -> (lossSum: Double, count: Int, stop: Bool) {
        (Double(word(0)), Int(word(1)) + Int(word(2)) << 12, word(3) > 0)
    }

    func gradients(_ words: UnsafePointer<Float>, _ range: Range<Int>, into g: UnsafeMutablePointer<Float>) {
        if UnsafePointer(g) != words { (g + range.lowerBound).update(from: words + range.lowerBound, count: range.count) }
    }

    func allReduce(_ comm: Communicator, _ buffer: UnsafeMutableBufferPointer<Float>) throws { try comm.allReduceSum(buffer) }
    func crossNodeSum(_ memory: NodeSharedMemory, _ buffer: UnsafeMutableBufferPointer<Float>) throws { try memory.crossNodeSum(buffer) }
    func slot(_ memory: NodeSharedMemory, _ r: Int) -> UnsafeMutablePointer<Float> { memory.slot(r) }

    func sumSlots(_ memory: NodeSharedMemory, _ range: Range<Int>, scratch t: UnsafeMutablePointer<Float>, scratchCount B: Int) {
        let L = memory.localSize
        let out = memory.slot(memory.localRank)
        // Block by block through a small scratch buffer (two ranks: straight into the slot).
        var lo = range.lowerBound
        while lo < range.upperBound {
            let n = min(B, range.upperBound - lo)
            let s0 = memory.slot(0) + lo
            if L == 2 {
                let s1 = memory.slot(1) + lo, o = out + lo
                for i in 0..<n { o[i] = s0[i] + s1[i] }
            } else {
                for i in 0..<n { t[i] = s0[i] }
                for r in 1..<L {
                    let s = memory.slot(r) + lo
                    for i in 0..<n { t[i] += s[i] }
                }
                (out + lo).update(from: t, count: n)
            }
            lo += n
        }
    }
}

/// Exact mode: the global batch is cut into `shards` logical shards whatever the number of
/// ranks; each shard's gradient is rounded to multiples of 2⁻⁴⁰ and summed as Int64, which
/// is associative: any grouping, any rank count, the same bits.
///
/// Tail: [loss sum (fixed point), count, stop, overflow]. Totals must stay below 2⁶² ÷ shards
/// (checked: an overflow makes the loss NaN, which stops the run as a divergence).
struct ExactSum: Summand {
    typealias Word = Int64
    /// 2⁴⁰: the fixed-point scale (≈ 9·10⁻¹³ resolution).
    static let fixedScale = 0x1p40
    let shards: Int
    var name: String { "exact" }
    var worldSizeInvariant: Bool { true }

    func contribute(_ pass: LocalPass, batch: Range<Int>, rank: Int, of size: Int, scale: Float, stop: Bool,
                    into a: UnsafeMutablePointer<Int64>) -> LocalTail {
        let P = pass.parameterCount
        let g = pass.model.gradients.pointer
        a.update(repeating: 0, count: P + Tail.size)
        let S = shards
        let mine = Sampler.slice(0..<S, part: rank, of: size)
        let limit = 0x1p62 / Double(S)
        // |x.rounded()| < limit ⇔ |x + copysign(½⁻, x)| < ⌈limit⌉ (see below).
        let bound = limit.rounded(.up)
        var overflow = false
        var lossSum = 0.0, count = 0
        for j in mine {
            let shard = Sampler.slice(batch, part: j, of: S)
            let l = pass.gradient(positions: shard, scale: scale)
            lossSum += l
            count += shard.count
            for i in 0..<P {
                // Int64(y) truncates y = x + copysign(0.5⁻, x), 0.5⁻ = 0.5 − 2⁻⁵⁴: that is
                // x.rounded() (half away from zero) for every finite double, without the
                // libm round() call that took a third of an exact-mode step.
                let x = Double(g[i]) * ExactSum.fixedScale
                let y = x + Double(signOf: x, magnitudeOf: 0x1.fffffffffffffp-2)
                if !(abs(y) < bound) { overflow = true; break }
                a[i] &+= Int64(y)
            }
            let lv = (l * ExactSum.fixedScale).rounded()
            if !(abs(lv) < limit) { overflow = true } else { a[P] &+= Int64(lv) }
        }
        a[P + 1] = Int64(count)
        a[P + 2] = stop ? 1 : 0
        a[P + 3] = overflow ? 1 : 0
        return LocalTail(lossSum: lossSum, count: count, stop: stop)
    }

    func tail(_ word: (Int) -> Int64) -> (lossSum: Double, count: Int, stop: Bool) {
        (word(3) > 0 ? .nan : Double(word(0)) * (1 / ExactSum.fixedScale), Int(word(1)), word(2) > 0)
    }

    func gradients(_ words: UnsafePointer<Int64>, _ range: Range<Int>, into g: UnsafeMutablePointer<Float>) {
        let inv = 1 / ExactSum.fixedScale
        for i in range { g[i] = Float(Double(words[i]) * inv) }
    }

    func allReduce(_ comm: Communicator, _ buffer: UnsafeMutableBufferPointer<Int64>) throws { try comm.allReduceSum(buffer) }
    func crossNodeSum(_ memory: NodeSharedMemory, _ buffer: UnsafeMutableBufferPointer<Int64>) throws { try memory.crossNodeSum(buffer) }
    func slot(_ memory: NodeSharedMemory, _ r: Int) -> UnsafeMutablePointer<Int64> { memory.slotInt64(r) }

    func sumSlots(_ memory: NodeSharedMemory, _ range: Range<Int>, scratch: UnsafeMutablePointer<Float>, scratchCount: Int) {
        let out = memory.slotInt64(memory.localRank)
        for r in 0..<memory.localSize where r != memory.localRank {
            let s = memory.slotInt64(r)
            for i in range { out[i] &+= s[i] }
        }
    }
}
