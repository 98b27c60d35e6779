// StepLogging: finer-than-epoch metrics. A hook chained onto `Trainer.afterStep` emits a
// `{"event":"step",…}` line every N optimizer steps (`--log-every-steps N`), optionally with
// the loss on the whole training set and on the test set. Kept out of Trainer.swift: the
// trainer only offers its `afterStep` hook, and this file composes with whatever else
// (e.g. checkpoints) is already hooked there.
import Foundation
import NNCore
import NNData

/// One `{"event":"step", …}` line: the state after `step` optimizer steps.
public struct StepMetrics: Codable, Sendable, Equatable {
    public var event = "step"
    /// Optimizer steps done (parameter updates).
    public var step: Int
    /// Epochs done, fractional: examples_processed ÷ training-set size.
    public var epoch: Double
    /// Gradient evaluations: the sum of the global batch sizes of the steps done.
    public var examples_processed: Int
    /// Parameter updates; equal to `step` for gradient descent (the perceptron rule counts mistakes).
    public var updates: Int
    /// Training time since the run began, without the time spent on these metrics.
    public var wall_seconds: Double
    /// Loss on the training set (or a probe of it) if evaluated, an exact objective if the
    /// experiment has one, else the mean minibatch loss since the last line.
    public var train_loss: Double?
    /// Mean minibatch loss of the steps since the last line (nil at step 0).
    public var batch_loss: Double?
    public var test_loss: Double?
    public var test_accuracy: Double?
    /// The learning rate of the last step (of the next one, at step 0).
    public var lr: Double
    public var world_size: Int

    public init(step: Int, epoch: Double, examples_processed: Int, updates: Int, wall_seconds: Double,
                train_loss: Double?, batch_loss: Double?, test_loss: Double?, test_accuracy: Double?,
                lr: Double, world_size: Int) {
        self.step = step; self.epoch = epoch; self.examples_processed = examples_processed
        self.updates = updates; self.wall_seconds = wall_seconds; self.train_loss = train_loss
        self.batch_loss = batch_loss; self.test_loss = test_loss; self.test_accuracy = test_accuracy
        self.lr = lr; self.world_size = world_size
    }
}

/// A reporter that also takes step lines (ConsoleReporter writes them to the metrics file).
public protocol StepMetricsReporter: AnyObject {
    func stepMetrics(_ m: StepMetrics)
}

extension ConsoleReporter: StepMetricsReporter {
    public func stepMetrics(_ m: StepMetrics) { write(jsonLine(m)) }
}

/// What a step line measures and when.
public struct StepLogPolicy {
    /// Log after every `every` steps (0: use `points`).
    public var every: Int
    /// With `every` = 0: about this many lines over the whole run (every = total steps ÷ points).
    public var points = 0
    /// Also log after the first 1, 2, 4, 8, … steps (below `every`), for log-scaled axes.
    public var powersOfTwo = false
    /// Evaluate the loss on the whole training set (a collective: all ranks take part).
    public var evaluateTrain = false
    /// Evaluate the train loss on only the first this many training samples (cheaper; nil: all).
    public var trainEvalSubset: Int? = nil
    /// Evaluate loss and accuracy on the test set (a collective).
    public var evaluateTest = false
    /// A rank-local objective of the current parameters that replaces the train loss
    /// (e.g. J(θ) in Double for the linear model). Called on every rank.
    public var objective: ((Trainer) -> Double)? = nil
    public init(every: Int = 0, points: Int = 0, powersOfTwo: Bool = false, evaluateTrain: Bool = false, evaluateTest: Bool = false,
                objective: ((Trainer) -> Double)? = nil) {
        self.every = every; self.points = points; self.powersOfTwo = powersOfTwo; self.evaluateTrain = evaluateTrain
        self.evaluateTest = evaluateTest; self.objective = objective
    }

    func wants(_ step: Int) -> Bool {
        if step == 0 { return true }
        if every > 0 && step % every == 0 { return true }
        return powersOfTwo && step & (step - 1) == 0 && (every == 0 || step < every)
    }
}

