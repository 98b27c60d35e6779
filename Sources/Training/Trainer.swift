// Trainer: the training loop of one rank. Every rank runs the same loop; the only thing
// that crosses ranks inside a step is ONE allreduce of the gradient buffer, which carries
// the loss sum, the sample count and the stop flag in its tail (docs/architecture.md).
import Collectives
import Foundation
import NNCore
import NNData
import NeuralNet

/// Receives progress from rank 0's trainer (other ranks have none).
public protocol TrainingReporter: AnyObject {
    /// After every step; cheap to call, the reporter decides whether to draw.
    func step(epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, loss: Double, samplesPerSecond: Double)
    func epoch(_ m: EpochMetrics)
    func done(_ m: DoneMetrics)
    func message(_ text: String)
}

/// Slots after the gradients in the reduced buffer.
enum Tail {
    static let lossSum = 0, count = 1, stop = 2, overflow = 3
    static let size = 4
}

/// The training loop of one rank.
public final class Trainer {
    public let config: TrainConfig
    public let comm: Communicator
    public let data: DataSplit
    public let model: Sequential<Float>
    public let optimizer: Optimizer<Float>
    public var schedule: Schedule
    public let sampler: Sampler
    public let loss: LossFunction
    public let outputs: Int
    public let globalBatch: Int
    public weak var reporter: TrainingReporter?
    /// Polled once per step; any rank returning true stops every rank after that step.
    public var stopRequested: () -> Bool = { false }
    /// Called on every rank after each step and epoch end (checkpoints hook in here).
    public var afterStep: ((Trainer, _ epochEnded: Bool) throws -> Void)?

    // Position: the next step is batch `stepInEpoch` of `epoch`; `globalStep` steps are done.
    public var epoch = 0
    public var stepInEpoch = 0
    public var globalStep = 0
    /// Sum over this epoch's steps of (mean batch loss × batch size), and the samples seen.
    public var epochLossSum = 0.0
    public var epochSamples = 0
    public private(set) var lastLR = 0.0
    public private(set) var stopped = false

    let parameterCount: Int
    let inputSize: Int
    let xBuffer: Buffer<Float>
    let labelBuffer: Buffer<Int32>
    let targetBuffer: Buffer<Float>
    let indexBuffer: Buffer<Int32>
    let exactAccumulator: Buffer<Int64>?
    let evalScratch: Buffer<Int64>
    var computeSeconds = 0.0
    var commSeconds = 0.0
    var commWaitSeconds = 0.0
    /// NNTRAIN_SYNC_BEFORE_ALLREDUCE=1 (rank 0's environment decides for all ranks, since
    /// mpirun does not forward it to other hosts): a barrier before the gradient allreduce, so
    /// that comm_wait_seconds separates waiting for the slowest rank from the allreduce itself
    /// (bench/bench.py allreduce). Costs one barrier per step; off by default.
    let syncBeforeAllreduce: Bool
    /// Set while `run` trains with `--exchange shared` (Trainer+SharedExchange.swift).
    var shared: SharedExchange?

    /// 2⁴⁰: exact mode's fixed-point scale. Gradient values are rounded to multiples of 2⁻⁴⁰
    /// (≈ 9·10⁻¹³) and summed as Int64, which is associative: any grouping, any rank count,
    /// the same bits. Totals must stay below 2⁶² / shards (checked: overflow stops the run).
    static let fixedScale = 0x1p40
    static let evalScale = 0x1p32
    /// Samples per evaluation chunk: a fixed grid, so evaluation sums do not depend on ranks.
    static let evalChunk = 1000

