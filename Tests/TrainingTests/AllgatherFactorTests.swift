// The cross-node sufficient-factor exchange: N ranks that share no memory allgather the
// Linear layers' factors and each forms the global batch's weight gradients; the result is
// one process's update up to float rounding, and its cost model picks the layers it should.
import Foundation
import Testing
@testable import Training
import Collectives
import NNCore
import NNData

/// A communicator that forwards everything but node shared memory: ranks on nodes of one rank each.
class NoSharedMemory: Communicator {
    let inner: Communicator
    init(_ inner: Communicator) { self.inner = inner }
    var rank: Int { inner.rank }
    var size: Int { inner.size }
    var kind: String { inner.kind }
    func allReduceSum(_ b: UnsafeMutableBufferPointer<Float>) throws { try inner.allReduceSum(b) }
    func allReduceSum(_ b: UnsafeMutableBufferPointer<Double>) throws { try inner.allReduceSum(b) }
    func allReduceSum(_ b: UnsafeMutableBufferPointer<Int64>) throws { try inner.allReduceSum(b) }
    func allReduceMax(_ b: UnsafeMutableBufferPointer<Double>) throws { try inner.allReduceMax(b) }
    func broadcast(_ b: UnsafeMutableRawBufferPointer, root: Int) throws { try inner.broadcast(b, root: root) }
    func allGather(_ s: UnsafeRawBufferPointer, _ r: UnsafeMutableRawBufferPointer) throws { try inner.allGather(s, r) }
    func allToAll(_ s: UnsafeRawBufferPointer, _ r: UnsafeMutableRawBufferPointer) throws { try inner.allToAll(s, r) }
    func startAllGather(_ s: UnsafeRawBufferPointer, _ r: UnsafeMutableRawBufferPointer) throws -> PendingCollective { try inner.startAllGather(s, r) }
    func barrier() throws { try inner.barrier() }
    func abort(_ message: String, code: Int32) -> Never { inner.abort(message, code: code) }
}

/// Ranks on nodes of one rank each whose started allgathers run only at `wait`: until then
/// the received bytes are NaN and the sent bytes are not yet read. An exchange that reads a
/// block before waiting for it, or changes what it sent after starting, computes other numbers.
final class DeferredAllGather: NoSharedMemory {
    /// Allgathers started and waited for (every rank the same).
    var started = 0, waited = 0

    final class Deferred: PendingCollective {
        let owner: DeferredAllGather, sent: UnsafeRawBufferPointer, received: UnsafeMutableRawBufferPointer
        var done = false
        init(_ owner: DeferredAllGather, _ s: UnsafeRawBufferPointer, _ r: UnsafeMutableRawBufferPointer) { self.owner = owner; sent = s; received = r }
        func test() throws -> Bool { done }
        func wait() throws {
            guard !done else { return }
            try owner.inner.allGather(sent, received)
            done = true; owner.waited += 1
        }
    }
    override func startAllGather(_ s: UnsafeRawBufferPointer, _ r: UnsafeMutableRawBufferPointer) throws -> PendingCollective {
        r.withMemoryRebound(to: UInt8.self) { $0.update(repeating: 0xFF) }
        started += 1
        return Deferred(self, s, r)
    }
}