/// Emits step lines for one trainer; install it before `run()`.
public final class StepLogger {
    public private(set) var policy: StepLogPolicy
    unowned let trainer: Trainer
    /// Receives every line (rank 0 only; nil elsewhere), besides the trainer's reporter.
    public var sink: ((StepMetrics) -> Void)?
    var start = Trainer.now()
    var metricsSeconds = 0.0
    var lastLogged = -1
    /// Rank 0's per-step losses, taken from the reporter calls (nil on other ranks).
    var tap: LossTap?
    var trainProbe: Dataset?
    /// The step the run ends after (always logged).
    let finalStep: Int

    /// Chains the logger onto `trainer.afterStep` (keeping any hook already there).
    public init(trainer: Trainer, policy: StepLogPolicy) {
        self.trainer = trainer
        self.policy = policy
        let perEpoch = trainer.sampler.batchesPerEpoch
        finalStep = min(trainer.config.steps ?? Int.max, perEpoch * trainer.config.epochs)
        if policy.every <= 0 && policy.points > 0 { self.policy.every = max(1, finalStep / policy.points) }
        if trainer.comm.rank == 0 {
            let tap = LossTap(trainer: trainer, inner: trainer.reporter)
            trainer.reporter = tap
            self.tap = tap
        }
        let previous = trainer.afterStep
        trainer.afterStep = { [unowned self] t, epochEnded in
            try previous?(t, epochEnded)
            try self.afterStep(t)
        }
    }

    /// Samples in one epoch: the sum of the sampler's batch sizes.
    var samplesPerEpoch: Int { trainer.data.train.count }

    var examplesProcessed: Int { trainer.epoch * samplesPerEpoch + trainer.epochSamples }

    /// Logs step 0 (before training) and starts the clock; call just before `run()`.
    public func begin() throws {
        start = Trainer.now()
        metricsSeconds = 0
        try log(lr: trainer.schedule.lr(step: 0, epoch: 0))
    }

    func afterStep(_ t: Trainer) throws {
        guard t.globalStep != lastLogged, policy.wants(t.globalStep) || t.globalStep == finalStep else { return }
        try log(lr: t.lastLR)
    }

    func log(lr: Double) throws {
        let t0 = Trainer.now()
        let t = trainer
        lastLogged = t.globalStep
        var train: Double? = tap.flatMap { $0.samples > 0 ? $0.lossSum / Double($0.samples) : nil }
        let batch = train
        if let f = policy.objective { train = f(t) }
        else if policy.evaluateTrain {
            if trainProbe == nil {
                trainProbe = policy.trainEvalSubset.map { t.data.train.prefix(min($0, t.data.train.count)) } ?? t.data.train
            }
            train = try t.evaluate(trainProbe!).loss
        }
        var test: (loss: Double, accuracy: Double?)? = nil
        if policy.evaluateTest { test = try t.evaluate(t.data.test) }
        tap?.lossSum = 0; tap?.samples = 0
        let wall = t0 - start - metricsSeconds
        let m = StepMetrics(step: t.globalStep, epoch: Double(examplesProcessed) / Double(max(samplesPerEpoch, 1)),
                            examples_processed: examplesProcessed, updates: t.globalStep, wall_seconds: wall,
                            train_loss: train, batch_loss: batch, test_loss: test?.loss, test_accuracy: test?.accuracy ?? nil,
                            lr: lr, world_size: t.comm.size)
        if t.comm.rank == 0 {
            (t.reporter as? StepMetricsReporter)?.stepMetrics(m)
            sink?(m)
        }
        metricsSeconds += Trainer.now() - t0
    }
}

/// Sits between rank 0's trainer and its reporter: forwards everything, and sums the loss of
/// every step (× its batch size) for the next step line's `batch_loss`.
final class LossTap: TrainingReporter, StepMetricsReporter {
    unowned let trainer: Trainer
    let inner: TrainingReporter?
    var lossSum = 0.0
    var samples = 0

    init(trainer: Trainer, inner: TrainingReporter?) { self.trainer = trainer; self.inner = inner }

    func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double) {
        let n = trainer.sampler.batchRange(stepInEpoch - 1).count
        lossSum += loss * Double(n)
        samples += n
        inner?.step(epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: stepsPerEpoch, loss: loss, samplesPerSecond: samplesPerSecond)
    }
    func epoch(_ m: EpochMetrics) { inner?.epoch(m) }
    func done(_ m: DoneMetrics) { inner?.done(m) }
    func message(_ text: String) { inner?.message(text) }
    func stepMetrics(_ m: StepMetrics) { (inner as? StepMetricsReporter)?.stepMetrics(m) }
}
