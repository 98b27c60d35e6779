// Trainer: the training loop of one rank. Every rank runs the same loop; what crosses ranks
// inside a step is the business of one ExchangeStrategy (Exchange/), chosen once per run
// (docs/architecture.md): local pass → exchange → one finite check → optimizer step.
import Collectives
import Foundation
import NNCore
import NNData
import NeuralNet

/// Receives progress from rank 0's trainer (other ranks have none).
public protocol TrainingReporter: AnyObject {
    /// After every step; cheap to call, the reporter decides whether to draw.
    func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double)
    func epoch(_ m: EpochMetrics)
    func done(_ m: DoneMetrics)
    func message(_ text: String)
}

/// The training loop of one rank.
public final class Trainer {
    public let config: TrainConfig
    public let comm: Communicator
    /// The data, with the normalization statistics in use (see `useNormalization`).
    public private(set) var data: DataSplit
    public let model: Sequential<Float>
    public let optimizer: Optimizer<Float>
    public var schedule: Schedule
    public let sampler: Sampler
    public let loss: LossFunction
    public let outputs: Int
    public let globalBatch: Int
    public weak var reporter: TrainingReporter?
    /// Polled once per step; any rank returning true stops every rank after that step.
    public var stopRequested: () -> Bool = { false }
    /// Called on every rank after each step and epoch end (checkpoints hook in here).
    public var afterStep: ((Trainer, _ epochEnded: Bool) throws -> Void)?

    // Position: the next step is batch `stepInEpoch` of `epoch`; `globalStep` steps are done.
    public var epoch = 0
    public var stepInEpoch = 0
    public var globalStep = 0
    /// Sum over this epoch's steps of (mean batch loss × batch size), and the samples seen.
    public var epochLossSum = 0.0
    public var epochSamples = 0
    public private(set) var lastLR = 0.0
    public private(set) var stopped = false

    let parameterCount: Int
    /// This rank's forward and backward (buffers for one micro-batch).
    let pass: LocalPass
    /// How this run's steps combine gradients; the plain allreduce outside `run`.
    var exchange: ExchangeStrategy
    /// What the strategies are made from (see `ExchangeStrategies.make`).
    let exchangeContext: ExchangeContext
    let evalScratch: Buffer<Int64>
    /// Evaluation's forward pass, with the run's test-time augmentation.
    let evalForward: EvaluationForward
    /// Time of this epoch's steps, by phase.
    var clock = StepClock()

    /// 2³²: the fixed-point scale of evaluation sums.
    static let evalScale = 0x1p32
    /// Samples per evaluation chunk: a fixed grid, so evaluation sums do not depend on ranks.
    static let evalChunk = 1000

