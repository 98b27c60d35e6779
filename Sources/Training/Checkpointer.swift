// Checkpointer: the coordinator's checkpoint duty (docs/checkpoints.md). Every rank runs
// one; only rank 0 touches files. It restores a run (`--resume`), seeds weights (`--init`),
// and writes checkpoints from the trainer's `afterStep` hook: temporary file, fsync, rename,
// fsync of the directory, so that a crash at any moment leaves the previous one loadable.
//
// The training position is (epoch, stepInEpoch): the sampler's permutation is a function of
// (seed, epoch) and training draws no other random numbers, so nothing else needs saving
// besides parameters, optimizer state, the epoch's loss accumulators and the schedule state.
import Collectives
import Foundation
import NNCore
import NeuralNet
import NNData

/// Writes, finds and restores checkpoints for one rank's trainer.
public final class Checkpointer {
    public let config: TrainConfig
    public let comm: Communicator
    /// Where checkpoints go (nil: none are written).
    public let directory: String?
    /// The global step of the newest checkpoint written or restored by this run.
    public private(set) var lastStep = -1
    /// The newest checkpoint written or restored (rank 0 only).
    public private(set) var lastPath: String?
    /// Receives warnings and notices (rank 0).
    weak var reporter: TrainingReporter?

    public init(config: TrainConfig, comm: Communicator) throws {
        self.config = config
        self.comm = comm
        directory = config.checkpointDir
        if comm.rank == 0, let dir = directory {
            // Found now, before any training, rather than at the first checkpoint.
            try prepareWritableDirectory(dir, what: "--checkpoint-dir \(dir)")
            // Leftovers of writes that a crash interrupted.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".") && name.contains(".safetensors.tmp") {
                try? FileManager.default.removeItem(atPath: (dir as NSString).appendingPathComponent(name))
            }
        }
    }

    func say(_ text: String) { if comm.rank == 0 { reporter?.message(text) } }
    /// Warnings and the stop notice go to standard error on rank 0, even with --quiet.
    func warn(_ text: String) {
        if comm.rank == 0 { FileHandle.standardError.write(Data("nntrain: \(text)\n".utf8)) }
    }

    // MARK: names

    /// The file name of the checkpoint after `globalStep` steps.
    public static func fileName(step: Int) -> String { String(format: "step-%09d.safetensors", step) }

    /// Checkpoints in `dir`, newest (highest step) first.
    public static func list(_ dir: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("step-"), name.hasSuffix(".safetensors"),
                  let s = Int(name.dropFirst(5).dropLast(12)) else { return nil }
            return (s, (dir as NSString).appendingPathComponent(name))
        }.sorted { $0.0 > $1.0 }
    }

    // MARK: restore

    /// Applies `--resume` or `--init` to `trainer` on every rank (rank 0 reads, then broadcasts).
    ///
    /// - Returns: the checkpoint resumed from, if any (rank 0; nil on others and when starting fresh).
    /// - Throws: UserError when the checkpoint named does not verify or fits another model.
    @discardableResult
    public func prepare(_ trainer: Trainer) throws -> String? {
        if let r = config.resume { return try resume(trainer, from: r) }
        if let path = config.initFrom { try initialize(trainer, from: path) }
        return nil
    }

    /// Reads `path`, checks it and that it fits `model`; throws a UserError saying why not.
    static func load(_ path: String, model: Sequential<Float>) throws -> SafetensorsFile {
        let file = try SafetensorsFile(path: path)
        try Checkpoint.verify(file, source: path)
        try Checkpoint.checkShapes(file, model: model, source: path)
        return file
    }

    func resume(_ trainer: Trainer, from request: String) throws -> String? {
        var bytes: [UInt8] = []
        var chosen: String?
        if comm.rank == 0 {
            if request == "auto" {
                let dir = directory ?? "."
                for c in Checkpointer.list(dir) {
                    do {
                        let f = try Checkpointer.load(c.path, model: trainer.model)
                        bytes = f.bytes; chosen = c.path
                        break
                    } catch let e as UserError {
                        if e.kind == .modelMismatch {
                            throw UserError("\(e.message)\n--checkpoint-dir \(dir) holds checkpoints of another model; use a new directory for this model")
                        }
                        warn("warning: skipping checkpoint: \(e.message)")
                    }
                }
                if chosen == nil { say("no usable checkpoint in \(dir): starting from scratch") }
            } else {
                let f = try Checkpointer.load(request, model: trainer.model)
                bytes = f.bytes; chosen = request
            }
        }
        // Everyone gets rank 0's bytes (or learns there are none), so all ranks end up identical.
        var length = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &length) { try comm.broadcast($0, root: 0) }
        if length == 0 { return nil }
        if comm.rank != 0 { bytes = [UInt8](repeating: 0, count: Int(length)) }
        try bytes.withUnsafeMutableBytes { try comm.broadcast($0, root: 0) }
        let source = chosen ?? request
        let file = try SafetensorsFile(bytes: bytes, source: source)
        try apply(file, to: trainer, source: source)
        if comm.rank == 0 { describeResume(file, trainer: trainer, path: source) }
        lastStep = trainer.globalStep
        lastPath = chosen
        return chosen
    }

    /// Restores parameters, optimizer state, position and schedule state from a verified file.
    func apply(_ file: SafetensorsFile, to t: Trainer, source: String) throws {
        let m = file.metadata
        // A checkpoint written before normalization existed keeps the statistics fitted now.
        try Checkpointer.applyNormalization(file, to: t, source: source)
        func int(_ k: String) throws -> Int {
            guard let s = m[k], let v = Int(s) else { throw UserError("\(source): metadata '\(k)' is missing or not an integer") }
            return v
        }
        func double(_ k: String) throws -> Double {
            guard let s = m[k], let v = Double(s) else { throw UserError("\(source): metadata '\(k)' is missing or not a number") }
            return v
        }
        try Checkpoint.loadModel(file, into: t.model, source: source)
        try Checkpoint.loadOptimizer(file, into: t.optimizer, model: t.model, source: source)
        let epoch = try int("epoch"), stepInEpoch = try int("step_in_epoch"), globalStep = try int("global_step")
        guard globalStep >= 0, epoch >= 0, stepInEpoch >= 0, stepInEpoch < t.sampler.batchesPerEpoch else {
            throw UserError("\(source): position epoch \(epoch), step \(stepInEpoch) does not fit this run's \(t.sampler.batchesPerEpoch) steps per epoch (was --batch-size or the dataset changed?)")
        }
        if let b = m["global_batch"], Int(b) != t.globalBatch {
            throw UserError("\(source): written with global batch \(b), this run has \(t.globalBatch); resume with the same --batch-size (or start anew from its weights with --init)")
        }
        t.epoch = epoch; t.stepInEpoch = stepInEpoch; t.globalStep = globalStep
        t.epochLossSum = try double("epoch_loss_sum")
        t.epochSamples = try int("epoch_samples")
        if let s = m["schedule"] {
            let dec = JSONDecoder()
            dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            guard let saved = try? dec.decode(Schedule.self, from: Data(s.utf8)) else {
                throw UserError("\(source): metadata 'schedule' does not parse")
            }
            // The schedule's shape comes from this run's settings; its state from the checkpoint.
            t.schedule.plateauLR = saved.plateauLR; t.schedule.best = saved.best
            t.schedule.badEpochs = saved.badEpochs; t.schedule.cooldownLeft = saved.cooldownLeft
        }
    }

    func describeResume(_ file: SafetensorsFile, trainer t: Trainer, path: String) {
        let m = file.metadata
        say("resuming from \(path): epoch \(t.epoch + 1), step \(t.stepInEpoch) of \(t.sampler.batchesPerEpoch) (global step \(t.globalStep))")
        if let ws = m["world_size"], let n = Int(ws), n != comm.size {
            say(config.reduction == .exact
                ? "note: world size \(n) → \(comm.size); --reduction exact keeps the run bit-identical"
                : "note: world size \(n) → \(comm.size); with --reduction fast the continuation is not bit-identical to an uninterrupted run (use --reduction exact for that)")
        }
        let changed = Checkpointer.changedSettings(saved: m["config"], current: config)
        if !changed.isEmpty { say("note: settings differ from the checkpoint's: \(changed.joined(separator: ", ")) (this run's values apply)") }
    }

    /// Settings that differ between a checkpoint's config and `current`, ignoring where files
    /// go and how long to train (the key table's `notedOnResume`).
    static func changedSettings(saved: String?, current: TrainConfig) -> [String] {
        current.settingsChanged(fromCheckpointConfig: saved)
    }

    /// `--init FILE`: rank 0 loads the model tensors from a safetensors file, then broadcasts them.
    func initialize(_ trainer: Trainer, from path: String) throws {
        let model = trainer.model
        var text = ""
        if comm.rank == 0 {
            let file = try SafetensorsFile(path: path)
            if file.metadata["format"] == Checkpoint.format { try Checkpoint.verify(file, source: path) }
            try Checkpoint.checkShapes(file, model: model, source: path, what: "--init weights file")
            try Checkpoint.loadModel(file, into: model, source: path)
            say("initialized weights from \(path)")
            text = file.metadata["normalization"] ?? ""
            if text.isEmpty { say("\(path) carries no normalization statistics: using those fitted on this training set (--normalize \(config.normalize.rawValue))") }
        }
        try comm.broadcast(UnsafeMutableRawBufferPointer(model.parameters.buffer), root: 0)
        // Rank 0's statistics text (or none) to every rank.
        text = try comm.broadcast(string: text)
        guard !text.isEmpty else { return }
        try trainer.useNormalization(Normalization(metadataText: text, source: path), source: path)
    }

    /// Uses the normalization statistics `file` carries, if any, in `t` (resume, `evaluate`).
    ///
    /// - Throws: UserError naming `source` when they do not parse or do not fit the data.
    public static func applyNormalization(_ file: SafetensorsFile, to t: Trainer, source: String) throws {
        guard let text = file.metadata["normalization"] else { return }
        try t.useNormalization(Normalization(metadataText: text, source: source), source: source)
    }

    // MARK: write

    /// The `afterStep` hook: writes a checkpoint when one is due (interval, end of run, or stop).
    public func afterStep(_ t: Trainer, epochEnded: Bool) throws {
        guard let dir = directory else {
            if t.stopped { warn("stopped after step \(t.globalStep); no --checkpoint-dir was given, so nothing was saved") }
            return
        }
        let finished = t.epoch >= config.epochs || (config.steps.map { t.globalStep >= $0 } ?? false)
        var due = t.stopped || finished
        switch config.checkpointEvery {
        case .steps(let n): due = due || t.globalStep % n == 0
        case .epochs(let n): due = due || (epochEnded && t.epoch % n == 0)
        }
        guard due, t.globalStep != lastStep else { return }
        // Every rank holds the same parameters, so every rank reaches the same verdict.
        guard Checkpoint.allFinite(model: t.model, optimizer: t.optimizer) else {
            throw UserError("parameters became non-finite after step \(t.globalStep) (epoch \(t.epoch + 1)); no checkpoint written\(lastPath.map { ", the last good one is \($0)" } ?? ""); lower the learning rate (--lr)")
        }
        lastStep = t.globalStep
        if comm.rank == 0 {
            let path = (dir as NSString).appendingPathComponent(Checkpointer.fileName(step: t.globalStep))
            let bytes = Checkpoint.encode(model: t.model, optimizer: t.optimizer, metadata: metadata(t, reason: t.stopped ? "stopped" : finished ? "final" : "periodic"))
            try Checkpointer.writeAtomically(bytes, to: path)
            lastPath = path
            prune(dir)
            if t.stopped {
                warn("stopped after step \(t.globalStep): checkpoint written to \(path)\nto resume, run the same command with --resume auto (or --resume \(path))")
            }
        }
    }

    /// The metadata of a checkpoint of `t`'s current state.
    func metadata(_ t: Trainer, reason: String) -> [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        func json<T: Encodable>(_ v: T) -> String { (try? String(decoding: enc.encode(v), as: UTF8.self)) ?? "" }
        return [
            "nntrain_version": nntrainLibraryVersion,
            "config": config.checkpointConfigText,
            "model": config.model,
            "pytorch": t.model.pytorchSource,
            "epoch": String(t.epoch),
            "step_in_epoch": String(t.stepInEpoch),
            "global_step": String(t.globalStep),
            "steps_per_epoch": String(t.sampler.batchesPerEpoch),
            "global_batch": String(t.globalBatch),
            "epoch_loss_sum": "\(t.epochLossSum)",
            "epoch_samples": String(t.epochSamples),
            "schedule": json(t.schedule),
            "lr": "\(t.lastLR)",
            "world_size": String(t.comm.size),
            "reduction": config.reduction.rawValue,
            "seed": String(config.seed),
            "rng": "sampler permutation = f(seed, epoch); dropout masks and augmentation = f(seed, epoch, position in the epoch); no other random state during training",
            "parameters_sha256": t.model.parametersSHA256,
            "reason": reason,
            "normalization": t.normalization.metadataText,
        ]
    }

    /// Writes `bytes` to `path` so that `path` is always either the old file or the whole new
    /// one: write a temporary file in the same directory, fsync it, rename it over `path`,
    /// fsync the directory.
    ///
    /// - Throws: UserError naming the path and the system error.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).tmp.\(getpid())")
        func fail(_ what: String) -> UserError {
            UserError("cannot write checkpoint \(path): \(what) failed (\(String(cString: strerror(errno)))); check space and permissions of \(dir.isEmpty ? "." : dir)")
        }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw fail("creating \(tmp)") }
        // Test hook (tests/checkpoint_e2e.sh): pause half way through the write, so that a
        // kill -9 can be aimed at a checkpoint being written.
        let pause = ProcessInfo.processInfo.environment["NNTRAIN_TEST_CHECKPOINT_WRITE_PAUSE"].flatMap(Double.init) ?? 0
        var ok = bytes.withUnsafeBytes { raw -> Bool in
            var done = 0
            var paused = pause <= 0
            while done < raw.count {
                if !paused && done >= raw.count / 2 { paused = true; Thread.sleep(forTimeInterval: pause) }
                let n = write(fd, raw.baseAddress! + done, paused ? raw.count - done : raw.count / 2 - done)
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
        if ok { ok = fsync(fd) == 0 }
        let err = errno
        close(fd)
        guard ok else { errno = err; unlink(tmp); throw fail("writing") }
        guard rename(tmp, path) == 0 else { let e = errno; unlink(tmp); errno = e; throw fail("renaming") }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Deletes all but the newest `keep` checkpoints (rank 0).
    func prune(_ dir: String) {
        guard config.keep > 0 else { return }
        for old in Checkpointer.list(dir).dropFirst(config.keep) { try? FileManager.default.removeItem(atPath: old.path) }
    }
}

/// The library's version, recorded in checkpoints.
public let nntrainLibraryVersion = "0.1.0"
