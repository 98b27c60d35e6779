// Optimizers: one loop over the flat parameter buffer each. PyTorch's conventions, so
// that a step here and a step of torch.optim with the same hyperparameters agree.
import NNCore

/// The update rules nntrain offers.
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
    /// Gradient descent, optionally with momentum (PyTorch: v = μv + g; w −= ηv) or Nesterov.
    case sgd
    /// Adam (Kingma & Ba 2015) with bias correction, as torch.optim.Adam.
    case adam
}

/// Hyperparameters of an optimizer, validated before training starts.
public struct OptimizerConfig: Sendable, Equatable, Codable {
    public var kind: OptimizerKind = .sgd
    public var momentum: Double = 0
    public var nesterov: Bool = false
    /// PyTorch-style weight decay: g += wd · w before the update.
    public var weightDecay: Double = 0
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public init() {}

    /// Throws a UserError naming the out-of-range value.
    public func validate() throws {
        guard momentum >= 0, momentum < 1 else { throw UserError("--momentum must be in [0, 1), got \(momentum)") }
        guard weightDecay >= 0, weightDecay.isFinite else { throw UserError("--weight-decay must be ≥ 0, got \(weightDecay)") }
        if nesterov && momentum == 0 { throw UserError("--nesterov needs --momentum > 0") }
        guard beta1 >= 0, beta1 < 1, beta2 >= 0, beta2 < 1 else { throw UserError("Adam betas must be in [0, 1), got \(beta1), \(beta2)") }
        guard epsilon > 0 else { throw UserError("Adam epsilon must be > 0, got \(epsilon)") }
        if kind == .adam && (momentum != 0 || nesterov) {
            throw UserError("--momentum/--nesterov apply to sgd; Adam uses its betas (0.9, 0.999)")
        }
    }

    /// How many state buffers of parameter size the optimizer keeps.
    public var stateBuffers: Int {
        switch kind {
        case .sgd: momentum > 0 ? 1 : 0
        case .adam: 2
        }
    }
}

/// An optimizer over one flat parameter buffer; its state is one flat buffer per moment.
public final class Optimizer<Scalar: NNScalar> {
    public let config: OptimizerConfig
    /// Optimizer state: momentum buffer for SGD; first and second moments for Adam.
    public private(set) var state: [Buffer<Scalar>]
    /// Number of updates taken (Adam's t).
    public var stepCount: Int = 0

    public init(_ config: OptimizerConfig, parameterCount: Int) {
        self.config = config
        state = (0..<config.stateBuffers).map { _ in Buffer(count: parameterCount) }
    }

    /// Moves the state onto other storage (one buffer per state tensor, same sizes), copying
    /// the current values when `copy` is true.
    package func rebind(state newState: [Buffer<Scalar>], copy: Bool = true) {
        precondition(newState.count == state.count && zip(newState, state).allSatisfy { $0.count == $1.count },
                     "rebind: optimizer state of the wrong shape")
        if copy { for (n, o) in zip(newState, state) where n.pointer != o.pointer { n.pointer.update(from: o.pointer, count: o.count) } }
        state = newState
    }

    /// Names of the state tensors, for checkpoints.
    public var stateNames: [String] {
        switch config.kind {
        case .sgd: config.momentum > 0 ? ["momentum_buffer"] : []
        case .adam: ["exp_avg", "exp_avg_sq"]
        }
    }

    /// Applies one update: w ← w − η · direction(g).
    ///
    /// - Parameters:
    ///   - w: parameters, n values, updated in place.
    ///   - g: the averaged gradient, n values (read only... except that weight decay is folded in a register).
    public func step(_ w: UnsafeMutablePointer<Scalar>, _ g: UnsafePointer<Scalar>, count n: Int, lr: Double) {
        stepCount += 1
        update(w, g, range: 0..<n, lr: lr)
    }

    /// One update of the elements in `ranges` (disjoint) only: w[i] and the state at i, from
    /// g[i]. Ranks that share one parameter buffer each update their own ranges; the step count
    /// advances once per call, so every rank calls it once per step.
    public func step(_ w0: UnsafeMutablePointer<Scalar>, _ g0: UnsafePointer<Scalar>, ranges: [Range<Int>], lr: Double) {
        stepCount += 1
        for r in ranges { update(w0, g0, range: r, lr: lr) }
    }

    @_specialize(where Scalar == Float)
    private func update(_ w0: UnsafeMutablePointer<Scalar>, _ g0: UnsafePointer<Scalar>, range: Range<Int>, lr: Double) {
        let n = range.count, lo = range.lowerBound
        let w = w0 + lo, g = g0 + lo
        let eta = Scalar(lr)
        let wd = Scalar(config.weightDecay)
        switch config.kind {
        case .sgd:
            if config.momentum == 0 {
                if wd == 0 { for i in 0..<n { w[i] -= eta * g[i] } }
                else { for i in 0..<n { w[i] -= eta * (g[i] + wd * w[i]) } }
            } else {
                let mu = Scalar(config.momentum)
                let v = state[0].pointer + lo
                if config.nesterov {
                    for i in 0..<n {
                        let gi = g[i] + wd * w[i]
                        let vi = mu * v[i] + gi
                        v[i] = vi
                        w[i] -= eta * (gi + mu * vi)
                    }
                } else {
                    for i in 0..<n {
                        let vi = mu * v[i] + (g[i] + wd * w[i])
                        v[i] = vi
                        w[i] -= eta * vi
                    }
                }
            }
        case .adam:
            let b1 = Scalar(config.beta1), b2 = Scalar(config.beta2)
            let t = Double(stepCount)
            let bc1 = 1 - pow(config.beta1, t), bc2 = 1 - pow(config.beta2, t)
            let stepSize = Scalar(lr / bc1)
            let sqrtBc2 = Scalar(bc2.squareRoot())
            let eps = Scalar(config.epsilon)
            let m = state[0].pointer + lo, v = state[1].pointer + lo
            for i in 0..<n {
                let gi = g[i] + wd * w[i]
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi; v[i] = vi
                w[i] -= stepSize * mi / (vi.squareRoot() / sqrtBc2 + eps)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
