// ModelSpec: the small language that names a network on the command line or in YAML.
//
//   linear                       one Linear layer, inputs → outputs (a linear classifier)
//   mlp:784-1024-1024-10         Linear layers of these widths with the chosen activation between
//   lenet5                       LeNet-5 (see Conv2D.swift), when conv layers are available
//   layers:linear:120,tanh,linear:10   an explicit list; widths of the first input come from the data
import Foundation
import NNCore

/// A parsed model description, buildable in any scalar type.
public struct ModelSpec: Sendable, Equatable, CustomStringConvertible {
    /// One layer of an explicit list.
    public enum Item: Sendable, Equatable {
        case linear(Int)
        case activation(Activation?)   // nil: the run's default activation
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

    /// An input shape to use when nothing else gives one (gradient checks).
    public var defaultInputShape: [Int] { [declaredInput ?? 6] }

    /// Parses `text`; throws a UserError naming the bad part.
    public init(parsing text: String) throws {
        self.text = text
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        if lower == "linear" {
            items = [.linear(-1)]; declaredInput = nil
        } else if lower.hasPrefix("mlp:") {
            let widths = lower.dropFirst(4).split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard widths.count >= 2, widths.allSatisfy({ $0 != nil && $0! > 0 }) else {
                throw UserError("model '\(text)': mlp needs positive widths joined by '-', input first and classes last, e.g. mlp:784-1024-1024-10")
            }
            let w = widths.map { $0! }
            var its: [Item] = []
            for k in 1..<w.count {
                its.append(.linear(w[k]))
                if k < w.count - 1 { its.append(.activation(nil)) }
            }
            items = its; declaredInput = w[0]
        } else if lower.hasPrefix("layers:") {
            var its: [Item] = []
            for part in lower.dropFirst(7).split(separator: ",") {
                let p = String(part)
                if p.hasPrefix("linear:"), let n = Int(p.dropFirst(7)), n > 0 { its.append(.linear(n)) }
                else if p == "act" || p == "activation" { its.append(.activation(nil)) }
                else if let a = Activation(parsing: p) { its.append(.activation(a)) }
                else { throw UserError("model '\(text)': unknown layer '\(p)'; use linear:N or one of \(Activation.allNames)") }
            }
            guard !its.isEmpty else { throw UserError("model '\(text)': no layers listed") }
            items = its; declaredInput = nil
        } else {
            throw UserError("unknown model '\(text)'; use linear, mlp:IN-H1-...-OUT (e.g. mlp:784-1024-1024-10) or layers:linear:N,relu,...")
        }
    }

    /// Builds the network for inputs of `inputShape` and `outputs` outputs.
    ///
    /// - Throws: UserError when the spec's widths do not fit the data.
    public func build<T: NNScalar>(_: T.Type = T.self, inputShape: [Int], outputs: Int,
                                   activation: Activation, gradientTail: Int = 0) throws -> Sequential<T> {
        let inputs = inputShape.reduce(1, *)
        if let d = declaredInput, d != inputs {
            throw UserError("model '\(text)' takes \(d) inputs but the data has \(inputs) features; start the widths with \(inputs)")
        }
        var layers: [any Layer<T>] = []
        var width = inputs
        for item in items {
            switch item {
            case .linear(let n):
                let out = n < 0 ? outputs : n
                layers.append(Linear<T>(width, out)); width = out
            case .activation(let a):
                layers.append(ActivationLayer<T>(a ?? activation, shape: [width]))
            }
        }
        if width != outputs {
            throw UserError("model '\(text)' ends with \(width) outputs but the task needs \(outputs); end the widths with \(outputs)")
        }
        return Sequential(layers, gradientTail: gradientTail)
    }
}
