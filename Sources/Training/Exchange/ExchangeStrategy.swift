// ExchangeStrategy: how one training step combines the ranks' gradients. One strategy per
// file; `ExchangeStrategies.make` picks the first that applies (as Horovod's OperationManager
// runs the first enabled op). The trainer's step is then the same for all of them:
//
//   local = exchange.backward(pass, batch)   my part of the global batch → what I send
//   r     = exchange.reduce(local)           sums across ranks; 2λθ added; finiteness
//   guard r.finite                           one divergence check
//   optimizer.step(ranges: exchange.updateRanges)
//   exchange.didUpdate()                     e.g. the barrier after a shared update
import NNCore
import NeuralNet

/// What a rank contributes to a step besides its gradient: its loss sum and sample count.
struct LocalTail {
    /// Σ over this rank's samples of the per-sample loss (not divided by anything).
    var lossSum: Double
    /// This rank's samples of the global batch.
    var count: Int
    /// This rank asks every rank to stop after this step.
    var stop: Bool
}

/// The global results of a step's exchange, the same on every rank.
struct Reduced {
    /// Σ over the global batch of the per-sample loss; NaN when it could not be summed.
    var lossSum: Double
    /// Samples in the global batch, as the ranks counted them.
    var count: Int
    /// Some rank asked to stop.
    var stop: Bool
    /// Every reduced gradient element that any rank will apply is finite.
    var finite: Bool
    /// Σθ² for the loss's λ‖θ‖² term (0 when λ = 0), summed as the strategy defines.
    var sumSquares: Double
}

/// One way of combining gradients across ranks.
///
/// After `reduce`, `model.gradients[range]` holds the global mean gradient plus 2λθ for every
/// range of `updateRanges`, and the optimizer updates exactly those ranges on this rank.
protocol ExchangeStrategy: AnyObject {
    /// A short name for metrics: "allreduce", "shared 1x2", "factors 1x2", "factors 2x1 (allgather)".
    var label: String { get }
    /// The parameter ranges this rank's optimizer updates.
    var updateRanges: [Range<Int>] { get }
    /// Computes this rank's part of global batch `batch` (gradients scaled by `scale` = 1 ÷
    /// batch size) into whatever this strategy sends.
    func backward(_ pass: LocalPass, batch: Range<Int>, scale: Float, stop: Bool, clock: inout StepClock) throws -> LocalTail
    /// Combines every rank's contribution; adds 2λθ (λ = `l2`) and checks finiteness over
    /// `updateRanges`.
    func reduce(_ local: LocalTail, l2: Double, clock: inout StepClock) throws -> Reduced
    /// After the optimizer step (collective where the strategy needs it).
    func didUpdate(clock: inout StepClock) throws
    /// Gives back what the strategy took (shared memory, rebound buffers); collective.
    func detach() throws
}

extension ExchangeStrategy {
    func didUpdate(clock: inout StepClock) throws {}
    func detach() throws {}
}

extension Reduced {
    /// The result of a strategy after which every rank holds the whole reduced gradient in
    /// `model.gradients[0..<P]` and updates all of θ: adds 2λθ over all of it (Σθ² in index
    /// order) and checks every element for finiteness.
    static func wholeModel(_ model: Sequential<Float>, lossSum: Double, count: Int, stop: Bool, l2: Double) -> Reduced {
        let g = model.gradients.pointer, P = model.parameterCount
        let sq = l2 > 0 ? addL2Gradient(g, model.parameters.pointer, l2: l2, 0..<P) : 0
        return Reduced(lossSum: lossSum, count: count, stop: stop, finite: allFinite(g, count: P), sumSquares: Double(sq))
    }
}

/// J(θ) = λ‖θ‖² + loss: adds the gradient 2λθ to g over `range` and returns Σθ² over it,
/// summed in index order (so every rank that covers the same range gets the same bits).
@inline(__always) func addL2Gradient(_ g: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, l2: Double, _ range: Range<Int>) -> Float {
    let two = 2 * Float(l2)
    var sq: Float = 0
    for i in range { sq += w[i] * w[i]; g[i] += two * w[i] }
    return sq
}
