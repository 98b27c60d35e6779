// Losses: each returns the SUM of per-sample losses of a batch and writes
// d(scale · sum)/d(output) — so that ranks can add their sums and the trainer divides by
// the global sample count once (see docs/architecture.md, "global batch semantics").
import NNCore

/// The losses of the lecture.
public enum LossFunction: String, Sendable, CaseIterable, Codable {
    /// Softmax cross-entropy on logits with integer class labels: −log softmax(z)_y.
    case crossEntropy = "cross-entropy"
    /// Squared loss ½‖y − f(x)‖² per sample (summed over outputs).
    case squared
    /// Mean squared error ‖y − f(x)‖² / outputs per sample (PyTorch's MSELoss); with one
    /// output this is the lecture's (yᵢ − θᵀxᵢ)².
    case mse
    /// Binary cross-entropy on one logit z with a label in {0, 1}:
    /// max(z, 0) − z·y + log(1 + e^(−|z|)) (PyTorch's BCEWithLogitsLoss).
    case bce

    /// Whether targets are class labels (else real-valued vectors).
    public var usesLabels: Bool { self == .crossEntropy || self == .bce }

    /// Parses the names above and a few aliases (`ce`, `softmax`, `square`, `bce-logits`).
    public init?(parsing s: String) {
        switch s.lowercased() {
        case "cross-entropy", "crossentropy", "ce", "softmax", "softmax-cross-entropy": self = .crossEntropy
        case "squared", "square", "squared-loss": self = .squared
        case "mse": self = .mse
        case "bce", "bce-logits", "binary-cross-entropy": self = .bce
        default: return nil
        }
    }
    public static let allNames = "cross-entropy, squared, mse, bce"
}

/// The targets of one batch: class labels or real-valued vectors.
public struct Targets<T: NNScalar> {
    /// Class labels, [batch], for cross-entropy and bce.
    public var labels: UnsafePointer<Int32>?
    /// Real targets, [batch, outputs], for squared and mse.
    public var values: UnsafePointer<T>?
    public init(labels: UnsafePointer<Int32>? = nil, values: UnsafePointer<T>? = nil) {
        self.labels = labels; self.values = values
    }
}

extension LossFunction {
    /// Computes the loss of a batch.
    ///
    /// - Parameters:
    ///   - z: model outputs, [batch, outputs].
    ///   - targets: labels or values for the batch.
    ///   - dz: if not nil, receives `scale · ∂(Σ losses)/∂z`, [batch, outputs].
    ///   - correct: if not nil, receives the number of samples classified correctly
    ///     (argmax for cross-entropy, z > 0 for bce; 0 for regression losses).
    ///   - smoothing: label smoothing ε of cross-entropy (Szegedy et al. 2016; PyTorch's
    ///     `CrossEntropyLoss(label_smoothing: ε)`): the target is (1−ε)·onehot(y) + ε/K, so the
    ///     loss is (1−ε)(lse(z) − z_y) + ε(lse(z) − mean z) and ∂/∂z = softmax(z) − (1−ε)·onehot(y) − ε/K.
    ///     Ignored by the other losses (the trainer refuses it with them).
    /// - Returns: the sum over the batch of the per-sample losses, in Double.
    @_specialize(where T == Float)
    public func evaluate<T: NNScalar>(_ z: UnsafePointer<T>, targets: Targets<T>, batch: Int, outputs: Int,
                                      dz: UnsafeMutablePointer<T>?, scale: T = 1,
                                      correct: UnsafeMutablePointer<Int>? = nil, smoothing: T = 0) -> Double {
        var total = 0.0
        var right = 0
        switch self {
        case .crossEntropy:
            let labels = targets.labels!
            for r in 0..<batch {
                let row = z + r * outputs
                let y = Int(labels[r])
                var mx = row[0]; var arg = 0
                for j in 1..<max(outputs, 1) where row[j] > mx { mx = row[j]; arg = j }
                if arg == y { right += 1 }
                var s: T = 0
                if let dz {
                    let g = dz + r * outputs
                    for j in 0..<outputs { let e = T.exp(row[j] - mx); g[j] = e; s += e }
                    let inv = scale / s
                    for j in 0..<outputs { g[j] *= inv }
                    if smoothing == 0 {
                        g[y] -= scale
                    } else {
                        let spread = scale * smoothing / T(outputs)
                        for j in 0..<outputs { g[j] -= spread }
                        g[y] -= scale * (1 - smoothing)
                    }
                } else {
                    for j in 0..<outputs { s += T.exp(row[j] - mx) }
                }
                let lse = T.log(s) + mx
                if smoothing == 0 {
                    total += Double(lse - row[y])
                } else {
                    var mean: T = 0
                    for j in 0..<outputs { mean += row[j] }
                    mean /= T(outputs)
                    total += Double((1 - smoothing) * (lse - row[y]) + smoothing * (lse - mean))
                }
            }
        case .bce:
            let labels = targets.labels!
            for r in 0..<batch {
                let v = z[r * outputs]
                let y = T(labels[r])
                if (v > 0 ? 1 : 0) == labels[r] { right += 1 }
                total += Double(max(v, 0) - v * y + T.log1p(T.exp(-abs(v))))
                if let dz {
                    let s = v >= 0 ? 1 / (1 + T.exp(-v)) : T.exp(v) / (1 + T.exp(v))
                    dz[r * outputs] = scale * (s - y)
                }
            }
        case .squared, .mse:
            let values = targets.values!
            let factor: T = self == .squared ? 0.5 : 1 / T(outputs)
            let n = batch * outputs
            var s = 0.0
            let g = scale * 2 * factor
            for i in 0..<n {
                let d = z[i] - values[i]
                s += Double(d * d)
                if let dz { dz[i] = g * d }
            }
            total = s * Double(factor)
        }
        correct?.pointee = right
        return total
    }
}
