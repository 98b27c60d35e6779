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
    /// Bytes of an anonymous mapping (large zeroed buffers), 0 otherwise.
    private let mappedBytes: Int

    /// Allocates `count` elements set to `value`.
    public init(count: Int, repeating value: Element) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: value, count: count)
        owner = nil
        owns = true
        fromCalloc = false
        mappedBytes = 0
    }

    /// `count` zero bytes' worth of elements from calloc (for trivial numeric types only):
    /// large ones are the kernel's zero pages, resident only once written, so a buffer that is
    /// never used (e.g. private gradients replaced by shared memory) costs no memory.
    ///
    /// From 4 MiB on (parameters, gradients, optimizer state of larger models) the memory is an
    /// anonymous mapping aligned to 2 MiB and advised for transparent huge pages, as numpy does
    /// for its large arrays: an MPI_Allreduce of a 7.5 MB gradient buffer between two ranks of
    /// this machine takes 0.95 ms on huge pages against 2.1–2.6 ms on 4 KiB pages (OpenMPI's
    /// single-copy transfer maps the peer's pages one by one). Still zero pages until written.
    fileprivate init(zeroedCount count: Int) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        owner = nil
        owns = true
        let bytes = max(count, 1) * MemoryLayout<Element>.stride
        #if os(Linux)
        if bytes >= Buffer.hugeThreshold, let p = Buffer.mapHuge(bytes) {
            pointer = p.pointer.bindMemory(to: Element.self, capacity: count)
            mappedBytes = p.bytes
            fromCalloc = false
            return
        }
        #endif
        guard let raw = calloc(max(count, 1), MemoryLayout<Element>.stride) else {
            fatalError("out of memory allocating \(count) × \(MemoryLayout<Element>.stride) bytes")
        }
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        fromCalloc = true
        mappedBytes = 0
    }

    static var hugeThreshold: Int { 4 << 20 }

    #if os(Linux)
    /// An anonymous private mapping of at least `bytes`, starting on a 2 MiB boundary, with
    /// MADV_HUGEPAGE (a hint: without transparent huge pages it is ordinary memory).
    private static func mapHuge(_ bytes: Int) -> (pointer: UnsafeMutableRawPointer, bytes: Int)? {
        let huge = 2 << 20
        let size = (bytes + huge - 1) / huge * huge
        guard let raw = mmap(nil, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { return nil }
        // Trim the mapping to [aligned, aligned + size).
        let start = Int(bitPattern: raw), aligned = (start + huge - 1) / huge * huge
        if aligned > start { munmap(raw, aligned - start) }
        let tail = start + size + huge - (aligned + size)
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + size), tail) }
        let p = UnsafeMutableRawPointer(bitPattern: aligned)!
        _ = madvise(p, size, MADV_HUGEPAGE)
        return (p, size)
    }
    #endif

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
        mappedBytes = 0
    }

    deinit {
        guard owns else { return }
        #if os(Linux)
        if mappedBytes > 0 { munmap(pointer, mappedBytes); return }
        #endif
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
