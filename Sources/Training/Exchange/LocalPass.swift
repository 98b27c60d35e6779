// LocalPass: one rank's forward and backward over sampler positions — the work of a step
// that crosses no rank. The exchange strategies call it for their part of the global batch.
import NNCore
import NNData
import NeuralNet

/// The local forward/backward of one rank: gathers samples, runs the model and the loss, and
/// backpropagates into `model.gradients`.
///
/// Buffers are sized once for one micro-batch: x: [micro, inputSize], labels/indices: [micro],
/// targets: [micro, outputs].
final class LocalPass {
    let model: Sequential<Float>
    let loss: LossFunction
    let sampler: Sampler
    var train: Dataset
    let outputs: Int
    let inputSize: Int
    /// Most samples pushed through the network at once.
    let micro: Int
    let x: Buffer<Float>
    let labels: Buffer<Int32>
    let targets: Buffer<Float>
    let indices: Buffer<Int32>

    init(model: Sequential<Float>, loss: LossFunction, sampler: Sampler, train: Dataset, outputs: Int, micro: Int) {
        self.model = model; self.loss = loss; self.sampler = sampler; self.train = train; self.outputs = outputs
        self.micro = micro
        inputSize = model.inputSize
        x = Buffer(count: micro * inputSize)
        labels = Buffer(count: micro)
        targets = Buffer(count: micro * max(outputs, 1))
        indices = Buffer(count: micro)
    }

    var parameterCount: Int { model.parameterCount }

    /// Computes scale · Σ_{samples at sampler positions `positions`} ∇θ loss into
    /// model.gradients[0..<P] (overwriting it) and returns the loss sum. Empty: zero gradient.
    /// Larger ranges than one micro-batch accumulate micro-batch by micro-batch.
    func gradient(positions: Range<Int>, scale: Float) -> Double {
        let P = parameterCount
        if positions.isEmpty {
            model.gradients.pointer.update(repeating: 0, count: P)
            return 0
        }
        var lossSum = 0.0
        var first = true
        var lo = positions.lowerBound
        while lo < positions.upperBound {
            let n = min(micro, positions.upperBound - lo)
            lossSum += forwardAndLoss(lo..<lo + n, into: x.pointer, scale: scale)
            // Every micro-batch accumulates into a zeroed buffer: memset is ~2× faster than
            // OpenBLAS 0.3.21's beta=0 pass over C (sgemm_beta), and the bits are the same.
            if first { model.gradients.pointer.update(repeating: 0, count: P) }
            model.backward(x.pointer, batch: n, accumulate: true)
            first = false
            lo += n
        }
        return lossSum
    }

    /// Gathers the samples at sampler positions `positions` (at most one micro-batch) into
    /// `into` ([n, inputSize]), runs the model on them and leaves scale · dL/dz in
    /// `model.outputGradient`; returns the loss sum.
    func forwardAndLoss(_ positions: Range<Int>, into xp: UnsafeMutablePointer<Float>, scale: Float) -> Double {
        let n = positions.count
        indices.pointer.update(from: sampler.order.pointer + positions.lowerBound, count: n)
        train.gather(indices.pointer, count: n, into: xp, labels: labels.pointer, targets: targets.pointer)
        let z = model.forward(xp, batch: n)
        return loss.evaluate(z, targets: Targets(labels: labels.pointer, values: targets.pointer),
                             batch: n, outputs: outputs, dz: model.outputGradient, scale: scale)
    }
}
