// The in-process communicator: collectives agree with their definitions, and a failing
// worker wakes the others instead of leaving them waiting.
import Foundation
import Testing
@testable import Collectives

/// Runs `body` on `n` ranks as threads; returns each rank's result.
func onThreads<R>(_ n: Int, _ body: @escaping (ThreadCommunicator) throws -> R) -> [Result<R, Error>] {
    let comms = ThreadGroup(size: n).communicators()
    let lock = NSLock()
    var out = [Result<R, Error>?](repeating: nil, count: n)
    let g = DispatchGroup()
    for r in 0..<n {
        g.enter()
        Thread {
            let v = Result { try body(comms[r]) }
            if case .failure(let e) = v { comms[r].group.fail("\(e)") }
            lock.lock(); out[r] = v; lock.unlock()
            g.leave()
        }.start()
    }
    g.wait()
    return out.map { $0! }
}

@Suite struct ThreadCommunicatorTests {
    @Test(arguments: [1, 2, 3, 4])
    func allReduceSumFloat(_ n: Int) throws {
        let results = onThreads(n) { c -> [Float] in
            var b = (0..<1001).map { Float($0 * (c.rank + 1)) }
            try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
            return b
        }
        let factor = Float(n * (n + 1) / 2)
        for r in results { #expect(try r.get() == (0..<1001).map { Float($0) * factor }) }
    }

    @Test func int64AndMaxAndBroadcastAndGather() throws {
        let results = onThreads(3) { c -> ([Int64], [Double], [Double], [UInt64]) in
            var i: [Int64] = [Int64(c.rank), 1 << 40]
            try i.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
            var m: [Double] = [Double(c.rank), -Double(c.rank)]
            try m.withUnsafeMutableBufferPointer { try c.allReduceMax($0) }
            var b: [Double] = c.rank == 1 ? [3.5, 4.5] : [0, 0]
            try b.withUnsafeMutableBytes { try c.broadcast($0, root: 1) }
            let g = try c.allGather(UInt64(10 + c.rank))
            return (i, m, b, g)
        }
        for r in results {
            let (i, m, b, g) = try r.get()
            #expect(i == [3, 3 << 40])
            #expect(m == [2, 0])
            #expect(b == [3.5, 4.5])
            #expect(g == [10, 11, 12])
        }
    }

    @Test func fixedReductionOrderIsReproducible() throws {
        func run() -> [Float] {
            let rs = onThreads(4) { c -> [Float] in
                var b = (0..<64).map { Float(1) / Float($0 + c.rank * 7 + 1) }
                try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }
                return b
            }
            return try! rs[0].get()
        }
        #expect(run() == run())
    }

    @Test func failingRankWakesTheOthers() {
        struct Boom: Error {}
        let results = onThreads(3) { c -> Int in
            if c.rank == 2 { throw Boom() }
            var b: [Float] = [1]
            try b.withUnsafeMutableBufferPointer { try c.allReduceSum($0) }   // would wait forever
            return 0
        }
        #expect(results.allSatisfy { if case .failure = $0 { true } else { false } })
        if case .failure(let e) = results[0] { #expect("\(e)".contains("another worker failed")) }
    }

    @Test func singleIsIdentity() throws {
        let s = SingleCommunicator()
        var b: [Float] = [1, 2]
        try b.withUnsafeMutableBufferPointer { try s.allReduceSum($0) }
        #expect(b == [1, 2] && s.size == 1 && s.rank == 0)
    }
}
