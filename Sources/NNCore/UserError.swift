// UserError: the one error type for failures a user can cause and fix (missing file,
// corrupt data, bad spec, out-of-range hyperparameter). The CLI prints `message` and exits
// non-zero; it never traps.

/// A failure with a message that names the file, key or value at fault and what to do.
public struct UserError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
