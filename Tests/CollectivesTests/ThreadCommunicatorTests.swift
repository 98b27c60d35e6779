// The in-process communicator: collectives agree with their definitions, and a failing
// worker wakes the others instead of leaving them waiting.
import Foundation
import Testing
@testable import Collectives

/// Runs `body` on `n` ranks as threads; returns each rank's result.
func onThreads<R>(_ n: Int, stallTimeout: Double = 0, _ body: @escaping (ThreadCommunicator) throws -> R) -> [Result<R, Error>] {
    let comms = ThreadGroup(size: n, stallTimeout: stallTimeout).communicators()
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

    @Test(arguments: [1, 2, 3, 4])
    func allToAllSendsBlockJToRankJ(_ n: Int) throws {
        // Rank r's block j holds 100·r + j (3 Int32 each): rank j receives, in block r, 100·r + j.
        let results = onThreads(n) { c -> [Int32] in
            let sent = (0..<n).flatMap { j in [Int32](repeating: Int32(100 * c.rank + j), count: 3) }
            var got = [Int32](repeating: -1, count: 3 * n)
            try sent.withUnsafeBytes { s in try got.withUnsafeMutableBytes { try c.allToAll(s, $0) } }
            return got
        }
        for (j, r) in results.enumerated() {
            #expect(try r.get() == (0..<n).flatMap { r in [Int32](repeating: Int32(100 * r + j), count: 3) })
        }
    }

    @Test func mpiCountsBeyondInt32AreErrorsNamingTheCall() throws {
        #expect(try mpiCount(Int(Int32.max), "MPI_Allgather") == Int32.max)
        #expect { try mpiCount(Int(Int32.max) + 1, "MPI_Allgather") } throws: { e in
            (e as? CommunicatorError)?.message == "MPI_Allgather: 2147483648 elements exceed MPI's count limit of 2147483647"
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

@Suite struct NodeSharedMemoryTests {
    @Test(arguments: [2, 3, 4])
    func sharesPartitionTheBufferOnCacheLines(_ n: Int) throws {
        let results = onThreads(n) { c -> [Range<Int>] in
            let m = try #require(try c.nodeSharedMemory(sharedCount: 10, slotCount: 20))
            defer { try? m.release() }
            return [1, 15, 16, 1000, 1_863_694].map { m.share(of: $0, rank: c.rank) }
        }
        let shares = try results.map { try $0.get() }
        for (k, count) in [1, 15, 16, 1000, 1_863_694].enumerated() {
            var next = 0
            for r in 0..<n {
                let s = shares[r][k]
                #expect(s.lowerBound == min(next, count), "count \(count) rank \(r): \(s)")
                #expect(s.lowerBound % 16 == 0 || s.isEmpty)
                next = s.upperBound
            }
            #expect(next == count)
        }
    }

    @Test func slotsAndSharedPartAreOneMemoryForAllRanks() throws {
        let n = 3
        let results = onThreads(n) { c -> [Float] in
            let m = try #require(try c.nodeSharedMemory(sharedCount: 5, slotCount: 7))
            #expect(m.localRank == c.rank && m.localSize == n && m.nodes == 1 && !m.spansNodes)
            for i in 0..<7 { m.slot(c.rank)[i] = Float(10 * c.rank + i) }
            if c.rank == 0 { for i in 0..<5 { m.shared[i] = Float(100 + i) } }
            try m.barrier()
            // Every rank reads every slot and the shared part; the owner of i holds element i.
            var seen: [Float] = (0..<n).flatMap { r in (0..<7).map { m.slot(r)[$0] } } + (0..<5).map { m.shared[$0] }
            seen.append(Float(m.owner(of: 6, count: 7)))
            try m.barrier()
            try m.release()
            return seen
        }
        let expected: [Float] = (0..<n).flatMap { r in (0..<7).map { Float(10 * r + $0) } } + (0..<5).map { Float(100 + $0) } + [0]
        for r in results { #expect(try r.get() == expected) }
    }

    @Test func oneRankHasNoSharedMemory() throws {
        let r = onThreads(1) { c in try c.nodeSharedMemory(sharedCount: 4, slotCount: 4) == nil }
        #expect(try r[0].get())
    }
}
