// BatchSize: the `batch-size` setting — a number of samples, the whole training set, or `auto`.

/// The global batch of a run (summed over all ranks).
///
/// `auto` (the default) is ⌊n/100⌋ clamped to [16, 128] for a training set of n samples: 128 from
/// 12,800 samples on (Fashion-MNIST: 469 steps per epoch), otherwise as many samples as give 100
/// steps per epoch, but never fewer than 16. Small tabular sets then get ~1,000 steps in the
/// default 10 epochs instead of a handful (iris, 112 samples: 7 steps per epoch instead of one
/// full batch), which is what separates reaching scikit-learn's accuracy from missing it by
/// 10 points (docs/performance.md, "Tabular data against scikit-learn").
public enum BatchSize: Sendable, Equatable, Codable, CustomStringConvertible, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    case auto
    /// Full-batch gradient descent.
    case full
    case samples(Int)

    public init(integerLiteral n: Int) { self = .samples(n) }
    /// `nil` is the whole set (as the setting's 'full').
    public init(nilLiteral: ()) { self = .full }

    /// The global batch for a training set of `n` samples (at least 1 when n ≥ 1).
    public func resolve(trainingSamples n: Int) -> Int {
        switch self {
        case .auto: min(n, max(16, min(128, n / 100)))
        case .full: n
        case .samples(let k): min(k, n)
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case .full: "full"
        case .samples(let k): String(k)
        }
    }

    /// The Codable form of checkpoints written before the key table: a number, null (full) or "auto".
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .full }
        else if let n = try? c.decode(Int.self) { self = .samples(n) }
        else {
            let s = try c.decode(String.self)
            guard let v = try? BatchSize.codec.parse(s) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "batch size '\(s)'")
            }
            self = v
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .auto: try c.encode("auto")
        case .full: try c.encodeNil()
        case .samples(let k): try c.encode(k)
        }
    }

    static let codec = SettingCodec<BatchSize>(
        expects: "a positive integer, 'full' or 'auto'",
        parse: { text in
            switch text.trimmed.lowercased() {
            case "auto": return .auto
            case "full": return .full
            default:
                guard let n = Int(text.trimmed) else { throw InvalidSettingText() }
                return .samples(n)
            }
        },
        format: { $0.description })
}