    /// Builds the model (rank 0's initial parameters are broadcast to all), optimizer and sampler.
    ///
    /// - Throws: UserError for an unusable configuration, CommunicatorError from collectives.
    public init(config: TrainConfig, data: DataSplit, comm: Communicator) throws {
        try config.validate()
        self.config = config
        self.comm = comm
        self.data = data
        guard let lossFn = LossFunction(parsing: config.loss) else { throw UserError("unknown loss '\(config.loss)'") }
        loss = lossFn
        let train = data.train
        switch (train.task, lossFn) {
        case (.classification(let c), .crossEntropy): outputs = c
        case (.classification(let c), .bce):
            guard c <= 2 else { throw UserError("--loss bce needs two classes; dataset '\(config.dataset)' has \(c); use cross-entropy") }
            outputs = 1
        case (.regression(let o), .squared), (.regression(let o), .mse): outputs = o
        case (.classification, _):
            throw UserError("--loss \(lossFn.rawValue) needs real-valued targets; dataset '\(config.dataset)' has class labels (use cross-entropy or bce)")
        case (.regression, _):
            throw UserError("--loss \(lossFn.rawValue) needs class labels; dataset '\(config.dataset)' is a regression set (use squared or mse)")
        }
        let spec = try ModelSpec(parsing: config.model)
        model = try spec.build(Float.self, inputShape: train.sampleShape, outputs: outputs,
                               activation: Activation(parsing: config.activation)!, gradientTail: Tail.size)
        parameterCount = model.parameterCount
        inputSize = model.inputSize
        var rng = RNG(seed: config.seed)
        model.initialize(config.initScheme, rng: &rng)
        try comm.broadcast(UnsafeMutableRawBufferPointer(model.parameters.buffer), root: 0)
        let sync = ProcessInfo.processInfo.environment["NNTRAIN_SYNC_BEFORE_ALLREDUCE"] == "1"
        syncBeforeAllreduce = try comm.broadcast(sync ? 1 : 0, root: 0) == 1

        optimizer = Optimizer(config.optimizerConfig, parameterCount: parameterCount)
        globalBatch = min(config.batchSize ?? train.count, train.count)
        sampler = Sampler(count: train.count, batchSize: globalBatch, seed: config.seed, shuffle: config.shuffle)
        let total = config.steps ?? sampler.batchesPerEpoch * config.epochs
        schedule = Schedule(config.scheduleConfig(stepsPerEpoch: sampler.batchesPerEpoch,
                                                  totalSteps: min(total, sampler.batchesPerEpoch * config.epochs),
                                                  globalBatch: globalBatch))

        // Activations are sized for the training batch (at most --micro-batch rows); evaluation
        // walks its fixed 1,000-sample chunks in pieces of this size, so it needs no more memory.
        let micro = min(config.microBatch, globalBatch)
        xBuffer = Buffer(count: micro * inputSize)
        labelBuffer = Buffer(count: micro)
        targetBuffer = Buffer(count: micro * max(outputs, 1))
        indexBuffer = Buffer(count: micro)
        exactAccumulator = config.reduction == .exact ? Buffer(count: parameterCount + Tail.size) : nil
        evalScratch = Buffer(count: 4)
        model.reserve(batch: min(micro, max(globalBatch, 1)))
    }

    @inline(__always) static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    /// Computes the sum-gradient (scaled by `scale`) of the samples at sampler positions
    /// `positions`, into model.gradients[0..<P]; returns the loss sum. Empty: zero gradient.
    func gradient(positions: Range<Int>, scale: Float) -> Double {
        let P = parameterCount
        if positions.isEmpty {
            model.gradients.pointer.update(repeating: 0, count: P)
            return 0
        }
        let micro = xBuffer.count / inputSize
        var lossSum = 0.0
        var first = true
        var lo = positions.lowerBound
        while lo < positions.upperBound {
            let n = min(micro, positions.upperBound - lo)
            lossSum += forwardAndLoss(lo..<lo + n, into: xBuffer.pointer, scale: scale)
            // Every micro-batch accumulates into a zeroed buffer: memset is ~2× faster than
            // OpenBLAS 0.3.21's beta=0 pass over C (sgemm_beta), and the bits are the same.
            if first { model.gradients.pointer.update(repeating: 0, count: P) }
            model.backward(xBuffer.pointer, batch: n, accumulate: true)
            first = false
            lo += n
        }
        return lossSum
    }

