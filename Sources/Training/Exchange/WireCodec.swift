// WireCodec: 16-bit floats on the wire (`--compress bf16|fp16`), Float32 everywhere else.
// What a rank sends is rounded once; every rank decodes the same received words, its own
// included, so all ranks still compute the same sums and keep identical parameters.
import Collectives
import NNCore

/// Encodes Floats as bfloat16 or IEEE half words and back.
struct WireCodec {
    let kind: Compression

    /// nil unless `kind` is bf16 or fp16.
    init?(_ kind: Compression) {
        guard kind == .bf16 || kind == .fp16 else { return nil }
        self.kind = kind
    }

    /// dst[i] = the 16-bit word nearest src[i] (bf16: round to nearest even; NaN stays NaN;
    /// fp16: Swift's Float16 conversion, overflowing to ±inf beyond 65,504).
    func encode(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        switch kind {
        case .bf16:
            for i in 0..<count {
                let b = src[i].bitPattern
                dst[i] = src[i].isNaN ? 0x7fc0 : UInt16(truncatingIfNeeded: (b &+ 0x7fff &+ ((b >> 16) & 1)) >> 16)
            }
        case .fp16:
            for i in 0..<count { dst[i] = Float16(src[i]).bitPattern }
        case .none, .powerSGD:
            preconditionFailure("WireCodec is bf16 or fp16")
        }
    }

    /// dst[i] = decoded src[i], or with `add`, dst[i] += decoded src[i].
    func decode(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int, add: Bool) {
        switch kind {
        case .bf16:
            if add { for i in 0..<count { dst[i] += Float(bitPattern: UInt32(src[i]) << 16) } }
            else { for i in 0..<count { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) } }
        case .fp16:
            if add { for i in 0..<count { dst[i] += Float(Float16(bitPattern: src[i])) } }
            else { for i in 0..<count { dst[i] = Float(Float16(bitPattern: src[i])) } }
        case .none, .powerSGD:
            preconditionFailure("WireCodec is bf16 or fp16")
        }
    }

    /// Allgathers `count` Floats of every rank in 16-bit words: received[j·count + i] = rank
    /// j's sent[i] as decoded (the same values on every rank). `words` holds (size + 1)·count.
    func allGather(_ comm: Communicator, sent: UnsafePointer<Float>, received: UnsafeMutablePointer<Float>, count: Int,
                   words: UnsafeMutablePointer<UInt16>) throws {
        let mine = words, all = words + count
        encode(sent, mine, count: count)
        try comm.allGather(UnsafeRawBufferPointer(start: mine, count: count * 2),
                           UnsafeMutableRawBufferPointer(start: all, count: count * 2 * comm.size))
        decode(all, received, count: count * comm.size, add: false)
    }
}

/// Fast mode with 16-bit gradients on the wire, sums in Float32 (the tail — loss, counts,
/// stop — is summed exactly in Float32 apart). With P gradients and N ranks:
///
/// - N = 2: one allgather of every rank's encoded gradient, and every rank sums the two
///   decoded gradients in rank order: P·2 bytes per rank, one collective, the sum unrounded.
/// - N ≥ 3: a reduce-scatter and an allgather, as a ring allreduce moves its halves. Rank r owns
///   the shard [r·S, (r+1)·S), S = ⌈P ÷ N⌉: an alltoall gives it every rank's encoded words of
///   its shard, it sums their decoded values in rank order in Float32 and encodes the sum, and
///   an allgather of the encoded sums gives every rank the whole gradient (each rank decodes
///   the same words, its own shard's included). 2(N−1)·S·2 bytes per rank — half a Float32
///   ring allreduce at any N — where an allgather of every rank's gradient would move
///   (N−1)·P·2, more than the Float32 ring from N = 5 on. The sum is rounded to 16 bits once.
///
/// The factor exchange compresses its factors with the same codec.
struct CompressedSum: Summand {
    typealias Word = Float
    let codec: WireCodec
    private let fast = FastSum()
    private let scratch = Scratch()
    var name: String { "\(codec.kind) on the wire" }
    var worldSizeInvariant: Bool { false }

