// CollectiveThread: a rank's second thread, which runs the allreduces an exchange hands it in
// the order they were handed, while the rank's main thread goes on computing.
//
// Why a thread: OpenMPI 4.1 has no asynchronous progress. A non-blocking MPI_Iallreduce only
// advances inside MPI calls, so one started before a GEMM would sit still until the GEMM
// ends; a thread inside a blocking MPI_Allreduce keeps the sockets moving the whole time (as
// Horovod's background thread and DDP's gloo threads do). It spins while it waits (OpenMPI's
// progress loop), so it needs a core of its own: polling MPI_Iallreduce with 50 µs sleeps
// instead was measured slower at 1 and 10 Gbit/s (docs/performance.md). Every rank submits the same
// buffers' sizes in the same order, so the sequence of collectives is the same on all ranks,
// and the main thread calls no collective of its own between the first `submit` and `wait`.
// That needs MPI_THREAD_MULTIPLE (`Communicator.collectivesFromAnyThread`).
import Collectives
import Foundation

final class CollectiveThread: @unchecked Sendable {
    /// The queue and its state, shared with the thread (which holds no reference to the owner,
    /// so a dropped owner stops it through `deinit`).
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var queue: [UnsafeMutableBufferPointer<Float>] = []
        /// Submitted and not yet finished (under `condition`).
        var pending = 0
        /// The first collective that failed; later ones are skipped, `wait` throws it.
        var error: Error?
        var stopping = false
    }
    private let state = State()
    let comm: Communicator

    init(comm: Communicator) {
        self.comm = comm
        let state = self.state
        let thread = Thread { [comm] in
            while true {
                state.condition.lock()
                while state.queue.isEmpty && !state.stopping { state.condition.wait() }
                if state.queue.isEmpty { state.condition.unlock(); return }
                let buffer = state.queue.removeFirst()
                let failed = state.error != nil
                state.condition.unlock()
                var error: Error?
                if !failed { do { try comm.allReduceSum(buffer) } catch let e { error = e } }
                state.condition.lock()
                if state.error == nil, let error { state.error = error }
                state.pending -= 1
                state.condition.broadcast()
                state.condition.unlock()
            }
        }
        thread.name = "nntrain-collectives"
        thread.start()
    }

    deinit { stop() }

    /// Queues an in-place sum of `buffer` over the ranks. The caller must not touch the
    /// buffer until `wait` returns.
    func submit(_ buffer: UnsafeMutableBufferPointer<Float>) {
        state.condition.lock()
        state.queue.append(buffer)
        state.pending += 1
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// Blocks until every submitted sum has finished; throws the first failure (after which
    /// the run cannot go on: the ranks' collective sequences may have parted).
    func wait() throws {
        state.condition.lock()
        defer { state.condition.unlock() }
        while state.pending > 0 { state.condition.wait() }
        if let e = state.error { throw e }
    }

    /// Ends the thread once its queue is empty (idempotent).
    func stop() {
        state.condition.lock()
        state.stopping = true
        state.condition.broadcast()
        state.condition.unlock()
    }
}