    /// Gathers the samples at sampler positions `positions` (at most one micro-batch) into x,
    /// runs the model on them and leaves scale · dL/dz in `model.outputGradient`; returns the
    /// loss sum.
    func forwardAndLoss(_ positions: Range<Int>, into x: UnsafeMutablePointer<Float>, scale: Float) -> Double {
        let n = positions.count
        indexBuffer.pointer.update(from: sampler.order.pointer + positions.lowerBound, count: n)
        data.train.gather(indexBuffer.pointer, count: n, into: x, labels: labelBuffer.pointer, targets: targetBuffer.pointer)
        let z = model.forward(x, batch: n)
        return loss.evaluate(z, targets: Targets(labels: labelBuffer.pointer, values: targetBuffer.pointer),
                             batch: n, outputs: outputs, dz: model.outputGradient, scale: scale)
    }

    /// Runs one optimizer step on global batch `stepInEpoch` of `epoch`.
    /// - Returns: the mean loss of the global batch.
    public func step() throws -> Double {
        sampler.setEpoch(epoch)
        let range = sampler.batchRange(stepInEpoch)
        let count = range.count
        let P = parameterCount
        let g = model.gradients.pointer
        let scale = 1 / Float(count)
        let stopLocal = stopRequested()
        var t0 = Trainer.now()
        var lossSum: Double
        var globalStop: Bool
        if let acc = exactAccumulator {
            // The Int64 sums go to this rank's shared slot when the node's ranks share memory.
            let a = shared.map { $0.memory.slotInt64($0.memory.localRank) } ?? acc.pointer
            a.update(repeating: 0, count: P + Tail.size)
            let S = config.shards
            let mine = Sampler.slice(0..<S, part: comm.rank, of: comm.size)
            let limit = 0x1p62 / Double(S)
            // |x.rounded()| < limit ⇔ |x + copysign(½⁻, x)| < ⌈limit⌉ (see below).
            let bound = limit.rounded(.up)
            var overflow = false
            for j in mine {
                let shard = Sampler.slice(range, part: j, of: S)
                let l = gradient(positions: shard, scale: scale)
                for i in 0..<P {
                    // Int64(y) truncates y = x + copysign(0.5⁻, x), 0.5⁻ = 0.5 − 2⁻⁵⁴: that is
                    // x.rounded() (half away from zero) for every finite double, without the
                    // libm round() call that took a third of an exact-mode step.
                    let x = Double(g[i]) * Trainer.fixedScale
                    let y = x + Double(signOf: x, magnitudeOf: 0x1.fffffffffffffp-2)
                    if !(abs(y) < bound) { overflow = true; break }
                    a[i] &+= Int64(y)
                }
                let lv = (l * Trainer.fixedScale).rounded()
                if !(abs(lv) < limit) { overflow = true } else { a[P + Tail.lossSum] &+= Int64(lv) }
            }
            a[P + Tail.count] = Int64(mineCount(range, mine))
            a[P + Tail.stop] = stopLocal ? 1 : 0
            a[P + Tail.overflow] = overflow ? 1 : 0
            let t1 = Trainer.now(); computeSeconds += t1 - t0; t0 = t1
            if let sh = shared {
                // Σθ² in one order over all parameters on every rank, as the allreduce path
                // does (the same bits), and now: from barrier B on, other ranks update θ.
                var sq: Float = 0
                if config.l2 > 0 {
                    let w = model.parameters.pointer
                    for i in 0..<P { sq += w[i] * w[i] }
                }
                let r = try sharedReduceExact(sh)
                commSeconds += Trainer.now() - t0; t0 = Trainer.now()
                precondition(r.count == count, "exact reduction lost samples")
                let meanLoss = r.lossSum / Double(count) + (config.l2 > 0 ? config.l2 * Double(sq) : 0)
                return try sharedUpdate(sh, meanLoss: meanLoss, finite: r.finite, count: count, stop: r.stop, t0: t0)
            }
            try comm.allReduceSum(acc.buffer)
            commSeconds += Trainer.now() - t0; t0 = Trainer.now()
            let inv = 1 / Trainer.fixedScale
            for i in 0..<P { g[i] = Float(Double(a[i]) * inv) }
            lossSum = a[P + Tail.overflow] > 0 ? .nan : Double(a[P + Tail.lossSum]) * inv
            precondition(a[P + Tail.count] == Int64(count), "exact reduction lost samples")
            globalStop = a[P + Tail.stop] > 0
        } else {
            let mine = Sampler.slice(range, part: comm.rank, of: comm.size)
            let factorRows = shared?.factors?.rows(of: range)
            let l = shared?.factors.map { factorGradient($0, positions: mine, scale: scale, rowOffset: factorRows!.offset) }
                ?? gradient(positions: mine, scale: scale)
            g[P + Tail.lossSum] = Float(l)
            g[P + Tail.count] = Float(mine.count)
            g[P + Tail.stop] = stopLocal ? 1 : 0
            g[P + Tail.overflow] = 0
            let t1 = Trainer.now(); computeSeconds += t1 - t0; t0 = t1
            if let sh = shared {
                // The node's ranks reduce in shared memory and each updates its share of the
                // shared parameters (Trainer+SharedExchange.swift).
                let r = try sh.factors.map { try factorReduce(sh, $0, rows: factorRows!.node) } ?? sharedReduce(sh)
                commSeconds += Trainer.now() - t0; t0 = Trainer.now()
                precondition(r.count == count, "shared-memory reduction lost samples")
                let meanLoss = r.lossSum / Double(count) + config.l2 * r.sumSquares
                return try sharedUpdate(sh, meanLoss: meanLoss, finite: r.finite, count: count, stop: r.stop, t0: t0)
            }
            if syncBeforeAllreduce { try comm.barrier(); commWaitSeconds += Trainer.now() - t1 }
            try comm.allReduceSum(UnsafeMutableBufferPointer(start: g, count: P + Tail.size))
            commSeconds += Trainer.now() - t0; t0 = Trainer.now()
            lossSum = Double(g[P + Tail.lossSum])
            precondition(Int(g[P + Tail.count]) == count, "fast reduction lost samples")
            globalStop = g[P + Tail.stop] > 0
        }
        var meanLoss = lossSum / Double(count)
        let w = model.parameters.pointer
        if config.l2 > 0 { meanLoss += config.l2 * Double(addL2Gradient(g, 0..<P)) }
        // A non-finite gradient stops the run here too, before it reaches the weights.
        guard meanLoss.isFinite, allFinite(g, count: P) else { throw divergence(meanLoss) }
        let lr = schedule.lr(step: globalStep, epoch: epoch)
        lastLR = lr
        optimizer.step(w, g, count: P, lr: lr)
        computeSeconds += Trainer.now() - t0
        return finishStep(meanLoss: meanLoss, count: count, stop: globalStop)
    }

