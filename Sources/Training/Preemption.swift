// Preemption: SIGTERM and SIGINT (what SLURM and Ctrl-C send) ask the run to stop after the
// current step and write a checkpoint. The handlers only bump an atomic counter; the trainer
// polls it once per step and the stop flag rides in the gradient allreduce, so every rank
// stops after the same step. A second SIGINT ends the process at once (exit status 130).
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Signals received since `Preemption.install()` (read by the trainer's `stopRequested`).
private let preemptionSignals = Atomic<Int>(0)
private let interruptSignals = Atomic<Int>(0)

/// Graceful stop on SIGTERM / SIGINT.
public enum Preemption {
    /// Installs the handlers (idempotent).
    public static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { sig in
            if sig == SIGINT {
                let n = interruptSignals.add(1, ordering: .relaxed).newValue
                if n >= 2 {
                    let msg: StaticString = "\nnntrain: second interrupt, exiting now without a checkpoint\n"
                    _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
                    _exit(130)
                }
            }
            preemptionSignals.add(1, ordering: .relaxed)
            let msg: StaticString = "\nnntrain: signal received, stopping after this step and writing a checkpoint (a second Ctrl-C exits at once)\n"
            _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGINT, &action, nil)
    }

    /// True once a SIGTERM or SIGINT has arrived.
    public static var requested: Bool { preemptionSignals.load(ordering: .relaxed) > 0 }
}
