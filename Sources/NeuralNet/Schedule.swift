// Learning-rate schedules as small values: lr(epoch, step) is a pure function of the
// schedule's configuration and, for reduce-on-plateau, of its state (which a checkpoint saves).
import Foundation
import NNCore

/// The schedule families nntrain offers.
public enum ScheduleKind: String, Sendable, CaseIterable, Codable {
    case constant
    /// lr · gamma^(number of milestones ≤ epoch).
    case step
    /// lr · gamma^epoch.
    case exponential
    /// Reduce on plateau of a monitored loss (PyTorch's ReduceLROnPlateau, mode min, relative threshold).
    case plateau
    /// Cosine annealing from lr to minLR over the run's epochs (per step).
    case cosine
}

/// A learning-rate schedule's configuration.
public struct ScheduleConfig: Sendable, Equatable, Codable {
    public var kind: ScheduleKind = .constant
    /// Base learning rate (after the linear scaling rule, if on).
    public var baseLR: Double = 0.1
    public var milestones: [Int] = []
    public var gamma: Double = 0.1
    public var patience: Int = 2
    public var factor: Double = 0.1
    public var threshold: Double = 1e-4
    public var cooldown: Int = 0
    public var minLR: Double = 0
    /// Which loss reduce-on-plateau watches: "train" or "test".
    public var monitor: String = "train"
    /// Linear warmup over this many steps from 0 (composes with every kind).
    public var warmupSteps: Int = 0
    /// Total steps of the run (cosine needs it).
    public var totalSteps: Int = 1
    public var stepsPerEpoch: Int = 1
    public init() {}

    public func validate() throws {
        guard baseLR > 0, baseLR.isFinite else { throw UserError("--lr must be a positive number, got \(baseLR)") }
        guard gamma > 0, gamma.isFinite else { throw UserError("--gamma must be > 0, got \(gamma)") }
        guard factor > 0, factor < 1 else { throw UserError("--plateau-factor must be in (0, 1), got \(factor)") }
        guard patience >= 0 else { throw UserError("--plateau-patience must be ≥ 0, got \(patience)") }
        guard cooldown >= 0 else { throw UserError("--plateau-cooldown must be ≥ 0, got \(cooldown)") }
        guard threshold >= 0 else { throw UserError("--plateau-threshold must be ≥ 0, got \(threshold)") }
        guard minLR >= 0 else { throw UserError("--min-lr must be ≥ 0, got \(minLR)") }
        guard warmupSteps >= 0 else { throw UserError("--warmup-steps must be ≥ 0, got \(warmupSteps)") }
        guard monitor == "train" || monitor == "test" else { throw UserError("--plateau-monitor must be train or test, got '\(monitor)'") }
        if milestones.contains(where: { $0 <= 0 }) { throw UserError("--milestones must be positive epochs, got \(milestones)") }
    }
}

/// A learning-rate schedule with the state reduce-on-plateau needs.
public struct Schedule: Sendable, Equatable, Codable {
    public let config: ScheduleConfig
    /// The plateau schedule's current lr (before warmup); unused by the others.
    public var plateauLR: Double
    public var best: Double = .infinity
    public var badEpochs: Int = 0
    public var cooldownLeft: Int = 0

    public init(_ config: ScheduleConfig) {
        self.config = config
        plateauLR = config.baseLR
    }

    /// The learning rate for global step `step` (0-based) in epoch `epoch` (0-based).
    public func lr(step: Int, epoch: Int) -> Double {
        let c = config
        var lr: Double
        switch c.kind {
        case .constant: lr = c.baseLR
        case .step: lr = c.baseLR * pow(c.gamma, Double(c.milestones.filter { $0 <= epoch }.count))
        case .exponential: lr = c.baseLR * pow(c.gamma, Double(epoch))
        case .plateau: lr = plateauLR
        case .cosine:
            let span = max(1, c.totalSteps - c.warmupSteps)
            let t = min(1, Double(max(0, step - c.warmupSteps)) / Double(span))
            lr = c.minLR + (c.baseLR - c.minLR) * (1 + cos(Double.pi * t)) / 2
        }
        if c.warmupSteps > 0 && step < c.warmupSteps {
            lr *= Double(step + 1) / Double(c.warmupSteps)
        }
        return lr
    }

    /// Feeds the monitored loss at the end of an epoch (reduce-on-plateau only).
    ///
    /// A loss counts as better when `loss < best · (1 − threshold)`. After `patience` epochs
    /// without improvement the lr is multiplied by `factor` (not below `minLR`), then
    /// `cooldown` epochs pass before bad epochs are counted again.
    /// - Returns: true if the lr was reduced.
    @discardableResult
    public mutating func observe(loss: Double) -> Bool {
        guard config.kind == .plateau else { return false }
        if loss < best * (1 - config.threshold) { best = loss; badEpochs = 0 }
        else { badEpochs += 1 }
        if cooldownLeft > 0 { cooldownLeft -= 1; badEpochs = 0 }
        if badEpochs > config.patience {
            let new = max(plateauLR * config.factor, config.minLR)
            badEpochs = 0
            cooldownLeft = config.cooldown
            if plateauLR - new > 1e-12 * plateauLR { plateauLR = new; return true }
        }
        return false
    }
}
