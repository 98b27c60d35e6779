// ModelSpec: the small language that names a network on the command line or in YAML.
//
//   linear                       one Linear layer, inputs → outputs (a linear classifier)
//   mlp:784-1024-1024-10         Linear layers of these widths with the chosen activation between
//   mlp:784-1024-1024-10,dropout:0.5   the same with Dropout(0.5) after every hidden activation
//   lenet5                       LeNet-5 with max pooling: conv:6x5p2,act,maxpool:2,conv:16x5,act,
//                                maxpool:2,flatten,linear:120,act,linear:84,act,linear:10
//   lenet5-avg                   the same with average pooling (closer to 1998's subsampling)
//   lenet5-lc                    LeNet-5 with locally connected layers (lc:) in place of the convs
//   layers:PART,PART,...         an explicit list, first input shape from the data; parts:
//     linear:N                   fully connected, N outputs (needs a flat input: add flatten after images)
//     conv:OxK[sS][pP]           Conv2D, O channels, K×K kernel, stride S (1), zero padding P (0)
//     lc:OxK[sS][pP]             LocallyConnected2D, same geometry, untied weights per position
//     maxpool:K[sS], avgpool:K[sS]   K×K pooling, stride S (default K)
//     flatten                    [C, H, W] → [C·H·W]
//     dropout:P                  inverted dropout with drop probability P in [0, 1) (nn.Dropout(P))
//     relu, tanh, ..., act       an activation; `act` is the run's --activation
import Foundation
import NNCore

/// A parsed model description, buildable in any scalar type.
public struct ModelSpec: Sendable, Equatable, CustomStringConvertible {
    /// One layer of an explicit list.
    public enum Item: Sendable, Equatable, CustomStringConvertible {
        case linear(Int)               // -1: as many outputs as the task needs
        case activation(Activation?)   // nil: the run's default activation
        case conv(channels: Int, kernel: Int, stride: Int, padding: Int)
        case locallyConnected(channels: Int, kernel: Int, stride: Int, padding: Int)
        case maxPool(kernel: Int, stride: Int)
        case avgPool(kernel: Int, stride: Int)
        case flatten
        case dropout(Double)

        /// The item in the spec syntax, e.g. `conv:6x5p2`.
        public var description: String {
            func window(_ k: Int, _ s: Int, _ p: Int, defaultStride: Int) -> String {
                "\(k)" + (s != defaultStride ? "s\(s)" : "") + (p != 0 ? "p\(p)" : "")
            }
            switch self {
            case .linear(let n): return n < 0 ? "linear" : "linear:\(n)"
            case .activation(let a): return a?.description ?? "act"
            case let .conv(o, k, s, p): return "conv:\(o)x" + window(k, s, p, defaultStride: 1)
            case let .locallyConnected(o, k, s, p): return "lc:\(o)x" + window(k, s, p, defaultStride: 1)
            case let .maxPool(k, s): return "maxpool:" + window(k, s, 0, defaultStride: k)
            case let .avgPool(k, s): return "avgpool:" + window(k, s, 0, defaultStride: k)
            case .flatten: return "flatten"
            case .dropout(let p): return "dropout:\(p)"
            }
        }

        /// Whether the item works on [C, H, W] images.
        var isSpatial: Bool {
            switch self {
            case .conv, .locallyConnected, .maxPool, .avgPool: true
            default: false
            }
        }
    }
    public let text: String
    public let items: [Item]
    /// For `mlp:`/`linear`, the declared input width (checked against the data), if any.
    public let declaredInput: Int?

    public var description: String { text }

    /// The output width the spec declares (last width of mlp:), if any.
    public var declaredOutput: Int? {
        for item in items.reversed() { if case .linear(let n) = item, n > 0 { return n } }
        return nil
    }

    /// An input shape to use when nothing else gives one (gradient checks): a 28×28 image
    /// for specs that start with image layers, else a vector.
    public var defaultInputShape: [Int] {
        for item in items {
            if item.isSpatial { return [1, 28, 28] }
            if case .linear = item { break }
            if case .flatten = item { break }
        }
        return [declaredInput ?? 6]
    }

