// Launcher: picks the communicator (MPI under mpirun, in-process workers otherwise), sets
// BLAS threads, loads the data, runs one Trainer per rank, and turns any rank's failure into
// one message and the end of the whole job.
import Collectives
import Foundation
import MPICollectives
import NNCore
import NNData

/// How a run is distributed.
public struct RunPlan: Sendable {
    /// In-process workers (single-node fallback); nil = 1, or the MPI world under mpirun.
    public var workers: Int?
    /// BLAS threads per rank; nil = OPENBLAS_NUM_THREADS, else cores ÷ ranks on this node.
    public var blasThreads: Int?
    public var quiet = false
    /// Pin OpenBLAS to one thread per rank: its multi-threaded products partition the work by
    /// thread count, which changes rounding; exact reduction needs the same bits everywhere.
    public var singleThreadedBLAS = false
    /// Seconds a collective may make no progress before the job ends naming the ranks that
    /// never arrived (`--stall-timeout`); 0 = no watchdog. `train` sets it from the config.
    public var stallTimeout = 0.0
    /// A barrier before each gradient allreduce, so that comm_wait_seconds separates waiting
    /// for the slowest rank from the allreduce (bench/bench.py; the CLI sets it from
    /// NNTRAIN_SYNC_BEFORE_ALLREDUCE=1; rank 0's value holds for all ranks).
    public var syncBeforeAllreduce = false
    public init(workers: Int? = nil, blasThreads: Int? = nil, quiet: Bool = false) {
        self.workers = workers; self.blasThreads = blasThreads; self.quiet = quiet
    }
}

/// The BLAS threads a rank should use: the flag, else OPENBLAS_NUM_THREADS, else cores ÷ local ranks.
public func blasThreadsPerRank(flag: Int?, localRanks: Int) -> Int {
    if let f = flag { return max(1, f) }
    if let e = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let n = Int(e), n > 0 { return n }
    return max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localRanks))
}

/// A communicator for this process: MPI when started by mpirun, else nil.
public enum World {
    nonisolated(unsafe) static var mpi: MPICommunicator?
    /// Held for the whole of a `runOnRanks`.
    static let runLock = NSLock()

    /// The number of ranks mpirun started (read from its environment, without initializing
    /// MPI), or nil when this process was not started by mpirun. For clients that plan their
    /// work by the job's size (the scaling experiment) without importing MPICollectives.
    public static var launchedSize: Int? {
        guard MPICommunicator.launchedByMPI else { return nil }
        return Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] ?? "1") ?? 1
    }

    /// Initializes MPI once if this process runs under mpirun (with MPI_THREAD_MULTIPLE
    /// when a stall watchdog is to run).
    public static func mpiIfLaunched(forStallWatchdog: Bool = false) throws -> MPICommunicator? {
        if let m = mpi { return m }
        guard MPICommunicator.launchedByMPI else { return nil }
        let m = try MPICommunicator(forStallWatchdog: forStallWatchdog)
        mpi = m
        return m
    }
}

