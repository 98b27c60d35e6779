// Normalization: per-feature affine maps fitted on the training set (standardization or
// min-max scaling), applied where batches are gathered, and the target standardization of
// regression with its way back to the original units.
import Foundation
import NNCore

/// `--normalize`: how features (and regression targets) are scaled before the network sees them.
public enum NormalizeMode: String, Sendable, Codable, CaseIterable {
    /// `standard` for CSV features and regression targets and (per channel) for images; the
    /// built-in synthetic sets as generated (see `Normalization.resolve`).
    case auto
    /// x' = (x − μ) / σ per feature (per channel for images, after /255); σ = 0 → divide by 1.
    case standard
    /// x' = (x − min) / (max − min) per feature (per channel for images); a range of 0 → divide by 1.
    case minmax
    /// No fitted statistics: float features raw, image bytes /255.
    case none
}

/// What `auto` (or an explicit mode) means for one data set.
public struct ResolvedNormalization: Sendable, Equatable {
    /// The feature map's kind: `standard`, `minmax` or `none` (never `auto`).
    public var features: NormalizeMode
    /// Whether regression targets are standardized.
    public var targets: Bool
}

/// Fitted statistics: x' = raw · scale[g] + shift[g] for every feature j of group g = j / groupSize
/// (groupSize = 1 for CSV features; H·W for images, one group per channel, raw = byte); regression
/// targets t' = (t − targetMean[k]) / targetStd[k] for output k.
public struct Normalization: Sendable, Equatable, Codable {
    public var mode: NormalizeMode
    /// What the feature map is: `standard`, `minmax`, or `none` (floats raw, bytes /255).
    public var features: NormalizeMode
    /// Features per group: 1 (per feature) or H·W (per channel).
    public var groupSize: Int
    public var scale: [Double]
    public var shift: [Double]
    /// Empty when targets are not standardized.
    public var targetMean: [Double]
    public var targetStd: [Double]

    /// The one place that decides what `auto` means: images (bytes) are standardized per channel
    /// (Fashion-MNIST: (x/255 − 0.286)/0.353, as torchvision's Normalize would be given; it takes
    /// the default MLP from 0.8936 to 0.9011 after 10 epochs, docs/performance.md); tabular (CSV)
    /// features are standardized, and so are regression targets; the built-in synthetic sets (the
    /// lecture's experiments) stay as generated. Explicit modes mean what they say, and
    /// standardize regression targets with `standard`.
    public static func resolve(_ mode: NormalizeMode, bytes: Bool, regression: Bool, tabular: Bool) -> ResolvedNormalization {
        guard mode == .auto else {
            return ResolvedNormalization(features: mode, targets: regression && mode == .standard)
        }
        if bytes { return ResolvedNormalization(features: .standard, targets: false) }
        if tabular { return ResolvedNormalization(features: .standard, targets: regression) }
        return ResolvedNormalization(features: .none, targets: false)
    }

    /// The identity on floats, /255 on bytes: what `gather` does without statistics.
    public static func identity(for d: Dataset) -> Normalization {
        let byteScale: Double
        if case .bytes = d.features { byteScale = 1.0 / 255 } else { byteScale = 1 }
        return Normalization(mode: .none, features: .none, groupSize: max(d.sampleSize, 1), scale: [byteScale], shift: [0],
                             targetMean: [], targetStd: [])
    }

    /// Fits the statistics of `mode` on `train`, in Double, in sample order: the same bits on every
    /// rank and for every world size, since every rank holds the whole training set.
    ///
    /// Images (bytes) get one group per channel (sampleShape [C, H, W]) over x = byte / 255;
    /// float features one group per feature. Standard deviations are the population ones (ddof 0,
    /// as scikit-learn's StandardScaler).
    public static func fit(_ mode: NormalizeMode, on train: Dataset, tabular: Bool = true) -> Normalization {
        let bytes: Bool
        if case .bytes = train.features { bytes = true } else { bytes = false }
        let regression: Bool
        if case .regression = train.task { regression = true } else { regression = false }
        let r = resolve(mode, bytes: bytes, regression: regression, tabular: tabular)
        var n = identity(for: train)
        n.mode = mode
        n.features = r.features
        let s = train.sampleSize, count = train.count
        if r.features != .none && s > 0 && count > 0 {
            let groupSize = bytes && train.sampleShape.count == 3 ? train.sampleShape[1] * train.sampleShape[2] : (bytes ? s : 1)
            let groups = s / groupSize
            let raw = bytes ? 1.0 / 255 : 1.0
            func value(_ i: Int, _ j: Int) -> Double {
                switch train.features {
                case .bytes(let b): Double(b[i * s + j]) * raw
                case .floats(let f): Double(f[i * s + j])
                }
            }
            var scale = [Double](repeating: 1, count: groups), shift = [Double](repeating: 0, count: groups)
            let perGroup = Double(count * groupSize)
            for g in 0..<groups {
                let js = (g * groupSize)..<((g + 1) * groupSize)
                if r.features == .standard {
                    var sum = 0.0
                    for i in 0..<count { for j in js { sum += value(i, j) } }
                    let mean = sum / perGroup
                    var sq = 0.0
                    for i in 0..<count { for j in js { let d = value(i, j) - mean; sq += d * d } }
                    let std = (sq / perGroup).squareRoot()
                    let sigma = std > 0 ? std : 1
                    scale[g] = raw / sigma; shift[g] = -mean / sigma
                } else {
                    var lo = Double.infinity, hi = -Double.infinity
                    for i in 0..<count { for j in js { let v = value(i, j); lo = min(lo, v); hi = max(hi, v) } }
                    let range = hi - lo > 0 ? hi - lo : 1
                    scale[g] = raw / range; shift[g] = -lo / range
                }
            }
            n.groupSize = groupSize; n.scale = scale; n.shift = shift
        }
        if r.targets {
            let o = train.task.outputs
            var mean = [Double](repeating: 0, count: o), std = [Double](repeating: 1, count: o)
            for k in 0..<o {
                var sum = 0.0
                for i in 0..<count { sum += Double(train.targets[i * o + k]) }
                let m = sum / Double(count)
                var sq = 0.0
                for i in 0..<count { let d = Double(train.targets[i * o + k]) - m; sq += d * d }
                let sd = (sq / Double(count)).squareRoot()
                mean[k] = m; std[k] = sd > 0 ? sd : 1
            }
            n.targetMean = mean; n.targetStd = std
        }
        return n
    }