    /// Buffers sized on first use.
    final class Scratch {
        var words = Buffer<UInt16>(count: 0)
        var shard = Buffer<Float>(count: 0)
        var tail = Buffer<Float>(count: Tail.size)
    }

    init(codec: WireCodec) { self.codec = codec }

    func contribute(_ pass: LocalPass, batch: Range<Int>, rank: Int, of size: Int, scale: Float, stop: Bool,
                    into out: UnsafeMutablePointer<Float>) -> LocalTail {
        fast.contribute(pass, batch: batch, rank: rank, of: size, scale: scale, stop: stop, into: out)
    }
    func tail(_ word: (Int) -> Float) -> (lossSum: Double, count: Int, stop: Bool) { fast.tail(word) }
    func gradients(_ words: UnsafePointer<Float>, _ range: Range<Int>, into g: UnsafeMutablePointer<Float>) { fast.gradients(words, range, into: g) }

    func allReduce(_ comm: Communicator, _ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let P = buffer.count - Tail.size, N = comm.size
        guard let b = buffer.baseAddress, P >= 0, N > 1 else { return }
        if N == 2 {
            if scratch.words.count < (N + 1) * P { scratch.words = Buffer(count: (N + 1) * P) }
            let mine = scratch.words.pointer, all = mine + P
            codec.encode(b, mine, count: P)
            try comm.allGather(UnsafeRawBufferPointer(start: mine, count: P * 2), UnsafeMutableRawBufferPointer(start: all, count: P * 2 * N))
            // Σ_j decode(rank j's words), in rank order: the same bits on every rank.
            for j in 0..<N { codec.decode(all + j * P, b, count: P, add: j > 0) }
        } else {
            try reduceScatterAllGather(comm, b, count: P)
        }
        let t = scratch.tail.pointer
        t.update(from: b + P, count: Tail.size)
        try comm.allReduceSum(scratch.tail.buffer)
        (b + P).update(from: t, count: Tail.size)
    }

    /// N ≥ 3 (see the type's comment): b[0..<P] ← decode(encode(Σ_j decode(encode(rank j's b)))),
    /// the sum in rank order, the same words decoded on every rank.
    private func reduceScatterAllGather(_ comm: Communicator, _ b: UnsafeMutablePointer<Float>, count P: Int) throws {
        let N = comm.size, S = (P + N - 1) / N
        // Words: what I send (N shards of S), what I receive (N ranks' words of my shard), my
        // encoded sum (S), everyone's (N·S); Floats: my shard's sum.
        let need = 3 * N * S + S
        if scratch.words.count < need { scratch.words = Buffer(count: need) }
        if scratch.shard.count < S { scratch.shard = Buffer(count: S) }
        let sent = scratch.words.pointer, got = sent + N * S, mine = got + N * S, all = mine + S
        codec.encode(b, sent, count: P)
        (sent + P).update(repeating: 0, count: N * S - P)
        try comm.allToAll(UnsafeRawBufferPointer(start: sent, count: N * S * 2), UnsafeMutableRawBufferPointer(start: got, count: N * S * 2))
        let sum = scratch.shard.pointer
        for j in 0..<N { codec.decode(got + j * S, sum, count: S, add: j > 0) }
        codec.encode(sum, mine, count: S)
        try comm.allGather(UnsafeRawBufferPointer(start: mine, count: S * 2), UnsafeMutableRawBufferPointer(start: all, count: N * S * 2))
        codec.decode(all, b, count: P, add: false)
    }

    func crossNodeSum(_ memory: NodeSharedMemory, _ buffer: UnsafeMutableBufferPointer<Float>) throws { try fast.crossNodeSum(memory, buffer) }
    func slot(_ memory: NodeSharedMemory, _ r: Int) -> UnsafeMutablePointer<Float> { fast.slot(memory, r) }
    func sumSlots(_ memory: NodeSharedMemory, _ range: Range<Int>, scratch: UnsafeMutablePointer<Float>, scratchCount: Int) {
        fast.sumSlots(memory, range, scratch: scratch, scratchCount: scratchCount)
    }
}