    /// Builds the model (rank 0's initial parameters are broadcast to all), optimizer and sampler.
    ///
    /// - Parameter syncBeforeAllreduce: a barrier before each allreduce, so that
    ///   comm_wait_seconds separates waiting for the slowest rank from the allreduce itself
    ///   (bench/bench.py allreduce); rank 0's value holds for all ranks.
    /// - Throws: UserError for an unusable configuration, CommunicatorError from collectives.
    public init(config: TrainConfig, data: DataSplit, comm: Communicator, syncBeforeAllreduce: Bool = false) throws {
        try config.validate()
        self.config = config
        self.comm = comm
        self.data = data
        guard let lossFn = LossFunction(parsing: config.loss) else { throw UserError("unknown loss '\(config.loss)'") }
        loss = lossFn
        var data = data
        let fitted = Normalization.fit(config.normalize, on: data.train, tabular: config.dataset == "csv")
        try fitted.checkTargetCount(source: "--normalize \(config.normalize.rawValue)")
        data.train = data.train.normalized(fitted)
        data.test = data.test.normalized(fitted)
        self.data = data
        let train = data.train
        switch (train.task, lossFn) {
        case (.classification(let c), .crossEntropy): outputs = c
        case (.classification(let c), .bce):
            guard c <= 2 else { throw UserError("--loss bce needs two classes; dataset '\(config.dataset)' has \(c); use cross-entropy") }
            outputs = 1
        case (.regression(let o), .squared), (.regression(let o), .mse): outputs = o
        case (.classification, _):
            throw UserError("--loss \(lossFn.rawValue) needs real-valued targets; dataset '\(config.dataset)' has class labels (use cross-entropy or bce)")
        case (.regression, _):
            throw UserError("--loss \(lossFn.rawValue) needs class labels; dataset '\(config.dataset)' is a regression set (use squared or mse)")
        }
        let spec = try ModelSpec(parsing: config.model)
        model = try spec.build(Float.self, inputShape: train.sampleShape, outputs: outputs,
                               activation: Activation(parsing: config.activation)!, gradientTail: Tail.size)
        parameterCount = model.parameterCount
        var rng = RNG(seed: config.seed)
        model.initialize(config.initScheme, rng: &rng)
        try comm.broadcast(UnsafeMutableRawBufferPointer(model.parameters.buffer), root: 0)
        let sync = try comm.broadcast(syncBeforeAllreduce ? 1 : 0, root: 0) == 1

        optimizer = Optimizer(config.optimizerConfig, parameterCount: parameterCount)
        globalBatch = config.batchSize.resolve(trainingSamples: train.count)
        sampler = Sampler(count: train.count, batchSize: globalBatch, seed: config.seed, shuffle: config.shuffle)
        let total = config.steps ?? sampler.batchesPerEpoch * config.epochs
        schedule = Schedule(config.scheduleConfig(stepsPerEpoch: sampler.batchesPerEpoch,
                                                  totalSteps: min(total, sampler.batchesPerEpoch * config.epochs),
                                                  globalBatch: globalBatch))

        // Activations are sized for the training batch (at most --micro-batch rows); evaluation
        // walks its fixed 1,000-sample chunks in pieces of this size, so it needs no more memory.
        let micro = min(config.microBatch, globalBatch)
        let smoothing = config.resolvedLabelSmoothing(lossFn)
        if smoothing > 0 && lossFn != .crossEntropy {
            throw UserError("--label-smoothing \(smoothing) smooths the class labels of cross-entropy; --loss \(lossFn.rawValue) has none (use --label-smoothing auto or 0)")
        }
        guard let augmentation = Augmentation(parsing: config.augment) else { throw UserError("--augment '\(config.augment)': use \(Augmentation.syntax)") }
        try augmentation.check(shape: train.sampleShape, dataset: config.dataset)
        pass = LocalPass(model: model, loss: lossFn, sampler: sampler, train: train, outputs: outputs, micro: micro,
                         smoothing: smoothing, augmentation: augmentation)
        evalScratch = Buffer(count: 4)
        evalForward = try EvaluationForward(config.testAugment, sampleShape: train.sampleShape, loss: lossFn, outputs: outputs,
                                            micro: micro, dataset: config.dataset)
        model.reserve(batch: min(micro, max(globalBatch, 1)))
        exchangeContext = ExchangeContext(config: config, comm: comm, model: model, optimizer: optimizer,
                                          globalBatch: globalBatch, microBatch: micro, syncBeforeAllreduce: sync)
        exchange = ExchangeStrategies.allreduce(exchangeContext)
    }

    /// What the run does to the data and the loss besides the model, for the console: e.g.
    /// "inputs standardized per channel, label smoothing 0.1, augment crop:2,flip".
    public var recipeDescription: String {
        let n = normalization
        var inputs: String
        switch n.features {
        case .standard, .minmax:
            let how = n.features == .standard ? "standardized" : "min-max scaled"
            inputs = "inputs \(how) " + (n.groupSize > 1 ? "per channel" : "per feature")
        default:
            if case .bytes = data.train.features { inputs = "inputs byte/255" } else { inputs = "inputs as read" }
        }
        if n.standardizesTargets { inputs += ", targets standardized" }
        var parts = [inputs]
        if pass.smoothing > 0 { parts.append("label smoothing \(pass.smoothing)") }
        if !pass.augmentation.isIdentity { parts.append("augment \(pass.augmentation)") }
        if evalForward.augmentation == .flip { parts.append("test-time flip averaging") }
        return parts.joined(separator: ", ")
    }

    /// The statistics the data is normalized with.
    public var normalization: Normalization { data.train.normalization ?? Normalization.identity(for: data.train) }

    /// Replaces the normalization statistics (from a checkpoint or `--init` file) on train and test.
    ///
    /// - Throws: UserError naming `source` when they do not fit the data.
    public func useNormalization(_ n: Normalization, source: String) throws {
        try n.check(fits: data.train, source: source)
        try n.check(fits: data.test, source: source)
        try n.checkTargetCount(source: source)
        data.train = data.train.normalized(n)
        data.test = data.test.normalized(n)
        pass.train = data.train
    }

