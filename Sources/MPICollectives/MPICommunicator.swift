// MPICommunicator: the Communicator over OpenMPI's MPI_COMM_WORLD.
// Every MPI return code is checked; MPI errors are set to return (not abort) so that a
// failure becomes a Swift error carrying MPI_Error_string.
import CMPI
import Collectives
import Foundation

/// MPI collectives on MPI_COMM_WORLD. Create one per process, after nothing else touched MPI.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public var kind: String { "mpi" }
    private let comm = cmpi_comm_world()

    /// Whether this process was started by OpenMPI's mpirun (OMPI_COMM_WORLD_SIZE is set).
    public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Initializes MPI (MPI_Init_thread with MPI_THREAD_FUNNELED) and reads rank and size.
    public init() throws {
        var provided: Int32 = 0
        try MPICommunicator.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        try MPICommunicator.check(MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try MPICommunicator.check(MPI_Comm_rank(cmpi_comm_world(), &r), "MPI_Comm_rank")
        try MPICommunicator.check(MPI_Comm_size(cmpi_comm_world(), &s), "MPI_Comm_size")
        rank = Int(r); size = Int(s)
    }

    /// Finalizes MPI (call once, at the end of a successful run).
    public func finalize() { _ = MPI_Finalize() }

    /// Throws a CommunicatorError with MPI_Error_string when `code` is not MPI_SUCCESS.
    static func check(_ code: Int32, _ what: String) throws {
        guard code != cmpi_success() else { return }
        var buf = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var len: Int32 = 0
        _ = MPI_Error_string(code, &buf, &len)
        let message = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        throw CommunicatorError("\(what) failed: \(message) (MPI error \(code))")
    }

    private func allReduce(_ p: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype?, _ op: MPI_Op?, _ what: String) throws {
        guard size > 1, count > 0 else { return }
        try MPICommunicator.check(MPI_Allreduce(cmpi_in_place(), p, Int32(count), type, op, comm), what)
    }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_float(), cmpi_op_sum(), "MPI_Allreduce(float, sum)")
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_double(), cmpi_op_sum(), "MPI_Allreduce(double, sum)")
    }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_int64(), cmpi_op_sum(), "MPI_Allreduce(int64, sum)")
    }
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), buffer.count, cmpi_double(), cmpi_op_max(), "MPI_Allreduce(double, max)")
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard size > 1, buffer.count > 0 else { return }
        try MPICommunicator.check(MPI_Bcast(buffer.baseAddress, Int32(buffer.count), cmpi_byte(), Int32(root), comm), "MPI_Bcast")
    }

    public func allGather(_ sent: UnsafeRawBufferPointer, _ received: UnsafeMutableRawBufferPointer) throws {
        precondition(received.count == sent.count * size, "allGather: received must hold size × sent bytes")
        if size == 1 { received.copyMemory(from: sent); return }
        try MPICommunicator.check(MPI_Allgather(sent.baseAddress, Int32(sent.count), cmpi_byte(),
                                                received.baseAddress, Int32(sent.count), cmpi_byte(), comm), "MPI_Allgather")
    }

    public func barrier() throws { try MPICommunicator.check(MPI_Barrier(comm), "MPI_Barrier") }

    /// Prints the message (prefixed with the rank) and calls MPI_Abort, which ends every rank.
    public func abort(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("nntrain: error (rank \(rank) of \(size)): \(message)\n".utf8))
        _ = MPI_Abort(comm, code)
        exit(code)
    }

    /// Number of ranks on this node (OMPI_COMM_WORLD_LOCAL_SIZE), 1 if unknown.
    public static var localSize: Int {
        Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? 1
    }
}