    /// LeNet-5 (LeCun et al. 1998) for 28×28 inputs: the first conv pads by 2, as the paper's
    /// 32×32 inputs did, so that 16×5×5 = 400 features reach the first linear layer.
    public static func lenet5(pooling: String = "maxpool", convolution: String = "conv") -> String {
        "layers:\(convolution):6x5p2,act,\(pooling):2,\(convolution):16x5,act,\(pooling):2,flatten,linear:120,act,linear:84,act,linear:10"
    }

    /// The named models and what they stand for.
    public static let named: [String: String] = [
        "lenet5": lenet5(),
        "lenet5-avg": lenet5(pooling: "avgpool"),
        "lenet5-lc": lenet5(convolution: "lc"),
    ]

    static let layerSyntax = "linear:N, conv:OxK[sS][pP] (e.g. conv:6x5p2), lc:OxK[sS][pP], maxpool:K[sS], avgpool:K[sS], flatten, dropout:P, act or one of \(Activation.allNames)"

    /// The largest width, channel count, kernel, stride or padding a spec may name (2³⁰):
    /// every sum and product of two of them then fits an Int, and the rest is checked.
    public static let maxSize = 1 << 30

    /// Parses `text`; throws a UserError naming the bad part.
    public init(parsing text: String) throws {
        self.text = text
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        if lower == "linear" {
            items = [.linear(-1)]; declaredInput = nil
        } else if let expansion = ModelSpec.named[lower] {
            items = try ModelSpec.parseLayers(expansion.dropFirst(7), text: text); declaredInput = nil
        } else if lower.hasPrefix("mlp:") {
            // mlp:W0-W1-...-Wn[,dropout:P]
            let parts = lower.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
            var dropout: Double? = nil
            for option in parts.dropFirst() {
                let o = option.trimmingCharacters(in: .whitespaces)
                guard o.hasPrefix("dropout:"), dropout == nil, let p = ModelSpec.dropoutProbability(o.dropFirst(8)) else {
                    throw UserError("model '\(text)': after an mlp's widths only ',dropout:P' may follow (P in [0, 1)), e.g. mlp:784-1024-1024-10,dropout:0.5; got '\(o)'")
                }
                dropout = p
            }
            let widths = parts[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard widths.count >= 2, widths.allSatisfy({ ($0 ?? 0) > 0 }) else {
                throw UserError("model '\(text)': mlp needs positive widths joined by '-', input first and classes last, e.g. mlp:784-1024-1024-10")
            }
            let w = widths.compactMap { $0 }
            if let big = w.first(where: { $0 > ModelSpec.maxSize }) {
                throw UserError("model '\(text)': width \(big) is larger than \(ModelSpec.maxSize)")
            }
            var its: [Item] = []
            for k in 1..<w.count {
                its.append(.linear(w[k]))
                if k < w.count - 1 {
                    its.append(.activation(nil))
                    if let dropout { its.append(.dropout(dropout)) }
                }
            }
            items = its; declaredInput = w[0]
        } else if lower.hasPrefix("layers:") {
            items = try ModelSpec.parseLayers(lower.dropFirst(7), text: text); declaredInput = nil
        } else {
            throw UserError("unknown model '\(text)'; use linear, mlp:IN-H1-...-OUT (e.g. mlp:784-1024-1024-10), lenet5, lenet5-avg, lenet5-lc, or layers:PART,... with parts \(ModelSpec.layerSyntax)")
        }
    }

    /// Parses the comma-separated parts of a `layers:` list.
    static func parseLayers(_ list: Substring, text: String) throws -> [Item] {
        var its: [Item] = []
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let p = part.trimmingCharacters(in: .whitespaces)
            func bad(_ why: String) -> UserError {
                UserError("model '\(text)': bad layer '\(p)': \(why); parts are \(layerSyntax)")
            }
            if p.hasPrefix("linear:") {
                guard let n = Int(p.dropFirst(7)), n > 0, n <= maxSize else { throw bad("linear needs a positive width up to \(maxSize), e.g. linear:120") }
                its.append(.linear(n))
            } else if p.hasPrefix("conv:") || p.hasPrefix("lc:") {
                let isConv = p.hasPrefix("conv:")
                let rest = p.drop(while: { $0 != ":" }).dropFirst()
                let pieces = rest.split(separator: "x", maxSplits: 1, omittingEmptySubsequences: false)
                guard pieces.count == 2, let o = Int(pieces[0]), o > 0, o <= maxSize,
                      case let (k, s, pad)? = parseWindow(pieces[1], defaultStride: 1) else {
                    throw bad("\(isConv ? "conv" : "lc") needs OUTxKERNEL with optional sSTRIDE and pPADDING, e.g. \(isConv ? "conv" : "lc"):6x5p2 or \(isConv ? "conv" : "lc"):16x3s2p1")
                }
                its.append(isConv ? .conv(channels: o, kernel: k, stride: s, padding: pad)
                                  : .locallyConnected(channels: o, kernel: k, stride: s, padding: pad))
            } else if p.hasPrefix("maxpool:") || p.hasPrefix("avgpool:") {
                let isMax = p.hasPrefix("maxpool:")
                guard case let (k, s, pad)? = parseWindow(p.dropFirst(8), defaultStride: nil), pad == 0 else {
                    throw bad("pooling needs a window size with optional sSTRIDE and no padding, e.g. maxpool:2 or maxpool:3s2")
                }
                its.append(isMax ? .maxPool(kernel: k, stride: s) : .avgPool(kernel: k, stride: s))
            } else if p == "flatten" {
                its.append(.flatten)
            } else if p.hasPrefix("dropout:") {
                guard let d = dropoutProbability(p.dropFirst(8)) else { throw bad("dropout needs a probability P in [0, 1), e.g. dropout:0.5") }
                its.append(.dropout(d))
            } else if p == "act" || p == "activation" {
                its.append(.activation(nil))
            } else if let a = Activation(parsing: p) {
                its.append(.activation(a))
            } else if p.isEmpty {
                throw UserError("model '\(text)': empty layer between commas")
            } else {
                throw UserError("model '\(text)': unknown layer '\(p)'; parts are \(layerSyntax)")
            }
        }
        guard !its.isEmpty else { throw UserError("model '\(text)': no layers listed") }
        return its
    }