    @inline(__always) static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// Runs one optimizer step on global batch `stepInEpoch` of `epoch`.
    /// - Returns: the mean loss of the global batch (plus λ‖θ‖²).
    /// - Throws: UserError (`.diverged`) when the loss or the gradient is not finite.
    public func step() throws -> Double {
        sampler.setEpoch(epoch)
        let batch = sampler.batchRange(stepInEpoch)
        let stop = stopRequested()
        clock.start()
        let local = try exchange.backward(pass, batch: batch, scale: 1 / Float(batch.count), stop: stop, clock: &clock)
        let r = try exchange.reduce(local, l2: config.l2, clock: &clock)
        // Every strategy counts the samples it summed: a shortfall is a bug, not bad input.
        precondition(r.count == batch.count, "\(exchange.label): the reduction counted \(r.count) samples of a batch of \(batch.count)")
        // In the original units of regression targets (σ² × the standardized loss; 1 otherwise).
        var meanLoss = r.lossSum * (data.train.normalization?.targetLossScale ?? 1) / Double(batch.count)
        if config.l2 > 0 { meanLoss += config.l2 * r.sumSquares }
        // A non-finite gradient stops the run here too, before it reaches the weights.
        guard r.finite, meanLoss.isFinite else { throw divergence(meanLoss) }
        let lr = schedule.lr(step: globalStep, epoch: epoch)
        lastLR = lr
        optimizer.step(model.parameters.pointer, model.gradients.pointer, ranges: exchange.updateRanges, lr: lr)
        clock.charge(.compute)
        try exchange.didUpdate(clock: &clock)
        return finishStep(meanLoss: meanLoss, count: batch.count, stop: r.stop)
    }

    /// The error that ends a diverged run (a non-finite loss, or a non-finite gradient when the loss is finite).
    private func divergence(_ meanLoss: Double) -> UserError {
        UserError("non-finite \(meanLoss.isFinite ? "gradient" : "loss (\(meanLoss))") at step \(globalStep + 1) (epoch \(epoch + 1)); the run diverged: lower the learning rate (--lr, now \(schedule.lr(step: globalStep, epoch: epoch)))",
                  kind: .diverged)
    }

    /// Advances the position and the epoch's loss after an update.
    private func finishStep(meanLoss: Double, count: Int, stop: Bool) -> Double {
        globalStep += 1
        stepInEpoch += 1
        epochLossSum += meanLoss * Double(count)
        epochSamples += count
        if stop { stopped = true }
        return meanLoss
    }

    /// Loss and accuracy on `set`, sharded across ranks over a fixed grid of chunks and
    /// reduced in fixed point, so the result is the same for any number of ranks.
    public func evaluate(_ set: Dataset) throws -> (loss: Double, accuracy: Double?) {
        let chunks = (set.count + Trainer.evalChunk - 1) / Trainer.evalChunk
        let mine = Sampler.slice(0..<chunks, part: comm.rank, of: comm.size)
        let s = evalScratch.pointer
        s[0] = 0; s[1] = 0; s[2] = 0; s[3] = 0
        var correct = 0
        for c in mine {
            let lo = c * Trainer.evalChunk, n = min(Trainer.evalChunk, set.count - lo)
            var done = 0
            let micro = pass.micro
            var chunkLoss = 0.0
            while done < n {
                let m = min(micro, n - done)
                for i in 0..<m { pass.indices[i] = Int32(lo + done + i) }
                // Targets in their original units; predictions mapped back to them.
                set.gather(pass.indices.pointer, count: m, into: pass.x.pointer, labels: pass.labels.pointer, targets: pass.targets.pointer,
                           rawTargets: true)
                let z = evalForward(model, pass.x.pointer, batch: m)
                set.normalization?.denormalize(z, batch: m, outputs: outputs)
                chunkLoss += loss.evaluate(z, targets: Targets(labels: pass.labels.pointer, values: pass.targets.pointer),
                                           batch: m, outputs: outputs, dz: nil, correct: &correct)
                s[1] += Int64(correct)
                done += m
            }
            // A non-finite or huge loss (a diverging run) would trap in the Int64 conversion: count it in s[3].
            let scaled = (chunkLoss * Trainer.evalScale).rounded()
            if abs(scaled) < 0x1p62 / Double(max(chunks, 1)) { s[0] &+= Int64(scaled) } else { s[3] += 1 }
            s[2] += Int64(n)
        }
        try comm.allReduceSum(evalScratch.buffer)
        let count = Double(max(s[2], 1))
        var l = Double(s[0]) / Trainer.evalScale / count
        if s[3] > 0 { l = .nan }
        if config.l2 > 0 {
            var sq = 0.0
            let w = model.parameters.pointer
            for i in 0..<parameterCount { sq += Double(w[i]) * Double(w[i]) }
            l += config.l2 * sq
        }
        let acc: Double? = set.task == .regression(outputs: outputs) || !loss.usesLabels ? nil : Double(s[1]) / count
        return (l, acc)
    }

