// StepClock: where a rank's step time goes. One clock per trainer; the exchange strategies
// are handed it and charge the time since the last mark to compute or to communication.
import Foundation

/// Accumulates the seconds of an epoch's steps by phase.
///
/// `charge(.compute)` / `charge(.comm)` add the time since the previous mark to that phase
/// and set a new mark; `wait` additionally counts a part of the communication time as waiting
/// for the slowest rank (comm_wait_seconds ⊂ comm_seconds). `move(_:from:to:)` re-books a
/// measured interval, e.g. GEMMs that run inside an exchange but are compute.
struct StepClock {
    enum Phase { case compute, comm }
    private(set) var compute = 0.0
    private(set) var comm = 0.0
    private(set) var commWait = 0.0
    private var mark = StepClock.now()

    @inline(__always) static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// Zeroes the totals (at the start of an epoch).
    mutating func reset() { compute = 0; comm = 0; commWait = 0; mark = StepClock.now() }

    /// Sets the mark without charging anything (at the start of a step).
    mutating func start() { mark = StepClock.now() }

    /// Charges the time since the mark to `phase`; returns it.
    @discardableResult
    mutating func charge(_ phase: Phase) -> Double {
        let t = StepClock.now(), dt = t - mark
        mark = t
        switch phase {
        case .compute: compute += dt
        case .comm: comm += dt
        }
        return dt
    }

    /// Counts `seconds` of communication time as waiting for other ranks.
    mutating func wait(_ seconds: Double) { commWait += seconds }

    /// Re-books `seconds` from one phase to the other.
    mutating func move(_ seconds: Double, from: Phase, to: Phase) {
        guard from != to else { return }
        if from == .comm { comm -= seconds; compute += seconds } else { compute -= seconds; comm += seconds }
    }
}