    /// Barrier B to C of the shared exchange (Trainer+SharedExchange.swift): stop together if
    /// anything is non-finite, else update this rank's share of the shared parameters.
    private func sharedUpdate(_ sh: SharedExchange, meanLoss: Double, finite: Bool, count: Int, stop: Bool, t0: Double) throws -> Double {
        guard finite, meanLoss.isFinite else {
            // Every rank read the same statuses and stops here, so the collective detach is
            // safe; an experiment that catches this goes on with the next arm.
            let error = divergence(meanLoss)
            try detachSharedExchange()
            throw error
        }
        let lr = schedule.lr(step: globalStep, epoch: epoch)
        lastLR = lr
        optimizer.step(model.parameters.pointer, model.gradients.pointer, ranges: sh.updateRanges, lr: lr)
        let t1 = Trainer.now()
        computeSeconds += t1 - t0
        try sh.memory.barrier()                                            // C: the update is complete
        commSeconds += Trainer.now() - t1
        return finishStep(meanLoss: meanLoss, count: count, stop: stop)
    }

    /// J(θ) = λ‖θ‖² + loss: adds the gradient 2λθ to g over `range` and returns Σθ² over it,
    /// summed in index order (so every rank that covers the same range gets the same bits).
    @inline(__always) func addL2Gradient(_ g: UnsafeMutablePointer<Float>, _ range: Range<Int>) -> Float {
        let w = model.parameters.pointer, two = 2 * Float(config.l2)
        var sq: Float = 0
        for i in range { sq += w[i] * w[i]; g[i] += two * w[i] }
        return sq
    }

