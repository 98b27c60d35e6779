// Buffer: a fixed-size, heap-allocated, zero-initialised array with a stable address.
// Training code allocates its buffers once and then works through raw pointers, so that
// no step allocates (see docs/architecture.md).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A contiguous array of `count` elements whose storage never moves.
public final class Buffer<Element>: @unchecked Sendable {
    /// The first element. Valid for `count` elements until the buffer is released.
    public let pointer: UnsafeMutablePointer<Element>
    public let count: Int
    /// What keeps borrowed storage alive; nil when the buffer allocated its own.
    private let owner: AnyObject?
    private let owns: Bool
    private let fromCalloc: Bool

    /// Allocates `count` elements set to `value`.
    public init(count: Int, repeating value: Element) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: count)
        owner = nil
        owns = true
        fromCalloc = false
    }

    /// `count` zero bytes' worth of elements from calloc (for trivial numeric types only):
    /// large ones are the kernel's zero pages, resident only once written, so a buffer that is
    /// never used (e.g. private gradients replaced by shared memory) costs no memory.
    fileprivate init(zeroedCount count: Int) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        guard let raw = calloc(max(count, 1), MemoryLayout<Element>.stride) else {
            fatalError("out of memory allocating \(count) × \(MemoryLayout<Element>.stride) bytes")
        }
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        owner = nil
        owns = true
        fromCalloc = true
    }

    /// A view of `count` elements of memory allocated elsewhere (e.g. shared with other
    /// processes); `owner` is retained as long as the buffer lives, but memory its owner
    /// releases explicitly (NodeSharedMemory.release) is gone whatever views remain. Nothing
    /// is freed here.
    public init(borrowing pointer: UnsafeMutablePointer<Element>, count: Int, owner: AnyObject?) {
        self.pointer = pointer
        self.count = count
        self.owner = owner
        owns = false
        fromCalloc = false
    }

    deinit {
        guard owns else { return }
        if fromCalloc { free(pointer); return }
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
    /// `count` zeros (calloc: untouched pages cost no resident memory).
    public convenience init(count: Int) { self.init(zeroedCount: count) }
    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }
}
