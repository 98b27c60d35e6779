// ExchangeStrategies: the one place that chooses how a run combines gradients. Candidates
// are tried in order and the first that applies is used (Horovod's OperationManager does the
// same with its ops); every rank walks the list with the same inputs, so all choose alike.
import Collectives
import NNCore
import NeuralNet

/// What a strategy may need to set itself up.
struct ExchangeContext {
    let config: TrainConfig
    let comm: Communicator
    let model: Sequential<Float>
    let optimizer: Optimizer<Float>
    let globalBatch: Int
    /// Most samples pushed through the network at once.
    let microBatch: Int
    /// Rank 0's choice for every rank (see `AllreduceExchange.syncBeforeAllreduce`).
    let syncBeforeAllreduce: Bool
}

enum ExchangeStrategies {
    /// The plain allreduce in the run's reduction mode: the fallback, and the strategy
    /// outside `Trainer.run` (no collective set-up).
    static func allreduce(_ c: ExchangeContext) -> ExchangeStrategy {
        switch c.config.reduction {
        case .fast:
            if let codec = WireCodec(c.config.compress), c.comm.size > 1 { AllreduceExchange<CompressedSum>(codec: codec, comm: c.comm, model: c.model) }
            else { AllreduceExchange<FastSum>(comm: c.comm, model: c.model, syncBeforeAllreduce: c.syncBeforeAllreduce) }
        case .exact: AllreduceExchange<ExactSum>(shards: c.config.shards, comm: c.comm, model: c.model, syncBeforeAllreduce: c.syncBeforeAllreduce)
        }
    }

    /// The allreduce of a run: in fast mode without compression, in buckets overlapped with
    /// backward (`--bucket-mb` > 0, at least two buckets, ranks that can run collectives on a
    /// second thread), else `allreduce(c)`.
    static func runAllreduce(_ c: ExchangeContext) -> ExchangeStrategy {
        if c.config.reduction == .fast, c.config.compress == .none, c.config.bucketMiB > 0, c.comm.size > 1,
           c.comm.collectivesFromAnyThread, !c.syncBeforeAllreduce {
            let buckets = OverlappedAllreduceExchange.buckets(model: c.model, bucketMiB: c.config.bucketMiB)
            if buckets.count > 1 { return OverlappedAllreduceExchange(comm: c.comm, model: c.model, buckets: buckets) }
        }
        return allreduce(c)
    }

    /// The strategy for a run (collective: every rank calls it).
    ///
    /// 0. `--compress powersgd:R`: PowerSGDExchange, whatever `--exchange` says (it is an allreduce).
    /// 1. `shared` with a network of Linear layers whose batch factors are fewer than its
    ///    weights (fast mode): SharedFactorExchange.
    /// 2. `shared`/`shared-gradients`: SharedGradientsExchange (fast or exact sums).
    /// 3. `factors`, or `shared` where ranks share no memory: AllgatherFactorExchange where
    ///    its cost model finds factors cheaper for some layer (`factors`: for every layer).
    /// 4. Otherwise: `runAllreduce` (bucketed and overlapped, or AllreduceExchange).
    /// `--compress` acts where bytes cross a network: in 3 and 4; the node-shared exchanges sum in memory.
    static func make(_ c: ExchangeContext) throws -> ExchangeStrategy {
        let config = c.config
        if case .powerSGD(let rank) = config.compress, c.comm.size > 1 { return PowerSGDExchange(c, rank: rank) }
        guard config.exchange != .allreduce, c.comm.size > 1 else { return runAllreduce(c) }
        if config.exchange == .factors { return try AllgatherFactorExchange.make(c, force: true) ?? runAllreduce(c) }
        let exact = config.reduction == .exact
        let factorRows = exact || config.exchange != .shared ? nil
            : SharedFactorExchange.rows(model: c.model, globalBatch: c.globalBatch, worldSize: c.comm.size, microBatch: c.microBatch)
        let extra = factorRows.map { SharedFactorExchange.sharedCount(model: c.model, rows: $0) } ?? 0
        guard let node = try NodeShare.attach(comm: c.comm, model: c.model, optimizer: c.optimizer, exact: exact, extraShared: extra) else {
            if config.exchange == .shared, let f = try AllgatherFactorExchange.make(c, force: false) { return f }
            return runAllreduce(c)
        }
        if let rows = factorRows { return try SharedFactorExchange(node: node, comm: c.comm, rows: rows) }
        return exact ? SharedGradientsExchange(summand: ExactSum(shards: config.shards), node: node, comm: c.comm)
                     : SharedGradientsExchange(summand: FastSum(), node: node, comm: c.comm)
    }
}