@Suite(.serialized) struct AllgatherFactorTests {
    @Test func allgathersInFlightGiveTheBitsOfBlockingOnes() throws {
        // The factor layers' allgathers start during backward and are waited for in reduce:
        // run as late as possible (at `wait`, NaN until then), they must give the same
        // parameters, bit for bit, as allgathers that finish when they start; 2 and 3 ranks,
        // uncompressed and bf16. One allgather per factor layer and step with --factor-overlap
        // on, one per step with off. On and off agree within float rounding, not to the bit: the
        // same sums in the same order, but `on` cuts the GEMMs into blocks between its polls,
        // and OpenBLAS's Zen kernels round a blocked GEMM differently in the last bit.
        // With --factor-form rows each layer's rows go in one more allgather, started as soon
        // as they are formed and waited for at the end of reduce.
        let data = try DataParallelTests.fashion.get()
        var off: [Float]? = nil
        for (compress, n, overlap, form) in [(Compression.none, 2, FactorOverlap.on, FactorForm.whole), (.none, 2, .off, .whole), (.none, 3, .on, .whole),
                                             (.bf16, 2, .on, .whole), (.bf16, 3, .on, .whole), (.none, 2, .on, .rows), (.none, 3, .off, .rows)] {
            do {
                var c = DataParallelTests.factorConfig(); c.exchange = .factors; c.compress = compress; c.momentum = 0.9
                c.factorOverlap = overlap; c.factorForm = form
                let (p0, _) = try runOnRanks(RunPlan(workers: n, blasThreads: 1, quiet: true)) { comm in
                    let t = try Trainer(config: c, data: data, comm: NoSharedMemory(comm))
                    _ = try t.run()
                    return (t.model.parameters.array, 0)
                }
                let (p1, counts) = try runOnRanks(RunPlan(workers: n, blasThreads: 1, quiet: true)) { comm in
                    let d = DeferredAllGather(comm)
                    let t = try Trainer(config: c, data: data, comm: d)
                    let done = try t.run()
                    return (t.model.parameters.array, (d.started, d.waited, done.steps))
                }
                #expect(p1 == p0, "\(compress) \(n) ranks \(overlap) \(form): parameters differ")
                #expect(counts.0 == ((overlap == .on ? 3 : 1) + (form == .rows ? 3 : 0)) * counts.2 && counts.1 == counts.0, "\(counts)")
                if compress == .none && n == 2 && form == .whole {
                    if let off { #expect(relativeDifference(p1, off) <= 1e-5, "overlap on and off: relative difference \(relativeDifference(p1, off))") } else { off = p1 }
                }
            }
        }
    }


    @Test func forcedFactorsMatchOneProcess() throws {
        // Every layer by factors (--exchange factors), for 2, 3 and 4 ranks: uneven slices and
        // the uneven last batch of 40; momentum + L2, and Adam.
        let data = try DataParallelTests.fashion.get()
        var sgd = DataParallelTests.factorConfig(); sgd.momentum = 0.9; sgd.l2 = 1e-4; sgd.steps = 40
        var adam = DataParallelTests.factorConfig(); adam.optimizer = .adam; adam.momentum = 0; adam.lr = 1e-3
        for c0 in [sgd, adam] {
            let (ref, refDone, refState) = try trainWithState(c0, workers: 1, data: data)
            for n in [2, 3, 4] {
                var c = c0
                c.exchange = .factors; c.factorForm = .whole
                // `auto` decides the overlap from a timed link probe (a slow TSan build can
                // cross its 5 ms threshold): pin it, so the label below is the code's, not the clock's.
                c.factorOverlap = .off
                let (f, fd, fState) = try trainWithState(c, workers: n, data: data)
                let tol = c.optimizer == .adam ? 1e-4 : 1e-5
                #expect(fd.exchange == "factors \(n)x1 (allgather 3/3 layers)")
                #expect(relativeDifference(f, ref) <= tol, "\(c.optimizer) ranks \(n): relative difference \(relativeDifference(f, ref))")
                for (s, r) in zip(fState, refState) { #expect(relativeDifference(s, r) <= 1e-4) }
                #expect(abs(fd.train_loss! - refDone.train_loss!) <= 1e-5 * abs(refDone.train_loss!))
                #expect(fd.steps == c.steps)
            }
        }
    }

    @Test func withoutSharedMemoryTheDefaultUsesTheCostModel() throws {
        // `shared` (the default) on ranks that share no memory: the factor exchange with the
        // layers the measured cost model picks (whatever it picks, the update is one process's).
        let data = try DataParallelTests.fashion.get()
        let c = DataParallelTests.factorConfig()
        let (ref, _) = try trainParameters(c, workers: 1, data: data)
        let (p, done) = try runOnRanks(RunPlan(workers: 2, blasThreads: 1, quiet: true)) { comm in
            let t = try Trainer(config: c, data: data, comm: NoSharedMemory(comm))
            let done = try t.run()
            return (t.model.parameters.array, done)
        }
        #expect(done.exchange.hasPrefix("factors 2x1") || done.exchange == "allreduce")
        #expect(relativeDifference(p, ref) <= 1e-5, "relative difference \(relativeDifference(p, ref))")
    }

    @Test func oneFactorLayerHasNothingToOverlap() throws {
        // A linear classifier (one Linear layer) by factors with --factor-overlap on: its one
        // allgather can only start after backward, so the run is the blocking exchange: one
        // allgather a step, a label without "overlapped", and the bits of `off`.
        let data = try DataParallelTests.fashion.get()
        var params: [FactorOverlap: [Float]] = [:]
        for overlap in [FactorOverlap.on, .off] {
            var c = DataParallelTests.factorConfig(); c.model = "linear"; c.exchange = .factors; c.factorOverlap = overlap; c.steps = 10
            c.factorForm = .whole
            let (p, r) = try runOnRanks(RunPlan(workers: 2, blasThreads: 1, quiet: true)) { comm in
                let d = DeferredAllGather(comm)
                let t = try Trainer(config: c, data: data, comm: d)
                let done = try t.run()
                return (t.model.parameters.array, (d.started, done.steps, done.exchange))
            }
            #expect(r.2 == "factors 2x1 (allgather 1/1 layers)", "\(overlap): \(r.2)")
            #expect(r.0 == r.1, "\(overlap): \(r.0) allgathers in \(r.1) steps")
            params[overlap] = p
        }
        #expect(params[.on] == params[.off])
    }

    @Test func autoOverlapsFromFiveMillisecondsOfTransfer() {
        #expect(AllgatherFactorExchange.overlaps(.auto, wireSeconds: 0.0049) == false)
        #expect(AllgatherFactorExchange.overlaps(.auto, wireSeconds: 0.005) == true)
        #expect(AllgatherFactorExchange.overlaps(.on, wireSeconds: 0) == true)
        #expect(AllgatherFactorExchange.overlaps(.off, wireSeconds: 1) == false)
    }

    @Test func costModelPicksTheLayersWhoseFactorsAreCheaper() {
        // The default MLP, 2 ranks of 128: at 1 Gbit/s and 75 GFLOP/s the two wide layers go by
        // factors (4.2 ms + 2.7 ms against 25.7 ms; 8.4 + 3.6 against 33.6) and the 1024→10
        // layer by allreduce (0.33 ms against 4.2 ms); at 100 Gbit/s the extra GEMMs cost
        // more than the allreduce saves.
        let mlp = [(input: true, inFeatures: 784, outFeatures: 1024), (input: false, inFeatures: 1024, outFeatures: 1024),
                   (input: false, inFeatures: 1024, outFeatures: 10)]
        func choose(_ bw: Double, ranks: Int = 2, _ form: FactorForm, force: Bool = false) -> [AllgatherFactorExchange.Way] {
            AllgatherFactorExchange.choose(layers: mlp, ranks: ranks, perRank: 128, bytesPerSecond: bw, flopsPerSecond: 75e9, form: form, force: force)
        }
        #expect(choose(1.25e8, .whole) == [.whole, .whole, .gradient])
        #expect(choose(1.25e10, .whole) == [.gradient, .gradient, .gradient])
        // 64 ranks at 1 Gbit/s: gathering 63 ranks' rows costs more than the ring allreduce.
        #expect(choose(1.25e8, ranks: 64, .whole) == [.gradient, .gradient, .gradient])
        #expect(choose(1.25e8, ranks: 64, .auto) == [.gradient, .gradient, .gradient])
        // Rows: the factors plus half the allreduce's bytes, no extra GEMMs. At 1 Gbit/s whole
        // stays cheaper (layer 0: 4.2 + 2.7 ms against 4.2 + 12.9 ms); at 10 Gbit/s the wide
        // layers go by rows (layer 1: 0.84 + 1.68 ms against 0.84 + 3.58 ms whole and 3.36 ms
        // allreduced; layer 0: 0.42 + 1.29 against 2.57) and the 1024→10 layer by gradient
        // (0.03 ms against 0.42 ms of factors).
        #expect(choose(1.25e8, .auto) == [.whole, .whole, .gradient])
        #expect(choose(1.25e9, .auto) == [.rows, .rows, .gradient])
        #expect(choose(1.25e8, .rows) == [.rows, .rows, .gradient])
        // `--exchange factors` (force): every layer by factors, the cheaper form.
        #expect(choose(1.25e9, .auto, force: true) == [.rows, .rows, .rows])
        #expect(choose(1.25e8, .auto, force: true) == [.whole, .whole, .whole])
        #expect(choose(1.25e9, .whole, force: true) == [.whole, .whole, .whole])
    }

    @Test func rowsMatchOneProcessOnEveryRank() throws {
        // --factor-form rows: each rank forms its rows of every layer's dW over the global
        // batch and the ranks allgather them. For 2, 3 and 4 ranks (uneven rows: 256 ÷ 3, 10 ÷ 3
        // and 10 ÷ 4; the uneven last batch of 40), overlapped and not, with momentum + L2: one
        // process's parameters and momentum up to rounding, and every rank the same bits.
        let data = try DataParallelTests.fashion.get()
        var c0 = DataParallelTests.factorConfig(); c0.momentum = 0.9; c0.l2 = 1e-4; c0.steps = 40
        let (ref, refDone, refState) = try trainWithState(c0, workers: 1, data: data)
        for n in [2, 3, 4] {
            for overlap in [FactorOverlap.off, .on] {
                var c = c0; c.exchange = .factors; c.factorForm = .rows; c.factorOverlap = overlap
                let (p, r) = try runOnRanks(RunPlan(workers: n, blasThreads: 1, quiet: true)) { comm in
                    let t = try Trainer(config: c, data: data, comm: NoSharedMemory(comm))
                    let done = try t.run()
                    let params = t.model.parameters.array
                    var h = Hasher(); params.withUnsafeBytes { h.combine(bytes: $0) }
                    let hashes = try comm.allGather(UInt64(bitPattern: Int64(h.finalize())))
                    return (params, (done, t.optimizer.state.map(\.array), Set(hashes).count))
                }
                let (done, state, distinct) = r
                #expect(done.exchange == "factors \(n)x1 (allgather 3/3 layers, 3 by rows\(overlap == .on ? ", overlapped" : ""))")
                #expect(distinct == 1, "\(n) ranks \(overlap): the ranks' parameters differ")
                #expect(relativeDifference(p, ref) <= 1e-5, "\(n) ranks \(overlap): relative difference \(relativeDifference(p, ref))")
                for (s, rs) in zip(state, refState) { #expect(relativeDifference(s, rs) <= 1e-4) }
                #expect(abs(done.train_loss! - refDone.train_loss!) <= 1e-5 * abs(refDone.train_loss!))
            }
        }
    }

    @Test func divergenceUnderFactorsStopsEveryRank() throws {
        let data = try DataParallelTests.fashion.get()
        var c = DataParallelTests.factorConfig(); c.lr = 1e30; c.steps = 10; c.exchange = .factors
        #expect {
            try trainParameters(c, workers: 3, data: data)
        } throws: { error in
            (error as? UserError)?.kind == .diverged
        }
    }
}
