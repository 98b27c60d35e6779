// ReporterTee: rank 0's reporters as one. The trainer, the checkpointer and the step logger
// each hold one reporter; the tee hands every call to the console (and its metrics JSONL)
// and to the other sinks, such as the TensorBoard writer.

/// Forwards every report, in order, to each of `reporters`; step lines to those that take them.
public final class ReporterTee: TrainingReporter, StepMetricsReporter {
    public let reporters: [TrainingReporter]
    public init(_ reporters: [TrainingReporter]) { self.reporters = reporters }

    public func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double) {
        for r in reporters { r.step(epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: stepsPerEpoch, loss: loss, samplesPerSecond: samplesPerSecond) }
    }
    public func epoch(_ m: EpochMetrics) { for r in reporters { r.epoch(m) } }
    public func done(_ m: DoneMetrics) { for r in reporters { r.done(m) } }
    public func message(_ text: String) { for r in reporters { r.message(text) } }
    public func stepMetrics(_ m: StepMetrics) { for r in reporters { (r as? StepMetricsReporter)?.stepMetrics(m) } }
}
