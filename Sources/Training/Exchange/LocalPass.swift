// LocalPass: one rank's forward and backward over sampler positions — the work of a step
// that crosses no rank. The exchange strategies call it for their part of the global batch.
import NNCore
import NNData
import NeuralNet

/// What an exchange that sends during backward is told by `LocalPass.gradient`.
struct BackwardHooks {
    /// The loss sum of all the step's positions, known before the last backward starts.
    var lossKnown: (Double) -> Void
    /// Layer k's gradients are final (called in the last micro-batch, top layer first).
    var layerDone: (Int) -> Void
}

/// The local forward/backward of one rank: gathers samples, runs the model and the loss, and
/// backpropagates into `model.gradients`.
///
/// Buffers are sized once for one micro-batch: x: [micro, inputSize], labels/indices: [micro],
/// targets: [micro, outputs].
final class LocalPass {
    let model: Sequential<Float>
    let loss: LossFunction
    let sampler: Sampler
    /// The training set; its normalization gives augmentation's padding values.
    var train: Dataset { didSet { padding = train.valuesOfZero } }
    /// Label smoothing ε of cross-entropy (0: none).
    let smoothing: Float
    /// Random crops and flips of the gathered training images.
    let augmentation: Augmentation
    /// Per feature, the value a raw 0 has after normalization: what a crop shifts in.
    private var padding: [Float]
    /// One image, for augmentation.
    private let scratch: Buffer<Float>
    let outputs: Int
    let inputSize: Int
    /// Most samples pushed through the network at once.
    let micro: Int
    let x: Buffer<Float>
    let labels: Buffer<Int32>
    let targets: Buffer<Float>
    let indices: Buffer<Int32>

    init(model: Sequential<Float>, loss: LossFunction, sampler: Sampler, train: Dataset, outputs: Int, micro: Int,
         smoothing: Double = 0, augmentation: Augmentation = Augmentation()) {
        self.model = model; self.loss = loss; self.sampler = sampler; self.train = train; self.outputs = outputs
        self.micro = micro
        self.smoothing = Float(smoothing)
        self.augmentation = augmentation
        padding = train.valuesOfZero
        scratch = Buffer(count: augmentation.isIdentity ? 0 : train.sampleSize)
        inputSize = model.inputSize
        x = Buffer(count: micro * inputSize)
        labels = Buffer(count: micro)
        targets = Buffer(count: micro * max(outputs, 1))
        indices = Buffer(count: micro)
    }

    var parameterCount: Int { model.parameterCount }
    /// Whether the model has layers that draw random numbers in training (dropout).
    private lazy var noisy = model.isNoisy

    /// Computes scale · Σ_{samples at sampler positions `positions`} ∇θ loss into
    /// model.gradients[0..<P] (overwriting it) and returns the loss sum. Empty: zero gradient.
    /// Larger ranges than one micro-batch accumulate micro-batch by micro-batch.
    ///
    /// `hooks` see the last micro-batch (an exchange that overlaps sending with backward):
    /// `lossKnown` gets the loss sum over all positions before the last backward starts, and
    /// `layerDone(k)` runs once layer k's gradients are final. With no positions, `lossKnown(0)`
    /// runs after the gradient is zeroed and no layer is reported.
    func gradient(positions: Range<Int>, scale: Float, hooks: BackwardHooks? = nil) -> Double {
        let P = parameterCount
        if positions.isEmpty {
            model.gradients.pointer.update(repeating: 0, count: P)
            hooks?.lossKnown(0)
            return 0
        }
        var lossSum = 0.0
        var first = true
        var lo = positions.lowerBound
        while lo < positions.upperBound {
            let n = min(micro, positions.upperBound - lo)
            let last = lo + n == positions.upperBound
            lossSum += forwardAndLoss(lo..<lo + n, into: x.pointer, scale: scale)
            // Every micro-batch accumulates into a zeroed buffer: memset is ~2× faster than
            // OpenBLAS 0.3.21's beta=0 pass over C (sgemm_beta), and the bits are the same.
            if first { model.gradients.pointer.update(repeating: 0, count: P) }
            if last { hooks?.lossKnown(lossSum) }
            model.backward(x.pointer, batch: n, accumulate: true, layerDone: last ? hooks?.layerDone : nil)
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
        gather(positions, into: xp, labels: labels.pointer, targets: targets.pointer, indices: indices.pointer)
        // Dropout's masks: a function of (seed, epoch, position), the same on every rank.
        if noisy { model.noise = noiseKey(positions) }
        let z = model.forward(xp, batch: n)
        if noisy { model.noise = nil }
        return loss.evaluate(z, targets: Targets(labels: labels.pointer, values: targets.pointer),
                             batch: n, outputs: outputs, dz: model.outputGradient, scale: scale, smoothing: smoothing)
    }

    /// The per-sample random numbers of the samples at sampler positions `positions` (dropout and
    /// augmentation draw from it, each with its own stream).
    private func noiseKey(_ positions: Range<Int>) -> NoiseKey {
        NoiseKey(seed: sampler.seed, epoch: sampler.epoch, firstPosition: positions.lowerBound)
    }

    /// The training inputs of sampler positions `positions` (contiguous) into `xp`
    /// ([n, inputSize]): gathered, normalized, and augmented with the positions' draws.
    /// `indices` is scratch for n dataset indices.
    func gather(_ positions: Range<Int>, into xp: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>,
                targets: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>) {
        let n = positions.count
        indices.update(from: sampler.order.pointer + positions.lowerBound, count: n)
        train.gather(indices, count: n, into: xp, labels: labels, targets: targets)
        if !augmentation.isIdentity {
            padding.withUnsafeBufferPointer { pad in
                augmentation.apply(xp, rows: n, shape: train.sampleShape,
                                   key: noiseKey(positions),
                                   padding: pad.baseAddress!, scratch: scratch.pointer)
            }
        }
    }
}
