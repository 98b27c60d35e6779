// Setting: one entry of the key table (ConfigKeys.swift). An entry names a TrainConfig
// property (by key path), the codec between its value and the text a YAML file or a flag
// gives, its help, its range check and where it goes (fingerprint, checkpoint). Everything
// else — flags, help text, YAML keys, `set`, `fingerprintText`, the checkpoint's config —
// is derived from the table.
import Foundation
import NNCore

/// Text ⇄ value for one type of setting.
public struct SettingCodec<T>: @unchecked Sendable {
    /// What a value must look like, for messages: "an integer", "one of fast, exact".
    public let expects: String
    /// The values a choice setting accepts (nil: any text of the right form).
    public let choices: [String]?
    let parse: (String) throws -> T
    let format: (T) -> String

    public init(expects: String, choices: [String]? = nil, parse: @escaping (String) throws -> T, format: @escaping (T) -> String) {
        self.expects = expects; self.choices = choices; self.parse = parse; self.format = format
    }
}

extension SettingCodec where T == Int {
    public static let int = SettingCodec(expects: "an integer", parse: { guard let v = Int($0.trimmed) else { throw InvalidSettingText() }; return v }, format: { String($0) })
}

extension SettingCodec where T == UInt64 {
    public static let uint64 = SettingCodec(expects: "a non-negative integer", parse: { guard let v = UInt64($0.trimmed) else { throw InvalidSettingText() }; return v }, format: { String($0) })
}

extension SettingCodec where T == Double {
    /// A finite number; formatted with the shortest text that reads back to the same Double
    /// ("300", not "300.0").
    public static let double = SettingCodec(expects: "a number", parse: {
        guard let v = Double($0.trimmed), v.isFinite else { throw InvalidSettingText() }; return v
    }, format: { $0 == $0.rounded() && abs($0) < 1e15 ? String(Int64($0)) : "\($0)" })
}

extension SettingCodec where T == Bool {
    public static let bool = SettingCodec(expects: "true or false", choices: ["true", "false"], parse: {
        switch $0.trimmed.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw InvalidSettingText()
        }
    }, format: { $0 ? "true" : "false" })
}

extension SettingCodec where T == String {
    /// Any non-empty text, kept as given.
    public static let text = SettingCodec(expects: "a non-empty value", parse: { guard !$0.isEmpty else { throw InvalidSettingText() }; return $0 }, format: { $0 })

    /// Text that `isValid` accepts (kept as given); `expects` names the accepted forms.
    public static func checked(expects: String, _ isValid: @escaping (String) throws -> Bool) -> SettingCodec {
        SettingCodec(expects: expects, parse: { guard try isValid($0) else { throw InvalidSettingText() }; return $0 }, format: { $0 })
    }

    /// One of `names`, case-insensitive, stored lowercased.
    public static func oneOf(_ names: [String]) -> SettingCodec {
        SettingCodec(expects: "one of \(names.joined(separator: ", "))", choices: names, parse: {
            let v = $0.trimmed.lowercased()
            guard names.contains(v) else { throw InvalidSettingText() }
            return v
        }, format: { $0 })
    }
}

extension SettingCodec where T == [Int] {
    /// Comma-separated integers, e.g. "5,8" (a YAML list arrives joined by commas).
    /// "none" (or nothing) is the empty list.
    public static let intList = SettingCodec(expects: "comma-separated integers, e.g. 5,8", parse: { text in
        if text.trimmed.lowercased() == "none" { return [] }
        return try text.split(separator: ",").map { guard let v = Int(String($0).trimmed) else { throw InvalidSettingText() }; return v }
    }, format: { $0.isEmpty ? "none" : $0.map(String.init).joined(separator: ",") })
}

extension SettingCodec where T: CaseIterable & RawRepresentable, T.RawValue == String {
    /// A choice among an enum's cases, by raw value (case-insensitive): the list in messages,
    /// help and completion comes from `allCases`.
    public static var choice: SettingCodec {
        let names = T.allCases.map(\.rawValue)
        return SettingCodec(expects: "one of \(names.joined(separator: ", "))", choices: names, parse: {
            guard let v = T(rawValue: $0.trimmed.lowercased()) else { throw InvalidSettingText() }
            return v
        }, format: { $0.rawValue })
    }
}

