// UserError: the one error type for failures a user can cause and fix (missing file,
// corrupt data, bad spec, out-of-range hyperparameter, a diverged run). The CLI prints
// `message` and exits non-zero; it never traps. Code that must tell one failure from another
// looks at `kind`, never at the message text.

/// A failure with a message that names the file, key or value at fault and what to do.
public struct UserError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong, for code that handles some failures itself.
    public enum Kind: Sendable, Equatable {
        case general
        /// A training run's loss or gradient became non-finite.
        case diverged
        /// A checkpoint or weights file belongs to another model shape.
        case modelMismatch
    }
    public let message: String
    public let kind: Kind
    public init(_ message: String, kind: Kind = .general) { self.message = message; self.kind = kind }
    public var description: String { message }
}