    /// The error that ends a diverged run (a non-finite loss, or a non-finite gradient when the loss is finite).
    private func divergence(_ meanLoss: Double) -> UserError {
        UserError("non-finite \(meanLoss.isFinite ? "gradient" : "loss (\(meanLoss))") at step \(globalStep + 1) (epoch \(epoch + 1)); the run diverged: lower the learning rate (--lr, now \(schedule.lr(step: globalStep, epoch: epoch)))")
    }

    /// Advances the position and the epoch's loss after an update.
    private func finishStep(meanLoss: Double, count: Int, stop: Bool) -> Double {
        globalStep += 1
        stepInEpoch += 1
        epochLossSum += meanLoss * Double(count)
        epochSamples += count
        if stop { stopped = true }
        return meanLoss
    }

    private func mineCount(_ range: Range<Int>, _ shards: Range<Int>) -> Int {
        shards.reduce(0) { $0 + Sampler.slice(range, part: $1, of: config.shards).count }
    }

    /// Loss and accuracy on `set`, sharded across ranks over a fixed grid of chunks and
    /// reduced in fixed point, so the result is the same for any number of ranks.
    public func evaluate(_ set: Dataset) throws -> (loss: Double, accuracy: Double?) {
        let chunks = (set.count + Trainer.evalChunk - 1) / Trainer.evalChunk
        let mine = Sampler.slice(0..<chunks, part: comm.rank, of: comm.size)
        let s = evalScratch.pointer
        s[0] = 0; s[1] = 0; s[2] = 0; s[3] = 0
        var correct = 0
        for c in mine {
            let lo = c * Trainer.evalChunk, n = min(Trainer.evalChunk, set.count - lo)
            var done = 0
            let micro = xBuffer.count / inputSize
            var chunkLoss = 0.0
            while done < n {
                let m = min(micro, n - done)
                for i in 0..<m { indexBuffer[i] = Int32(lo + done + i) }
                set.gather(indexBuffer.pointer, count: m, into: xBuffer.pointer, labels: labelBuffer.pointer, targets: targetBuffer.pointer)
                let z = model.forward(xBuffer.pointer, batch: m)
                chunkLoss += loss.evaluate(z, targets: Targets(labels: labelBuffer.pointer, values: targetBuffer.pointer),
                                           batch: m, outputs: outputs, dz: nil, correct: &correct)
                s[1] += Int64(correct)
                done += m
            }
            // A non-finite or huge loss (a diverging run) would trap in the Int64 conversion: count it in s[3].
            let scaled = (chunkLoss * Trainer.evalScale).rounded()
            if abs(scaled) < 0x1p62 / Double(max(chunks, 1)) { s[0] &+= Int64(scaled) } else { s[3] += 1 }
            s[2] += Int64(n)
        }
        try comm.allReduceSum(evalScratch.buffer)
        let count = Double(max(s[2], 1))
        var l = Double(s[0]) / Trainer.evalScale / count
        if s[3] > 0 { l = .nan }
        if config.l2 > 0 {
            var sq = 0.0
            let w = model.parameters.pointer
            for i in 0..<parameterCount { sq += Double(w[i]) * Double(w[i]) }
            l += config.l2 * sq
        }
        let acc: Double? = set.task == .regression(outputs: outputs) || !loss.usesLabels ? nil : Double(s[1]) / count
        return (l, acc)
    }