extension SettingCodec {
    /// An optional value: `none` (e.g. "none", "full") stands for nil.
    public static func optional<W>(_ base: SettingCodec<W>, none: String = "none") -> SettingCodec<W?> where T == W? {
        SettingCodec<W?>(expects: "\(base.expects) or '\(none)'", choices: base.choices.map { $0 + [none] }, parse: {
            $0.trimmed.lowercased() == none ? nil : try base.parse($0)
        }, format: { $0.map(base.format) ?? none })
    }
}

/// Thrown by a codec's `parse` when the text is not of the expected form.
struct InvalidSettingText: Error {}

/// A range check of one setting's value: `holds` and the message when it does not ("must be ≥ 1").
public struct SettingCheck<T>: @unchecked Sendable {
    public let holds: (T) -> Bool
    public let requirement: String
    public init(_ requirement: String, _ holds: @escaping (T) -> Bool) { self.requirement = requirement; self.holds = holds }
}

extension SettingCheck where T: Comparable & ExpressibleByIntegerLiteral {
    public static var positive: SettingCheck { SettingCheck("must be > 0") { $0 > 0 } }
    public static func atLeast(_ lo: T, _ note: String = "") -> SettingCheck { SettingCheck("must be ≥ \(lo)\(note)") { $0 >= lo } }
}

/// How a setting is offered for shell completion.
public enum SettingCompletion: Sendable, Equatable {
    case none
    case file(extensions: [String])
    case directory
    case list([String])
}

/// One configuration key: flag `--NAME`, YAML key `NAME`.
public final class Setting: @unchecked Sendable {
    /// The key and flag name, e.g. "batch-size".
    public let name: String
    /// The flag's value placeholder in `--help`, e.g. "n|full".
    public let valueName: String
    /// One line of help, without the default.
    public let help: String
    /// The default as `--help` shows it (the text form of `TrainConfig()`'s value, unless given).
    public let defaultHelp: String
    /// What a value must look like, for messages.
    public let expects: String
    /// The values a choice setting accepts (from its enum's `allCases`), nil for others.
    public let choices: [String]?
    public let completion: SettingCompletion
    /// On the command line a bare flag (`--quiet`) that sets "true"; a YAML key as usual.
    public let isFlag: Bool
    /// Enters the cross-rank fingerprint (ranks must agree on it).
    public let fingerprinted: Bool
    /// Saved in a checkpoint's `config` (what was trained), read back by `evaluate --checkpoint`.
    public let saved: Bool
    /// A change on `--resume` is noted ("settings differ from the checkpoint's").
    public let notedOnResume: Bool

    /// The value of this setting in `c`, in its text form.
    public let text: (TrainConfig) -> String
    /// Sets the value from text; throws `InvalidSettingText`, a UserError, or `Violation`.
    let assign: (inout TrainConfig, String) throws -> Void
    /// The range requirement `c` violates, with the offending value, if any.
    let violation: (TrainConfig) -> Violation?

    init(name: String, valueName: String, help: String, defaultHelp: String, expects: String, choices: [String]?,
         completion: SettingCompletion, isFlag: Bool, fingerprinted: Bool, saved: Bool, notedOnResume: Bool,
         text: @escaping (TrainConfig) -> String, assign: @escaping (inout TrainConfig, String) throws -> Void,
         violation: @escaping (TrainConfig) -> Violation?) {
        self.name = name; self.valueName = valueName; self.help = help; self.defaultHelp = defaultHelp
        self.expects = expects; self.choices = choices; self.completion = completion; self.isFlag = isFlag
        self.fingerprinted = fingerprinted; self.saved = saved; self.notedOnResume = notedOnResume
        self.text = text; self.assign = assign; self.violation = violation
    }

