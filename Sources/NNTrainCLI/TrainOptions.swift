// TrainOptions: the training flags, shared by `train`, `evaluate` and `experiment`. There is
// one flag per entry of the key table (`TrainConfig.settings`), made here from the table: no
// flag is written by hand. Each flag has the same name as its key in a `--config FILE.yaml`;
// flags override the file.
import ArgumentParser
import Foundation
import NNCore
import Training
import Yams

/// Training configuration flags (every one also a YAML key), and `--config FILE`.
///
/// ArgumentParser finds a command's options by reflecting on an instance of its arguments
/// type; this type's mirror lists one `Option<String?>` per setting (a `Flag` for bare flags
/// such as `--quiet`), built from the table, and `init(from:)` decodes them by the same keys.
/// ArgumentParser only collects the text; the table parses and checks it, as for YAML.
struct TrainOptions: ParsableArguments, CustomReflectable {
    /// `--config FILE`: a YAML file of settings.
    var config: String?
    /// (key, value) pairs of the flags given, in table order.
    var overrides: [(String, String)] = []

    init() {}

    var customMirror: Mirror {
        var children: [Mirror.Child] = [(label: "config", value: Option<String?>(
            name: .customLong("config"),
            help: ArgumentHelp("YAML file of settings; keys are the flag names without dashes (e.g. 'batch-size: 256'). Flags override it.", valueName: "file"),
            completion: .file(extensions: ["yaml", "yml"])))]
        for s in TrainConfig.settings {
            if s.isFlag {
                children.append((label: s.name, value: Flag(wrappedValue: false, name: .customLong(s.name), help: ArgumentHelp(s.help + "."))))
            } else {
                // .unconditional: the next word is the value even if it starts with a dash (--blas-threads -1).
                children.append((label: s.name, value: Option<String?>(
                    name: .customLong(s.name), parsing: .unconditional,
                    help: ArgumentHelp(s.helpLine, valueName: s.valueName), completion: s.completion.argumentParser)))
            }
        }
        return Mirror(self, children: children, displayStyle: .struct)
    }

    struct Key: CodingKey {
        var stringValue: String
        init(_ name: String) { stringValue = name }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        config = try c.decode(Option<String?>.self, forKey: Key("config")).wrappedValue
        for s in TrainConfig.settings {
            if s.isFlag {
                if try c.decode(Flag<Bool>.self, forKey: Key(s.name)).wrappedValue { overrides.append((s.name, "true")) }
            } else if let v = try c.decode(Option<String?>.self, forKey: Key(s.name)).wrappedValue {
                overrides.append((s.name, v))
            }
        }
    }

    /// The YAML file's settings, then the flags', each with the source messages name.
    func settings() throws -> [(key: String, value: String, source: String)] {
        var all: [(key: String, value: String, source: String)] = []
        if let path = config { all += try loadYAMLSettings(path).map { (key: $0.key, value: $0.value, source: $0.source) } }
        all += overrides.map { (key: $0.0, value: $0.1, source: "--\($0.0)") }
        return all
    }

    /// Defaults (or `base`), then the YAML file, then the flags; then the whole is validated.
    ///
    /// - Throws: UserError naming the file and key, or the flag, and the value at fault.
    func resolve(base: TrainConfig = TrainConfig()) throws -> TrainConfig {
        var c = base
        for s in try settings() { try c.set(s.key, s.value, source: s.source) }
        try c.validate()
        return c
    }
}

extension SettingCompletion {
    var argumentParser: CompletionKind? {
        switch self {
        case .none: nil
        case .file(let e): .file(extensions: e)
        case .directory: .directory
        case .list(let l): .list(l)
        }
    }
}

/// Reads a flat YAML mapping of settings into (key, text value, source) triples, in file order.
///
/// - Throws: UserError naming the file (and line) when it is missing, not YAML, not a flat
///   mapping, or names a key twice.
func loadYAMLSettings(_ path: String) throws -> [(key: String, value: String, source: String)] {
    guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): file not found") }
    guard let text = String(data: data, encoding: .utf8) else { throw UserError("\(path): not UTF-8 text") }
    let root: Node?
    do { root = try Yams.compose(yaml: text) } catch {
        throw UserError("\(path): not valid YAML: \(error)")
    }
    guard let root else { return [] }
    guard let map = root.mapping else { throw UserError("\(path): expected a mapping of settings (key: value)") }
    func at(_ n: Node) -> String { n.mark.map { "\(path):\($0.line)" } ?? path }
    var seen: [String: Node] = [:]
    var out: [(key: String, value: String, source: String)] = []
    for (k, v) in map {
        guard let key = k.scalar?.string else { throw UserError("\(at(k)): a key must be a plain name") }
        if let first = seen[key] {
            throw UserError("\(at(k)): duplicate key '\(key)' (first given at line \(first.mark?.line ?? 0))")
        }
        seen[key] = k
        let value: String
        switch v {
        case .scalar(let s):
            if s.style == .plain && ["~", "null", "Null", "NULL", ""].contains(s.string) {
                throw UserError("\(at(v)): '\(key)' has no value")
            }
            value = s.string
        case .sequence(let seq):
            let items = seq.map { $0.scalar?.string }
            guard items.allSatisfy({ $0 != nil }) else { throw UserError("\(at(v)): '\(key)' must be a plain value or a list of plain values") }
            value = items.compactMap { $0 }.joined(separator: ",")
        default:
            throw UserError("\(at(v)): '\(key)' must be a plain value, got a mapping")
        }
        out.append((key: key, value: value, source: path))
    }
    return out
}

extension TrainConfig {
    /// The table's `workers`, `blas-threads` and `quiet`, and NNTRAIN_SYNC_BEFORE_ALLREDUCE=1
    /// (a barrier before each allreduce, for measuring).
    var commandLinePlan: RunPlan {
        var p = plan
        p.syncBeforeAllreduce = ProcessInfo.processInfo.environment["NNTRAIN_SYNC_BEFORE_ALLREDUCE"] == "1"
        return p
    }
}