    /// Trains until the configured epochs or steps are done, or a stop is requested.
    ///
    /// - Returns: the final metrics (rank 0 also reports them to the reporter).
    @discardableResult
    public func run() throws -> DoneMetrics {
        let start = Trainer.now()
        var lastTrain: Double? = nil
        var last: (loss: Double, accuracy: Double?)? = nil
        let totalSteps = config.steps ?? Int.max
        var processed = globalStep * globalBatch
        let processedBefore = processed   // a resumed run's throughput counts only its own samples
        var status = "completed"
        try attachSharedExchange()
        outer: while epoch < config.epochs {
            let epochStart = Trainer.now()
            computeSeconds = 0; commSeconds = 0; commWaitSeconds = 0
            let stepsBefore = globalStep, samplesBefore = epochSamples
            while stepInEpoch < sampler.batchesPerEpoch {
                if globalStep >= totalSteps { status = "steps"; break }
                let l = try step()
                processed += sampler.batchRange(stepInEpoch - 1).count
                if let r = reporter {
                    let dt = Trainer.now() - epochStart
                    r.step(epoch: epoch, stepInEpoch: stepInEpoch, stepsPerEpoch: sampler.batchesPerEpoch, loss: l,
                           samplesPerSecond: dt > 0 ? Double(epochSamples - samplesBefore) / dt : 0)
                }
                if stopped { status = "stopped"; break }
                if stepInEpoch < sampler.batchesPerEpoch { try afterStep?(self, false) }
            }
            let epochEnded = stepInEpoch >= sampler.batchesPerEpoch
            if !epochEnded {
                // Stopped mid-epoch (signal or --steps): report what was done, then leave.
                if globalStep > stepsBefore { lastTrain = epochLossSum / Double(max(epochSamples, 1)) }
                try afterStep?(self, false)
                break outer
            }
            let seconds = Trainer.now() - epochStart
            let trainLoss = epochLossSum / Double(max(epochSamples, 1))
            lastTrain = trainLoss
            let evalNow = config.evalEvery > 0 && ((epoch + 1) % config.evalEvery == 0 || epoch + 1 == config.epochs)
            let testResult: (loss: Double, accuracy: Double?)? = evalNow ? try evaluate(data.test) : nil
            if let t = testResult { last = t }
            // Rank 0 decides on the schedule from the reduced metrics and broadcasts its decision.
            if schedule.config.kind == .plateau {
                let monitored = schedule.config.monitor == "test" ? (testResult?.loss ?? trainLoss) : trainLoss
                if comm.rank == 0 {
                    if schedule.observe(loss: monitored) { reporter?.message("epoch \(epoch + 1): \(schedule.config.monitor) loss plateaued, lr → \(schedule.plateauLR)") }
                }
                try broadcastScheduleState()
            }
            let m = EpochMetrics(epoch: epoch + 1, step: globalStep, train_loss: trainLoss, test_loss: testResult?.loss,
                                 test_accuracy: testResult?.accuracy ?? nil, lr: lastLR,
                                 samples_per_second: Double(epochSamples - samplesBefore) / max(seconds, 1e-9),
                                 epoch_seconds: seconds, world_size: comm.size,
                                 compute_seconds: computeSeconds, comm_seconds: commSeconds, comm_wait_seconds: commWaitSeconds,
                                 examples_processed: processed)
            reporter?.epoch(m)
            epoch += 1
            stepInEpoch = 0
            epochLossSum = 0
            epochSamples = 0
            try afterStep?(self, true)
            if stopped { status = "stopped"; break }
            if globalStep >= totalSteps { status = "steps"; break }
        }
        if last == nil || status != "completed" { last = try evaluate(data.test) }
        let exchange = shared.map { "\($0.factors == nil ? "shared" : "factors") \($0.memory.nodes)x\($0.memory.localSize)" } ?? "allreduce"
        try detachSharedExchange()
        let seconds = Trainer.now() - start
        let done = DoneMetrics(epochs: epoch, steps: globalStep, train_loss: lastTrain, test_loss: last?.loss,
                               test_accuracy: last?.accuracy ?? nil, seconds: seconds,
                               samples_per_second: Double(processed - processedBefore) / max(seconds, 1e-9),
                               world_size: comm.size, reduction: config.reduction.rawValue, exchange: exchange,
                               parameters: parameterCount, parameters_sha256: model.parametersSHA256, status: status)
        reporter?.done(done)
        return done
    }

    /// Makes every rank's schedule state equal to rank 0's.
    func broadcastScheduleState() throws {
        var s = [schedule.plateauLR, schedule.best, Double(schedule.badEpochs), Double(schedule.cooldownLeft)]
        try s.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        schedule.plateauLR = s[0]; schedule.best = s[1]; schedule.badEpochs = Int(s[2]); schedule.cooldownLeft = Int(s[3])
    }
}
