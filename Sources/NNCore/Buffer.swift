// Buffer: a fixed-size, heap-allocated, zero-initialised array with a stable address.
// Training code allocates its buffers once and then works through raw pointers, so that
// no step allocates (see docs/architecture.md).

/// A contiguous array of `count` elements whose storage never moves.
public final class Buffer<Element>: @unchecked Sendable {
    /// The first element. Valid for `count` elements until the buffer is released.
    public let pointer: UnsafeMutablePointer<Element>
    public let count: Int
    /// What keeps borrowed storage alive; nil when the buffer allocated its own.
    private let owner: AnyObject?
    private let owns: Bool

    /// Allocates `count` elements set to `value`.
    public init(count: Int, repeating value: Element) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: count)
        owner = nil
        owns = true
    }

    /// A view of `count` elements of memory allocated elsewhere (e.g. shared with other
    /// processes); `owner` is retained as long as the buffer lives. Nothing is freed here.
    public init(borrowing pointer: UnsafeMutablePointer<Element>, count: Int, owner: AnyObject?) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        owns = false
    }

    deinit {
        guard owns else { return }
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }

    public var buffer: UnsafeMutableBufferPointer<Element> { .init(start: pointer, count: count) }

    public subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// A copy of the contents as a Swift array (for tests and files, not hot loops).
    public var array: [Element] { Array(buffer) }
}

extension Buffer where Element: Numeric {
    public convenience init(count: Int) { self.init(count: count, repeating: 0) }
    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }
}
