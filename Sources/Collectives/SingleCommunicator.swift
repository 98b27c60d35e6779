// SingleCommunicator: the group of one. Every collective is the identity.
#if canImport(Glibc)
import Glibc
#endif

/// A communicator with one rank; collectives return their input.
public final class SingleCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var kind: String { "single" }
    public let stallWatch = StallWatch()
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        received.copyMemory(from: sent)
    }
    public func allToAll(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        received.copyMemory(from: sent)
    }
    public func barrier() throws {}
    public func abort(_ message: String, code: Int32) -> Never {
        fputs("nntrain: error: \(message)\n", stderr)
        exit(code)
    }
}