/// Runs `body(comm)` on every rank of the plan: under MPI on this process's rank; otherwise
/// on `workers` threads. The first failure (by any rank) is rethrown; under MPI it ends the
/// job through MPI_Abort with its message.
///
/// With `plan.stallTimeout` > 0, a collective that makes no progress for that long ends the
/// whole job (exit status `StallError.exitCode`) with a message naming the ranks that never
/// arrived: under MPI from the watchdog thread through MPI_Abort; with in-process workers the
/// waiting workers throw `StallError` and, since the stalled worker's thread cannot be
/// stopped, this function prints the message and exits the process.
///
/// Runs in one process are serialized: OpenBLAS's thread count is process-wide, and two runs
/// setting it differently at once (e.g. concurrent tests) would change each other's rounding.
public func runOnRanks<R>(_ plan: RunPlan, _ body: @escaping (Communicator) throws -> R) throws -> R {
    World.runLock.lock()
    defer { World.runLock.unlock() }
    if let mpi = try World.mpiIfLaunched(forStallWatchdog: plan.stallTimeout > 0) {
        if plan.workers != nil {
            throw UserError("--workers is for runs without mpirun; under mpirun the number of ranks is mpirun's -np (\(mpi.size) here)")
        }
        do {
            if let note = try mpi.startStallWatchdog(timeout: plan.stallTimeout), mpi.rank == 0, !plan.quiet {
                FileHandle.standardError.write(Data("nntrain: note: \(note)\n".utf8))
            }
        } catch {
            mpi.abort(String(describing: error), code: 1)
        }
        BLASThreads.set(plan.singleThreadedBLAS ? 1 : blasThreadsPerRank(flag: plan.blasThreads, localRanks: MPICommunicator.localSize))
        do {
            return try body(mpi)
        } catch {
            mpi.abort(String(describing: error), code: 1)
        }
    }
    let n = plan.workers ?? 1
    guard n >= 1, n <= 256 else { throw UserError("--workers must be between 1 and 256, got \(n)") }
    BLASThreads.set(plan.singleThreadedBLAS ? 1 : blasThreadsPerRank(flag: plan.blasThreads, localRanks: n))
    if n == 1 { return try body(SingleCommunicator()) }
    let group = ThreadGroup(size: n, stallTimeout: plan.stallTimeout)
    let comms = group.communicators()
    let box = WorkerOutcomes<R>(count: n)
    var threads: [Thread] = []
    let done = DispatchGroup()
    for r in 0..<n {
        done.enter()
        let t = Thread {
            defer { done.leave() }
            do {
                box.succeed(r, try body(comms[r]))
            } catch {
                box.fail(error)
                group.fail(String(describing: error))
            }
        }
        t.stackSize = 8 << 20
        threads.append(t)
        t.start()
    }
    while done.wait(timeout: .now() + 0.25) == .timedOut {
        guard let stall = group.stall else { continue }
        // The workers that were waiting throw at once; the stalled ones may never return.
        let deadline = Date().addingTimeInterval(5)
        while box.finished < n - stall.missing.count && Date() < deadline { usleep(10_000) }
        endJob(stall)
    }
    if let stall = group.stall { endJob(stall) }
    return try box.result()
}

/// Ends an in-process job that stalled, as MPI_Abort ends an MPI one.
private func endJob(_ stall: StallError) -> Never {
    FileHandle.standardError.write(Data("nntrain: error: \(stall)\n".utf8))
    exit(StallError.exitCode)
}

/// The results of in-process workers, filled from their threads.
final class WorkerOutcomes<R>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [R?]
    private var firstError: Error?
    private var done = 0
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func succeed(_ rank: Int, _ value: R) { lock.lock(); results[rank] = value; done += 1; lock.unlock() }
    /// Workers that have returned or thrown.
    var finished: Int { lock.lock(); defer { lock.unlock() }; return done }
    /// Keeps the original failure, not the "another worker failed" that it causes in the others.
    func fail(_ error: Error) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        if firstError == nil || (firstError is CommunicatorError && !(error is CommunicatorError)) { firstError = error }
    }
    func result() throws -> R {
        lock.lock(); defer { lock.unlock() }
        if let e = firstError { throw e }
        return results[0]!
    }
}

/// Trains with `config` under `plan`; returns rank 0's final metrics.
public func train(_ config: TrainConfig, plan: RunPlan, configure: ((Trainer) throws -> Void)? = nil) throws -> DoneMetrics {
    try config.validate()
    var plan = plan
    if config.reduction == .exact { plan.singleThreadedBLAS = true }
    plan.stallTimeout = config.stallTimeout
    // Data is loaded once per process and shared (read-only) by its worker threads.
    let cache = DataCache()
    return try runOnRanks(plan) { comm in
        // Loading is work each rank does alone (one may finish long before another): not a stall.
        try train(config: config, data: comm.stallWatch.alone { try cache.load(config) }, comm: comm, quiet: plan.quiet,
                  syncBeforeAllreduce: plan.syncBeforeAllreduce, configure: configure)
    }
}

