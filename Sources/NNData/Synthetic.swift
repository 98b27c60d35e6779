// Synthetic datasets of the lecture: the logic gates, two spirals, Gaussian blobs, and a
// noisy linear regression whose regularized least-squares optimum has a closed form.
import Foundation
import NNCore

/// Generators of small, seeded datasets.
public enum Synthetic {
    /// Names accepted by `--dataset`.
    public static let names = ["and", "or", "xor", "spirals", "blobs", "linear-regression"]

    /// A logic gate on {0,1}²: all four points, repeated `copies` times.
    public static func gate(_ name: String, copies: Int = 1) -> Dataset {
        let table: [Int32]
        switch name {
        case "and": table = [0, 0, 0, 1]
        case "or": table = [0, 1, 1, 1]
        default: table = [0, 1, 1, 0]   // xor
        }
        var f: [Float] = [], l: [Int32] = []
        for _ in 0..<max(1, copies) {
            for (i, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].enumerated() {
                f += [Float(a), Float(b)]; l.append(table[i])
            }
        }
        return Dataset(name: name, features: .floats(f), sampleShape: [2], task: .classification(classes: 2), labels: l)
    }

    /// Two interleaved spirals, n points per class.
    public static func spirals(n: Int, noise: Double = 0.05, rng: inout RNG) -> Dataset {
        var f: [Float] = [], l: [Int32] = []
        for i in 0..<n {
            let t = Double(i) / Double(n) * 3 * Double.pi + 0.5
            for c in 0..<2 {
                let s: Double = c == 0 ? 1 : -1
                f.append(Float(s * t * cos(t) / 10 + noise * rng.normal()))
                f.append(Float(s * t * sin(t) / 10 + noise * rng.normal()))
                l.append(Int32(c))
            }
        }
        return Dataset(name: "spirals", features: .floats(f), sampleShape: [2], task: .classification(classes: 2), labels: l)
    }

    /// `classes` isotropic Gaussian blobs in `dims` dimensions, n points each.
    public static func blobs(n: Int, classes: Int = 3, dims: Int = 2, spread: Double = 0.5, rng: inout RNG) -> Dataset {
        var centers: [[Double]] = []
        for _ in 0..<classes { centers.append((0..<dims).map { _ in rng.uniform(-3, 3) }) }
        var f: [Float] = [], l: [Int32] = []
        for i in 0..<(n * classes) {
            let c = i % classes
            for d in 0..<dims { f.append(Float(centers[c][d] + spread * rng.normal())) }
            l.append(Int32(c))
        }
        return Dataset(name: "blobs", features: .floats(f), sampleShape: [dims], task: .classification(classes: classes), labels: l)
    }

    /// y = θ*ᵀx + noise, x ~ N(0, I) in `dims` dimensions (with a constant-1 feature last,
    /// so that a bias-free linear model has an intercept).
    public static func linearRegression(n: Int, dims: Int = 10, noise: Double = 0.1, rng: inout RNG) -> Dataset {
        let theta = (0..<dims).map { _ in rng.normal() }
        var f: [Float] = [], t: [Float] = []
        for _ in 0..<n {
            var y = 0.0
            for d in 0..<dims {
                let x = d == dims - 1 ? 1.0 : rng.normal()
                f.append(Float(x)); y += theta[d] * x
            }
            t.append(Float(y + noise * rng.normal()))
        }
        return Dataset(name: "linear-regression", features: .floats(f), sampleShape: [dims], task: .regression(outputs: 1), targets: t)
    }

    /// Builds a named synthetic split. Gates use the four points for both train and test.
    public static func split(_ name: String, seed: UInt64, trainSize: Int? = nil) throws -> DataSplit {
        var rng = RNG(seed: seed, stream: 0xDA7A)
        switch name {
        case "and", "or", "xor":
            let d = gate(name)
            return DataSplit(train: d, test: d)
        case "spirals":
            let n = trainSize ?? 500
            return DataSplit(train: spirals(n: n / 2, rng: &rng), test: spirals(n: 250, rng: &rng))
        case "blobs":
            let n = trainSize ?? 600
            // Same centres for train and test: draw both from one generator stream.
            var r2 = rng
            let all = blobs(n: (n + 300) / 3, rng: &r2)
            let cut = (n / 3) * 3
            return DataSplit(train: all.prefix(cut), test: subset(all, from: cut))
        case "linear-regression":
            let n = trainSize ?? 1000
            let all = linearRegression(n: n + 1000, rng: &rng)
            return DataSplit(train: all.prefix(n), test: subset(all, from: n))
        default:
            throw UserError("unknown dataset '\(name)'; use fashion-mnist, idx (with --data DIR), csv (with --data FILE) or one of \(names.joined(separator: ", "))")
        }
    }

    /// Samples from index `from` to the end.
    static func subset(_ d: Dataset, from: Int) -> Dataset {
        let s = d.sampleSize, o = d.task.outputs
        let f: Dataset.Features
        switch d.features {
        case .bytes(let b): f = .bytes(Array(b[(from * s)...]))
        case .floats(let x): f = .floats(Array(x[(from * s)...]))
        }
        return Dataset(name: d.name, features: f, sampleShape: d.sampleShape, task: d.task,
                       labels: d.labels.isEmpty ? [] : Array(d.labels[from...]),
                       targets: d.targets.isEmpty ? [] : Array(d.targets[(from * o)...]))
    }
}
