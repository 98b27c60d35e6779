// AllreduceExchange: one allreduce of the whole summed buffer per step (MPI_Allreduce, or the
// in-process workers' equivalent): the P gradient words and the tail, in fast or exact mode.
// Every rank then holds the global gradient and applies the same update to all parameters.
import Collectives
import NNCore
import NeuralNet

/// The exchange of `--exchange allreduce`, and the fallback when ranks share no memory.
final class AllreduceExchange<S: Summand>: ExchangeStrategy {
    let summand: S
    let comm: Communicator
    let model: Sequential<Float>
    /// What is summed: the model's gradient buffer (fast; read each step, since another
    /// strategy may have rebound it) or a private Int64 buffer (exact).
    let words: () -> UnsafeMutableBufferPointer<S.Word>
    /// A barrier before the allreduce, so that the wait for the slowest rank is measured
    /// apart from the allreduce (comm_wait_seconds); costs one barrier per step.
    let syncBeforeAllreduce: Bool
    let updateRanges: [Range<Int>]
    var label: String { S.self == CompressedSum.self ? "allreduce (\(summand.name))" : "allreduce" }

    /// - Parameter words: P + Tail.size words; for FastSum, the model's gradient buffer.
    init(summand: S, comm: Communicator, model: Sequential<Float>, words: @escaping () -> UnsafeMutableBufferPointer<S.Word>,
         syncBeforeAllreduce: Bool) {
        self.summand = summand; self.comm = comm; self.model = model; self.words = words
        self.syncBeforeAllreduce = syncBeforeAllreduce
        updateRanges = [0..<model.parameterCount]
    }

    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail {
        let t = summand.contribute(pass, batch: batch, rank: comm.rank, of: comm.size, scale: scale, stop: stop, into: words().baseAddress!)
        clock.charge(.compute)
        return t
    }

    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced {
        if syncBeforeAllreduce {
            try comm.barrier()
            clock.wait(clock.charge(.comm))
        }
        let words = self.words()
        try summand.allReduce(comm, words)
        clock.charge(.comm)
        let P = model.parameterCount
        let g = model.gradients.pointer
        summand.gradients(UnsafePointer(words.baseAddress!), 0..<P, into: g)
        let (lossSum, count, stop) = summand.tail { words[P + $0] }
        return .wholeModel(model, lossSum: lossSum, count: count, stop: stop, l2: l2)
    }
}

extension AllreduceExchange where S == FastSum {
    /// Fast mode sums the model's own gradient buffer (P + Tail.size Floats).
    convenience init(comm: Communicator, model: Sequential<Float>, syncBeforeAllreduce: Bool) {
        self.init(summand: FastSum(), comm: comm, model: model, words: { [unowned model] in model.gradients.buffer },
                  syncBeforeAllreduce: syncBeforeAllreduce)
    }
}

extension AllreduceExchange where S == CompressedSum {
    /// Fast mode with 16-bit words on the wire, summing the model's own gradient buffer.
    convenience init(codec: WireCodec, comm: Communicator, model: Sequential<Float>) {
        self.init(summand: CompressedSum(codec: codec), comm: comm, model: model, words: { [unowned model] in model.gradients.buffer },
                  syncBeforeAllreduce: false)
    }
}

extension AllreduceExchange where S == ExactSum {
    /// Exact mode sums a private Int64 buffer of P + Tail.size words.
    convenience init(shards: Int, comm: Communicator, model: Sequential<Float>, syncBeforeAllreduce: Bool) {
        let acc = Buffer<Int64>(count: model.parameterCount + Tail.size)
        self.init(summand: ExactSum(shards: shards), comm: comm, model: model, words: { acc.buffer }, syncBeforeAllreduce: syncBeforeAllreduce)
    }
}