    /// A drop probability: a decimal number in [0, 1).
    static func dropoutProbability(_ s: Substring) -> Double? {
        guard let p = Double(s), p.isFinite, p >= 0, p < 1 else { return nil }
        return p
    }

    /// Parses `K`, then optional `sS` and `pP` in any order: (kernel, stride, padding), all
    /// positive but padding ≥ 0; stride defaults to `defaultStride`, or to K when nil.
    static func parseWindow(_ s: Substring, defaultStride: Int?) -> (Int, Int, Int)? {
        var rest = s[...]
        func number() -> Int? {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(digits.count)
            guard !digits.isEmpty, let v = Int(digits), v <= maxSize else { return nil }
            return v
        }
        guard let k = number(), k > 0 else { return nil }
        var stride: Int? = nil, padding: Int? = nil
        while let c = rest.first {
            rest = rest.dropFirst()
            guard let v = number() else { return nil }
            switch c {
            case "s" where stride == nil && v > 0: stride = v
            case "p" where padding == nil: padding = v
            default: return nil
            }
        }
        return (k, stride ?? defaultStride ?? k, padding ?? 0)
    }

    /// What a network of this spec holds, counted (overflow-checked) before anything is allocated.
    public struct Footprint: Sendable, Equatable {
        /// Trainable scalars θ.
        public var parameters: Int
        /// Scalars per sample of every layer's output, its gradient and its scratch (im2col
        /// patches, pooling indices): what a batch of n needs n times over.
        public var activationsPerSample: Int

        /// Bytes of training a batch of `batch` in `Scalar` of `scalarBytes`: parameters, their
        /// gradients and two optimizer moments (Adam's; SGD's momentum needs one), and the
        /// activations. Nil on overflow.
        public func trainingBytes(batch: Int, scalarBytes: Int) -> Int? {
            guard let p = SizeLimits.multiply(parameters, 4),
                  let a = SizeLimits.multiply(activationsPerSample, max(batch, 1)),
                  let total = SizeLimits.add(p, a) else { return nil }
            return SizeLimits.multiply(total, scalarBytes)
        }
    }