    /// A value outside its range: "must be ≥ 1", got "-1".
    struct Violation: Error { let requirement: String; let value: String }

    /// A setting stored in the property at `path`.
    ///
    /// - Parameters:
    ///   - fingerprinted: false for what may differ between ranks (output paths, this process's resources).
    ///   - saved: false for how a process runs (workers, threads, verbosity), which a checkpoint does not describe.
    ///   - notedOnResume: false for where outputs go and how long to train, which a resumed run changes freely.
    public static func value<T>(_ path: WritableKeyPath<TrainConfig, T>, _ name: String, _ codec: SettingCodec<T>,
                                valueName: String? = nil, help: String, defaultHelp: String? = nil,
                                check: SettingCheck<T>? = nil, completion: SettingCompletion? = nil, isFlag: Bool = false,
                                fingerprinted: Bool = true, saved: Bool = true, notedOnResume: Bool = true) -> Setting {
        custom(name, codec, get: { $0[keyPath: path] }, set: { $0[keyPath: path] = $1 },
               valueName: valueName, help: help, defaultHelp: defaultHelp, check: check, completion: completion,
               isFlag: isFlag, fingerprinted: fingerprinted, saved: saved, notedOnResume: notedOnResume)
    }

    /// An optional setting: the check applies to the value when there is one.
    public static func optional<T>(_ path: WritableKeyPath<TrainConfig, T?>, _ name: String, _ codec: SettingCodec<T>,
                                   none: String = "none", valueName: String? = nil, help: String, defaultHelp: String? = nil,
                                   check: SettingCheck<T>? = nil, completion: SettingCompletion? = nil,
                                   fingerprinted: Bool = true, saved: Bool = true, notedOnResume: Bool = true) -> Setting {
        let wrapped = check.map { c in SettingCheck<T?>(c.requirement) { $0.map(c.holds) ?? true } }
        return value(path, name, .optional(codec, none: none), valueName: valueName, help: help, defaultHelp: defaultHelp,
                     check: wrapped, completion: completion, fingerprinted: fingerprinted, saved: saved, notedOnResume: notedOnResume)
    }

    /// A setting read and written through `get`/`set` (e.g. one key for two properties).
    public static func custom<T>(_ name: String, _ codec: SettingCodec<T>,
                                 get: @escaping (TrainConfig) -> T, set: @escaping (inout TrainConfig, T) -> Void,
                                 valueName: String? = nil, help: String, defaultHelp: String? = nil,
                                 check: SettingCheck<T>? = nil, completion: SettingCompletion? = nil, isFlag: Bool = false,
                                 fingerprinted: Bool = true, saved: Bool = true, notedOnResume: Bool = true) -> Setting {
        let violation: (TrainConfig) -> Violation? = { c in
            guard let check, !check.holds(get(c)) else { return nil }
            return Violation(requirement: check.requirement, value: codec.format(get(c)))
        }
        return Setting(
            name: name, valueName: valueName ?? codec.choices?.joined(separator: "|") ?? "value", help: help,
            defaultHelp: defaultHelp ?? codec.format(get(TrainConfig())), expects: codec.expects, choices: codec.choices,
            completion: completion ?? codec.choices.map { .list($0) } ?? SettingCompletion.none, isFlag: isFlag,
            fingerprinted: fingerprinted, saved: saved, notedOnResume: notedOnResume,
            text: { codec.format(get($0)) },
            assign: { c, text in
                let v = try codec.parse(text)
                if let check, !check.holds(v) { throw Violation(requirement: check.requirement, value: codec.format(v)) }
                set(&c, v)
            },
            violation: violation)
    }

    /// The help line `--help` shows: the help, the choices (unless the help names them all) and the default.
    public var helpLine: String {
        let named = choices.map { $0.allSatisfy { help.contains($0) } } ?? true
        let listed = named || expects == SettingCodec<Bool>.bool.expects ? "" : "one of \(choices?.joined(separator: ", ") ?? ""); "
        return "\(help) (\(listed)default: \(defaultHelp))"
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespaces) }
}