/// Trains with `config` on already-loaded `data` on this rank: the building block of `train`
/// and of experiments, which run many configurations on one loaded data set inside one job.
/// Call it on every rank of `comm`; rank 0 reports to the console and `config.metrics`.
///
/// - Parameter configure: called on every rank before training (hooks, e.g. a StepLogger).
/// - Throws: UserError (bad configuration, divergence), CommunicatorError.
public func train(config: TrainConfig, data: DataSplit, comm: Communicator, quiet: Bool = false,
                  syncBeforeAllreduce: Bool = false, configure: ((Trainer) throws -> Void)? = nil) throws -> DoneMetrics {
    try verifyRanksAgree(config: config, data: data, comm: comm)
    try checkModelMemory(config: config, data: data)
    let trainer = try Trainer(config: config, data: data, comm: comm, syncBeforeAllreduce: syncBeforeAllreduce)
    var reporter: ConsoleReporter?
    if comm.rank == 0 {
        reporter = try ConsoleReporter(metricsPath: config.metrics, epochs: config.epochs, quiet: quiet,
                                       append: config.resume != nil)
        let mode = comm.size > 1 ? " on \(comm.size) \(comm.kind == "mpi" ? "MPI ranks" : "workers")" : ""
        let exactNote = config.reduction == .exact ? " (exact reduction: one BLAS thread per rank; use --workers N or mpirun -np N for more cores)" : ""
        reporter!.message("nntrain: \(config.model) (\(trainer.model.parameterCount) parameters) on \(data.train.name) (\(data.train.count) train, \(data.test.count) test), batch \(trainer.globalBatch)\(mode), \(BLASThreads.current) BLAS thread(s) per rank (OpenBLAS \(BLASKernel.current))\(exactNote)")
        reporter!.message("        \(trainer.recipeDescription)")
    }
    trainer.reporter = reporter
    // Checkpoints: --resume / --init now, then writes from the afterStep hook.
    let checkpointer = try Checkpointer(config: config, comm: comm)
    checkpointer.reporter = reporter
    try checkpointer.prepare(trainer)
    // A checkpoint write is work rank 0 does alone while the others wait: not a stall.
    trainer.afterStep = { t, ended in try comm.stallWatch.alone { try checkpointer.afterStep(t, epochEnded: ended) } }
    // --tensorboard: rank 0's second sink, after prepare so a resumed run knows its step.
    var tee: ReporterTee?
    if let console = reporter, let dir = config.tensorboard {
        let board = try TensorBoardWriter(directory: dir, resumedAt: config.resume != nil ? trainer.globalStep : nil)
        tee = ReporterTee([console, board])
        trainer.reporter = tee
    }
    try configure?(trainer)
    var logger: StepLogger?
    if config.logEverySteps > 0 {
        logger = StepLogger(trainer: trainer, policy: StepLogPolicy(every: config.logEverySteps))
        try logger!.begin()
    }
    // The trainer holds its reporter weakly; these locals keep them for the whole run.
    defer { withExtendedLifetime((logger, tee, reporter)) {} }
    return try trainer.run()
}

/// Loads each distinct data configuration once per process; worker threads share the result.
public final class DataCache: @unchecked Sendable {
    private let lock = NSLock()
    private var splits: [String: DataSplit] = [:]
    public init() {}

    /// The split `config` names (dataset, data path, subsets, seed), loaded on first use.
    public func load(_ config: TrainConfig) throws -> DataSplit {
        try load(key: "\(config.dataset)|\(config.data ?? "")|\(config.trainSubset ?? -1)|\(config.testSubset ?? -1)|\(config.seed)|\(config.csvLabelColumn)|\(config.csvRegression)") {
            try loadData(config)
        }
    }

    /// The split stored under `key`, made by `make` on first use (under a lock).
    public func load(key: String, _ make: () throws -> DataSplit) throws -> DataSplit {
        lock.lock(); defer { lock.unlock() }
        if let s = splits[key] { return s }
        let s = try make()
        splits[key] = s
        return s
    }
}

extension World {
    /// Finalizes MPI if this process initialized it.
    public static func finalize() {
        mpi?.finalize()
        mpi = nil
    }
}