    /// Features this map covers (groups × groupSize).
    public var featureCount: Int { scale.count * groupSize }
    /// Whether regression targets are standardized.
    public var standardizesTargets: Bool { !targetMean.isEmpty }

    /// Checks that the statistics fit `d` (feature count, outputs) and are finite.
    ///
    /// - Throws: UserError naming `source`.
    public func check(fits d: Dataset, source: String) throws {
        guard groupSize >= 1, scale.count == shift.count, !scale.isEmpty, featureCount == d.sampleSize else {
            throw UserError("\(source): its normalization statistics cover \(scale.count)×\(groupSize) features, the data has \(d.sampleSize) per sample; use a checkpoint trained on this data")
        }
        guard targetMean.count == targetStd.count, targetMean.isEmpty || targetMean.count == d.task.outputs else {
            throw UserError("\(source): its normalization statistics have \(targetMean.count) target(s), the data has \(d.task.outputs) output(s)")
        }
        guard (scale + shift + targetMean).allSatisfy(\.isFinite), targetStd.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw UserError("\(source): its normalization statistics hold a non-finite value or a target std ≤ 0")
        }
    }

    /// Per-feature Float maps for `gather`: x' = raw · scale[j] + shift[j], j over the sample.
    public func expanded() -> (scale: [Float], shift: [Float]) {
        var a = [Float](), b = [Float]()
        a.reserveCapacity(featureCount); b.reserveCapacity(featureCount)
        for g in 0..<scale.count {
            for _ in 0..<groupSize { a.append(Float(scale[g])); b.append(Float(shift[g])) }
        }
        return (a, b)
    }

    /// The factor that turns a squared-error loss on standardized targets into the original
    /// units: err_orig = σ·err_norm, so with one output the loss scales by σ² (1 without target
    /// statistics). Several outputs would need a σ_k²-weighted sum per output; `fit` is only
    /// asked for it with one (every regression set nntrain reads has one output).
    public var targetLossScale: Double { targetStd.count == 1 ? targetStd[0] * targetStd[0] : 1 }

    /// Standardized targets are supported for one output only (see `targetLossScale`).
    ///
    /// - Throws: UserError naming `source` when there are more.
    public func checkTargetCount(source: String) throws {
        guard targetMean.count <= 1 else {
            throw UserError("\(source): standardizing \(targetMean.count) regression outputs is not supported (one output only); use --normalize none")
        }
    }

    /// Maps predictions `z` ([batch, outputs], standardized units) back to the original units:
    /// z_k ← z_k·σ_k + μ_k.
    public func denormalize<T: NNScalar>(_ z: UnsafeMutablePointer<T>, batch: Int, outputs: Int) {
        guard standardizesTargets else { return }
        for r in 0..<batch {
            for k in 0..<outputs { z[r * outputs + k] = T(Double(z[r * outputs + k]) * targetStd[k] + targetMean[k]) }
        }
    }

    /// The metadata text a checkpoint stores (JSON; Doubles print in Swift's round-tripping form).
    public var metadataText: String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? String(decoding: enc.encode(self), as: UTF8.self)) ?? ""
    }

    /// Reads `metadataText` back.
    ///
    /// - Throws: UserError naming `source` when it does not parse.
    public init(metadataText text: String, source: String) throws {
        guard let v = try? JSONDecoder().decode(Normalization.self, from: Data(text.utf8)) else {
            throw UserError("\(source): metadata 'normalization' does not parse")
        }
        self = v
    }

    public init(mode: NormalizeMode, features: NormalizeMode, groupSize: Int, scale: [Double], shift: [Double],
                targetMean: [Double], targetStd: [Double]) {
        self.mode = mode; self.features = features; self.groupSize = groupSize; self.scale = scale; self.shift = shift
        self.targetMean = targetMean; self.targetStd = targetStd
    }
}
