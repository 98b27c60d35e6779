// Stalled ranks with in-process workers: a worker that stops calling collectives makes the
// others throw a StallError naming it once the stall timeout passes; slow but progressing
// workers, and a worker working alone, do not.
import Foundation
import Testing
@testable import Collectives

@Suite struct StallTests {
    /// Seconds since `start`.
    static func since(_ start: Date) -> Double { Date().timeIntervalSince(start) }

    @Test func workerThatStopsIsNamedByTheOthers() throws {
        let release = DispatchSemaphore(value: 0)
        let timeout = 0.4
        let results = onThreads(3, stallTimeout: timeout) { c -> Double in
            for s in 1...3 {
                c.note(step: s)
                var b: [Float] = [1, 2]
                try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
            }
            if c.rank == 2 {
                release.wait()   // stops calling collectives until the others have given up
            }
            c.note(step: 4)
            var b: [Float] = [1]
            do {
                try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
            } catch {
                if c.rank != 2 { release.signal() }
                throw error
            }
            return 0
        }
        for r in 0..<2 {
            guard case .failure(let e) = results[r] else { Issue.record("rank \(r) did not fail"); continue }
            let stall = try #require(e as? StallError, "rank \(r) threw \(e)")
            #expect(stall.missing == [2])
            #expect(stall.collective == 4)   // three allreduces done, the fourth never completed
            #expect(stall.step == 4)
            #expect(stall.seconds >= timeout)
            #expect(stall.description.contains("rank 2 never arrived at collective 4 (step 4)"))
            #expect(stall.description.contains("rank 2 is at step 3, outside any collective"))
        }
        // The stalled worker, let go, finds the group failed instead of waiting forever.
        guard case .failure(let e2) = results[2] else { Issue.record("rank 2 did not fail"); return }
        #expect(e2 is StallError)
    }

    @Test func theStallIsDeclaredSoonAfterTheTimeout() throws {
        let release = DispatchSemaphore(value: 0)
        let timeout = 0.3
        let t0 = Date()
        let results = onThreads(2, stallTimeout: timeout) { c -> Double in
            if c.rank == 1 { release.wait(); throw CommunicatorError("released") }
            defer { release.signal() }
            do { try c.barrier() } catch { return StallTests.since(t0) }
            return -1
        }
        let waited = try results[0].get()
        #expect(waited >= timeout)
        #expect(waited < timeout + 2, "declared after \(waited) s with a \(timeout) s timeout")
    }

    @Test func slowButProgressingWorkersDoNotStall() throws {
        // Each wait is shorter than the timeout; together they are several times longer.
        let timeout = 0.5
        let t0 = Date()
        let results = onThreads(3, stallTimeout: timeout) { c -> Int in
            for k in 0..<8 {
                if c.rank == k % 3 { usleep(200_000) }
                var b: [Double] = [Double(c.rank)]
                try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
                #expect(b == [3])
            }
            return 1
        }
        #expect(StallTests.since(t0) > 2 * timeout)
        for r in results { #expect(try r.get() == 1) }
    }

    @Test func workerWorkingAloneIsWaitedFor() throws {
        // Rank 0 "writes a checkpoint" for three timeouts while the others wait at a barrier.
        let timeout = 0.3
        let results = onThreads(3, stallTimeout: timeout) { c -> Int in
            if c.rank == 0 { c.stallWatch.alone { usleep(1_000_000) } }
            try c.barrier()
            return 1
        }
        for r in results { #expect(try r.get() == 1) }
    }

    @Test func noTimeoutWaitsAsLongAsItTakes() throws {
        let results = onThreads(2) { c -> Int in
            if c.rank == 1 { usleep(300_000) }
            try c.barrier()
            return c.stallWatch.snapshot.completed
        }
        for r in results { #expect(try r.get() == 1) }
    }

    @Test func countersFollowTheCollectives() throws {
        let w = StallWatch()
        #expect(!w.snapshot.inside)
        let inside = w.collective { w.snapshot }
        #expect(inside.inside && inside.entered == 1 && inside.completed == 0)
        let side = w.sideCollective { w.snapshot }
        #expect(side.inside && side.entered == 1 && side.completed == 1 && side.sideEntered == 1)
        w.note(step: 7)
        #expect(w.snapshot == StallSnapshot(entered: 1, completed: 1, sideEntered: 1, sideCompleted: 1, step: 7, alone: false))
        #expect(w.alone { w.snapshot.alone } && !w.snapshot.alone)
    }
}