    /// Trains until the configured epochs or steps are done, or a stop is requested.
    ///
    /// - Returns: the final metrics (rank 0 also reports them to the reporter).
    @discardableResult
    public func run() throws -> DoneMetrics {
        let start = Trainer.now()
        var lastTrain: Double? = nil
        var last: (loss: Double, accuracy: Double?)? = nil
        let totalSteps = config.steps ?? Int.max
        var processed = globalStep * globalBatch
        let processedBefore = processed   // a resumed run's throughput counts only its own samples
        var status = "completed"
        try attachExchange()
        outer: while epoch < config.epochs {
            let epochStart = Trainer.now()
            clock.reset()
            let stepsBefore = globalStep, samplesBefore = epochSamples
            while stepInEpoch < sampler.batchesPerEpoch {
                if globalStep >= totalSteps { status = "steps"; break }
                comm.note(step: globalStep + 1)
                let l: Double
                do { l = try step() } catch let e as UserError where e.kind == .diverged {
                    // Every rank saw the same reduced values and stops here, so the collective
                    // detach is safe; an experiment that catches this goes on with its next arm.
                    try detachExchange()
                    throw e
                }
                processed += sampler.batchRange(stepInEpoch - 1).count
                if let r = reporter {
                    let dt = Trainer.now() - epochStart
                    r.step(epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: sampler.batchesPerEpoch, loss: l,
                           samplesPerSecond: dt > 0 ? Double(epochSamples - samplesBefore) / dt : 0)
                }
                if stopped { status = "stopped"; break }
                if stepInEpoch < sampler.batchesPerEpoch { try afterStep?(self, false) }
            }
            let epochEnded = stepInEpoch >= sampler.batchesPerEpoch
            if !epochEnded {
                // Stopped mid-epoch (signal or --steps): report what was done, then leave.
                if globalStep > stepsBefore { lastTrain = epochLossSum / Double(max(epochSamples, 1)) }
                try afterStep?(self, false)
                break outer
            }
            let seconds = Trainer.now() - epochStart
            let trainLoss = epochLossSum / Double(max(epochSamples, 1))
            lastTrain = trainLoss
            let evalNow = config.evalEvery > 0 && ((epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs)
            let testResult: (loss: Double, accuracy: Double?)? = evalNow ? try evaluate(data.test) : nil
            if let t = testResult { last = t }
            // Rank 0 decides on the schedule from the reduced metrics and broadcasts its decision.
            if schedule.config.kind == .plateau {
                let monitored = schedule.config.monitor == "test" ? (testResult?.loss ?? trainLoss) : trainLoss
                if comm.rank == 0 {
                    if schedule.observe(loss: monitored) { reporter?.message("epoch \(epoch + 1): \(schedule.config.monitor) loss plateaued, lr → \(schedule.plateauLR)") }
                }
                try broadcastScheduleState()
            }
            let m = EpochMetrics(epoch: epoch + 1, step: globalStep, train_loss: trainLoss, test_loss: testResult?.loss,
                                 test_accuracy: testResult?.accuracy ?? nil, lr: lastLR,
                                 samples_per_second: Double(epochSamples - samplesBefore) / max(seconds, 1e-9),
                                 epoch_seconds: seconds, world_size: comm.size,
                                 compute_seconds: clock.compute, comm_seconds: clock.comm, comm_wait_seconds: clock.commWait,
                                 examples_processed: processed)
            reporter?.epoch(m)
            epoch += 1
            stepInEpoch = 0
            epochLossSum = 0
            epochSamples = 0
            try afterStep?(self, true)
            if stopped { status = "stopped"; break }
            if globalStep >= totalSteps { status = "steps"; break }
        }
        if last == nil || status != "completed" { last = try evaluate(data.test) }
        let exchangeLabel = exchange.label
        try detachExchange()
        let seconds = Trainer.now() - start
        let done = DoneMetrics(epochs: epoch, steps: globalStep, train_loss: lastTrain, test_loss: last?.loss,
                               test_accuracy: last?.accuracy ?? nil, seconds: seconds,
                               samples_per_second: Double(processed - processedBefore) / max(seconds, 1e-9),
                               world_size: comm.size, reduction: config.reduction.rawValue, exchange: exchangeLabel,
                               parameters: parameterCount, parameters_sha256: model.parametersSHA256, status: status)
        reporter?.done(done)
        return done
    }

    /// Chooses and sets up this run's exchange strategy (collective).
    func attachExchange() throws {
        exchange = try ExchangeStrategies.make(exchangeContext)
        if comm.rank == 0, comm.size > 1 {
            let detail = (exchange as? AllgatherFactorExchange)?.description
            reporter?.message("gradient exchange: \(exchange.label)\(detail.map { ": " + $0 } ?? "")")
        }
    }

    /// Gives back what the strategy took and returns to the plain allreduce (collective).
    func detachExchange() throws {
        let e = exchange
        exchange = ExchangeStrategies.allreduce(exchangeContext)
        try e.detach()
    }

    /// Makes every rank's schedule state equal to rank 0's.
    func broadcastScheduleState() throws {
        var s = [schedule.plateauLR, schedule.best, Double(schedule.badEpochs), Double(schedule.cooldownLeft)]
        try s.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        schedule.plateauLR = s[0]; schedule.best = s[1]; schedule.badEpochs = Int(s[2]); schedule.cooldownLeft = Int(s[3])
    }
}