    /// The footprint of the network `build` makes for these inputs and outputs.
    ///
    /// - Throws: UserError as `build` does, and when a count overflows.
    public func footprint(inputShape: [Int], outputs: Int) throws -> Footprint {
        try layers(Float.self, inputShape: inputShape, outputs: outputs, activation: .relu).1
    }

    /// Checks that training this spec with batches of `batch` fits the memory budget.
    ///
    /// - Throws: UserError naming the model, its parameter count and the bytes it needs.
    public func checkMemory(inputShape: [Int], outputs: Int, batch: Int, scalarBytes: Int = 4) throws {
        let f = try footprint(inputShape: inputShape, outputs: outputs)
        try SizeLimits.checkAllocation(f.trainingBytes(batch: batch, scalarBytes: scalarBytes),
                                       for: "model '\(text)' (\(f.parameters) parameters, batch \(batch))")
    }

    /// Builds the network for inputs of `inputShape` and `outputs` outputs.
    ///
    /// - Throws: UserError naming the layer whose input does not fit, when the spec's widths
    ///   do not fit the data, or when its parameters and one sample's activations (counted
    ///   before allocating) exceed the memory budget.
    public func build<T: NNScalar>(_: T.Type = T.self, inputShape: [Int], outputs: Int,
                                   activation: Activation, gradientTail: Int = 0) throws -> Sequential<T> {
        let (layers, f) = try self.layers(T.self, inputShape: inputShape, outputs: outputs, activation: activation)
        try SizeLimits.checkAllocation(f.trainingBytes(batch: 1, scalarBytes: MemoryLayout<T>.stride),
                                       for: "model '\(text)' (\(f.parameters) parameters)")
        return Sequential(layers, gradientTail: gradientTail)
    }

