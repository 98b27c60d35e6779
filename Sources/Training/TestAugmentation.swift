// TestAugmentation: test-time augmentation of a classifier's evaluation. `flip` predicts each
// test image from the mean of the class probabilities of the image and of its left–right mirror,
// as AlexNet (Krizhevsky et al. 2012) averaged its softmax over crops and their reflections:
//
//     p̄ = ½ (softmax f(x) + softmax f(mirror x)),   prediction argmax p̄,   loss −log p̄_y.
//
// Training never sees it; it changes what `evaluate` (the epoch lines, the final metrics and the
// `evaluate` command, which reads it from a checkpoint) reports, at twice the forward work.
import Foundation
import NNCore
import NNData
import NeuralNet

/// The `--test-augment` setting.
public enum TestAugmentation: String, CaseIterable, Sendable, Codable {
    /// One forward pass per test image.
    case none
    /// Class probabilities averaged over the image and its left–right mirror.
    case flip
}

/// Evaluation's forward pass under a run's test-time augmentation.
final class EvaluationForward {
    let augmentation: TestAugmentation
    /// [C, H, W] of a sample (flip only).
    private let shape: [Int]
    private let outputs: Int
    /// [micro, outputs]: log-softmax of the unmirrored images, then log p̄.
    private let first: Buffer<Float>
    /// One image, for mirroring in place.
    private let image: Buffer<Float>

    /// - Throws: UserError when `flip` meets data that are not images [C, H, W] or a loss
    ///   other than cross-entropy (whose outputs are the logits that softmax averages).
    init(_ augmentation: TestAugmentation, sampleShape: [Int], loss: LossFunction, outputs: Int, micro: Int,
         dataset: String) throws {
        self.augmentation = augmentation
        self.shape = sampleShape
        self.outputs = outputs
        if augmentation == .flip {
            guard sampleShape.count == 3 else {
                throw UserError("--test-augment flip: needs image data [C, H, W]; dataset '\(dataset)' has samples of shape \(sampleShape)")
            }
            guard loss == .crossEntropy else {
                throw UserError("--test-augment flip: averages the class probabilities of cross-entropy; --loss \(loss.rawValue) has none (use --test-augment none)")
            }
        }
        first = Buffer(count: augmentation == .none ? 0 : micro * outputs)
        image = Buffer(count: augmentation == .none ? 0 : sampleShape.reduce(1, *))
    }

    /// What the loss scores for the `batch` rows of `x` ([batch, C·H·W], batch ≤ micro):
    /// `none`: the logits f(x). `flip`: log p̄ per row, whose argmax is p̄'s and whose
    /// cross-entropy is −log p̄_y (log Σ_j p̄_j = 0); `x` is left mirrored.
    /// Valid until the next call.
    func callAsFunction(_ model: Sequential<Float>, _ x: UnsafeMutablePointer<Float>, batch: Int) -> UnsafeMutablePointer<Float> {
        guard augmentation == .flip else { return model.forward(x, batch: batch) }
        let a = first.pointer
        let z = model.forward(x, batch: batch)
        for r in 0..<batch { EvaluationForward.logSoftmax(z + r * outputs, into: a + r * outputs, count: outputs) }
        let size = image.count
        for r in 0..<batch { Augmentation.mirror(x + r * size, shape: shape, scratch: image.pointer) }
        let zm = model.forward(x, batch: batch)
        for r in 0..<batch {
            let row = a + r * outputs, m = zm + r * outputs
            EvaluationForward.logSoftmax(m, into: m, count: outputs)
            // log(½(eᵃ + eᵇ)) = max(a, b) + log1p(e^−|a−b|) − log 2, without overflow.
            for j in 0..<outputs {
                let u = Double(row[j]), v = Double(m[j])
                row[j] = Float(max(u, v) + log1p(exp(-abs(u - v))) - M_LN2)
            }
        }
        return a
    }

    /// out[j] = z[j] − log Σ_k e^{z[k]}, in Double; `out` may be `z`.
    static func logSoftmax(_ z: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        var mx = -Double.infinity
        for j in 0..<count { mx = max(mx, Double(z[j])) }
        var s = 0.0
        for j in 0..<count { s += exp(Double(z[j]) - mx) }
        let lse = mx + log(s)
        for j in 0..<count { out[j] = Float(Double(z[j]) - lse) }
    }
}
