// Dataset: samples in memory, in the compact form they came in (images as UInt8,
// other features as Float), and the gather that turns a list of indices into a batch.
import NNCore

/// What the model is asked to predict.
public enum Task: Sendable, Equatable {
    /// Class labels 0..<classes.
    case classification(classes: Int)
    /// Real-valued targets of this many dimensions.
    case regression(outputs: Int)

    public var outputs: Int {
        switch self {
        case .classification(let c): c
        case .regression(let o): o
        }
    }
}

/// A set of samples with labels or targets.
public struct Dataset: Sendable {
    /// Feature storage: bytes (scaled by 1/255 when batched) or floats.
    public enum Features: Sendable {
        case bytes([UInt8])
        case floats([Float])
    }
    public let name: String
    public let features: Features
    /// Per-sample shape, e.g. [1, 28, 28] for images or [2] for points.
    public let sampleShape: [Int]
    public let count: Int
    public let task: Task
    /// Class labels (classification), [count].
    public let labels: [Int32]
    /// Targets (regression), [count, outputs].
    public let targets: [Float]

    public var sampleSize: Int { sampleShape.reduce(1, *) }

    /// Fitted statistics `gather` applies (nil: floats raw, bytes /255).
    public private(set) var normalization: Normalization?
    /// `normalization` per feature, in Float, for `gather`: x' = raw · mapScale[j] + mapShift[j].
    private var mapScale: [Float] = []
    private var mapShift: [Float] = []

    /// Per feature, what `gather` makes of a raw 0 (a black pixel): the padding of augmentation's crops.
    public var valuesOfZero: [Float] { mapShift.isEmpty ? [Float](repeating: 0, count: sampleSize) : mapShift }

    /// This set with `n` applied by `gather` (the samples are not copied).
    /// - Precondition: `n` fits (see `Normalization.check(fits:source:)`).
    public func normalized(_ n: Normalization?) -> Dataset {
        var d = self
        d.normalization = n
        // Without fitted feature statistics gather keeps its plain path (floats raw, bytes /255).
        (d.mapScale, d.mapShift) = n.flatMap { $0.features == .none ? nil : $0.expanded() } ?? ([], [])
        precondition(d.mapScale.isEmpty || d.mapScale.count == sampleSize, "\(name): normalization for \(d.mapScale.count) features, samples have \(sampleSize)")
        return d
    }

    public init(name: String, features: Features, sampleShape: [Int], task: Task,
                labels: [Int32] = [], targets: [Float] = []) {
        self.name = name
        self.features = features
        self.sampleShape = sampleShape
        self.task = task
        let size = sampleShape.reduce(1, *)
        switch features {
        case .bytes(let b): count = size == 0 ? 0 : b.count / size
        case .floats(let f): count = size == 0 ? 0 : f.count / size
        }
        self.labels = labels
        self.targets = targets
        switch task {
        case .classification: precondition(labels.count == count, "\(name): \(labels.count) labels for \(count) samples")
        case .regression(let o): precondition(targets.count == count * o, "\(name): \(targets.count) targets for \(count)×\(o)")
        }
    }

    /// The first `n` samples (or all, if fewer).
    public func prefix(_ n: Int) -> Dataset {
        let m = min(n, count)
        let s = sampleSize
        let f: Features
        switch features {
        case .bytes(let b): f = .bytes(Array(b[0..<(m * s)]))
        case .floats(let x): f = .floats(Array(x[0..<(m * s)]))
        }
        let o = task.outputs
        return Dataset(name: name, features: f, sampleShape: sampleShape, task: task,
                       labels: labels.isEmpty ? [] : Array(labels[0..<m]),
                       targets: targets.isEmpty ? [] : Array(targets[0..<(m * o)])).normalized(normalization)
    }

    /// Copies samples `indices[0..<n]` into `x` ([n, sampleSize]), and their labels or targets.
    ///
    /// Features are normalized here, per batch: without statistics x = byte / 255 (floats as
    /// they are); with `normalization`, x = raw · scale[j] + shift[j] (the /255 folded into the
    /// scale of bytes), and regression targets t' = (t − μ_k) / σ_k unless `rawTargets`.
    @_specialize(where T == Float)
    public func gather<T: NNScalar>(_ indices: UnsafePointer<Int32>, count n: Int, into x: UnsafeMutablePointer<T>,
                                    labels outLabels: UnsafeMutablePointer<Int32>?, targets outTargets: UnsafeMutablePointer<T>?,
                                    rawTargets: Bool = false) {
        let s = sampleSize
        if !mapScale.isEmpty {
            mapScale.withUnsafeBufferPointer { a in
                mapShift.withUnsafeBufferPointer { b in
                    switch features {
                    case .bytes(let bytes):
                        bytes.withUnsafeBufferPointer { src in
                            for r in 0..<n {
                                let from = src.baseAddress! + Int(indices[r]) * s
                                let to = x + r * s
                                for j in 0..<s { to[j] = T(Float(from[j]) * a[j] + b[j]) }
                            }
                        }
                    case .floats(let f):
                        f.withUnsafeBufferPointer { src in
                            for r in 0..<n {
                                let from = src.baseAddress! + Int(indices[r]) * s
                                let to = x + r * s
                                for j in 0..<s { to[j] = T(from[j] * a[j] + b[j]) }
                            }
                        }
                    }
                }
            }
        } else {
            switch features {
            case .bytes(let b):
                b.withUnsafeBufferPointer { src in
                    let inv = T(1) / T(255)
                    for r in 0..<n {
                        let from = src.baseAddress! + Int(indices[r]) * s
                        let to = x + r * s
                        for j in 0..<s { to[j] = T(from[j]) * inv }
                    }
                }
            case .floats(let f):
                f.withUnsafeBufferPointer { src in
                    for r in 0..<n {
                        let from = src.baseAddress! + Int(indices[r]) * s
                        let to = x + r * s
                        for j in 0..<s { to[j] = T(from[j]) }
                    }
                }
            }
        }
        if let outLabels, !labels.isEmpty {
            labels.withUnsafeBufferPointer { l in for r in 0..<n { outLabels[r] = l[Int(indices[r])] } }
        }
        if let outTargets, !targets.isEmpty {
            let o = task.outputs
            targets.withUnsafeBufferPointer { t in
                for r in 0..<n {
                    for j in 0..<o { outTargets[r * o + j] = T(t[Int(indices[r]) * o + j]) }
                }
            }
            if !rawTargets, let nz = normalization, nz.standardizesTargets {
                for r in 0..<n {
                    for j in 0..<o {
                        outTargets[r * o + j] = T((Double(outTargets[r * o + j]) - nz.targetMean[j]) / nz.targetStd[j])
                    }
                }
            }
        }
    }

    /// A 64-bit FNV-1a checksum over sizes, features and labels, for cross-rank fingerprints.
    public var checksum: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ v: UInt64) { h = (h ^ v) &* 0x100_0000_01b3 }
        mix(UInt64(count)); mix(UInt64(sampleSize))
        switch features {
        case .bytes(let b): for v in b { mix(UInt64(v)) }
        case .floats(let f): for v in f { mix(UInt64(v.bitPattern)) }
        }
        for l in labels { mix(UInt64(UInt32(bitPattern: l))) }
        for t in targets { mix(UInt64(t.bitPattern)) }
        return h
    }
}

/// A training set and its test set.
public struct DataSplit: Sendable {
    public var train: Dataset
    public var test: Dataset
    public init(train: Dataset, test: Dataset) { self.train = train; self.test = test }
}