    /// The layers of the network (which allocate nothing until bound and reserved), and
    /// their footprint; every size is computed overflow-checked before a layer is made.
    func layers<T: NNScalar>(_: T.Type, inputShape: [Int], outputs: Int,
                             activation: Activation) throws -> ([any Layer<T>], Footprint) {
        func describe(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
        guard !inputShape.isEmpty, let inputs = SizeLimits.product(inputShape), inputs > 0 else {
            throw UserError("model '\(text)': the data's samples have shape \(describe(inputShape)); every dimension must be at least 1")
        }
        if let d = declaredInput, d != inputs {
            throw UserError("model '\(text)' takes \(d) inputs but the data has \(inputs) features; start the widths with \(inputs)")
        }
        var layers: [any Layer<T>] = []
        var shape = inputShape
        var afterImageLayer = false   // shape is the output of an image layer (not the data's)
        var parameters = 0, perSample = 0
        let tooLarge = UserError("model '\(text)': its sizes overflow a 64-bit integer; use smaller widths, channels or kernels")
        /// Adds a layer's parameters and its per-sample scalars (output ×2 for its gradient, plus scratch).
        func count(parameters p: Int?, output: Int?, scratch: Int? = 0) throws {
            guard let p, let output, let scratch, let o2 = SizeLimits.multiply(output, 2),
                  let np = SizeLimits.add(parameters, p), let a = SizeLimits.add(o2, scratch),
                  let ns = SizeLimits.add(perSample, a) else { throw tooLarge }
            parameters = np; perSample = ns
        }
        for (index, item) in items.enumerated() {
            let place = "model '\(text)', layer \(index) '\(item)'"
            func geometry(kernel: Int, stride: Int, padding: Int) throws -> ConvGeometry {
                guard shape.count == 3 else {
                    throw UserError("\(place) needs an image input [C, H, W] but gets \(describe(shape))" +
                                    (layers.isEmpty ? " (the dataset's samples are not images)" : ""))
                }
                guard shape.allSatisfy({ $0 <= ModelSpec.maxSize }) else { throw tooLarge }
                guard let g = ConvGeometry(channels: shape[0], height: shape[1], width: shape[2],
                                           kernel: kernel, stride: stride, padding: padding) else {
                    throw UserError("\(place): a \(kernel)×\(kernel) window with padding \(padding) does not fit its input \(describe(shape)); use a smaller kernel, more padding, or fewer pooling layers before it")
                }
                // Every count a layer of this geometry computes, checked once here.
                guard SizeLimits.product([g.channels, g.kernel, g.kernel]) != nil,
                      SizeLimits.product([g.outHeight, g.outWidth]) != nil else { throw tooLarge }
                return g
            }
            if item.isSpatial { afterImageLayer = true }
            switch item {
            case .linear(let n):
                if shape.count > 1 && afterImageLayer {
                    throw UserError("\(place) needs a flat input but gets \(describe(shape)); insert 'flatten' before it")
                }
                guard let width = SizeLimits.product(shape) else { throw tooLarge }
                let out = n < 0 ? outputs : n
                try count(parameters: SizeLimits.multiply(width, out).flatMap { SizeLimits.add($0, out) }, output: out)
                layers.append(Linear<T>(width, out)); shape = [out]; afterImageLayer = false
            case .activation(let a):
                try count(parameters: 0, output: SizeLimits.product(shape))
                layers.append(ActivationLayer<T>(a ?? activation, shape: shape))
            case let .conv(o, k, s, p):
                let g = try geometry(kernel: k, stride: s, padding: p)
                let out = SizeLimits.product([o, g.outHeight, g.outWidth])
                try count(parameters: SizeLimits.product([o, g.patch]).flatMap { SizeLimits.add($0, o) }, output: out,
                          scratch: SizeLimits.product([g.patch, g.positions]).flatMap { c in out.flatMap { SizeLimits.add(c, $0) } })
                let l = Conv2D<T>(g, outChannels: o)
                layers.append(l); shape = l.outputShape
            case let .locallyConnected(o, k, s, p):
                let g = try geometry(kernel: k, stride: s, padding: p)
                let out = SizeLimits.product([o, g.outHeight, g.outWidth])
                try count(parameters: SizeLimits.product([g.positions, o, g.patch]).flatMap { w in out.flatMap { SizeLimits.add(w, $0) } },
                          output: out,
                          scratch: SizeLimits.product([g.patch, g.positions]).flatMap { c in out.flatMap { SizeLimits.add(c, $0) } })
                let l = LocallyConnected2D<T>(g, outChannels: o)
                layers.append(l); shape = l.outputShape
            case let .maxPool(k, s):
                let g = try geometry(kernel: k, stride: s, padding: 0)
                let out = SizeLimits.product([g.channels, g.outHeight, g.outWidth])
                try count(parameters: 0, output: out, scratch: out)
                let l = MaxPool2D<T>(g)
                layers.append(l); shape = l.outputShape
            case let .avgPool(k, s):
                let g = try geometry(kernel: k, stride: s, padding: 0)
                try count(parameters: 0, output: SizeLimits.product([g.channels, g.outHeight, g.outWidth]))
                let l = AvgPool2D<T>(g)
                layers.append(l); shape = l.outputShape
            case .flatten:
                try count(parameters: 0, output: SizeLimits.product(shape))
                let l = Flatten<T>(inputShape: shape)
                layers.append(l); shape = l.outputShape; afterImageLayer = false
            case .dropout(let p):
                let n = SizeLimits.product(shape)
                try count(parameters: 0, output: n, scratch: n)
                layers.append(Dropout<T>(p, shape: shape, stream: index))
            }
        }
        guard let width = SizeLimits.product(shape) else { throw tooLarge }
        if shape.count != 1 || width != outputs {
            throw UserError("model '\(text)' ends with \(shape.count == 1 ? String(width) : describe(shape)) outputs but the task needs \(outputs)" +
                            (shape.count != 1 ? "; end with flatten and linear:\(outputs)" : "; end the widths with \(outputs)"))
        }
        return (layers, Footprint(parameters: parameters, activationsPerSample: perSample))
    }
}
