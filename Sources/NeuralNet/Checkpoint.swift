// Checkpoint: a model and its optimizer state as one safetensors file (docs/checkpoints.md).
//
// Tensors:
//   `0.weight` [out, in], `0.bias` [out], `2.weight`, …   the model, named and shaped as the
//                                                          equivalent PyTorch nn.Sequential state_dict
//   `optimizer.momentum_buffer.0.weight`, …               SGD momentum (same shapes)
//   `optimizer.exp_avg.0.weight`, `optimizer.exp_avg_sq.…` Adam moments
// Metadata (all strings): `format`, `optimizer_step_count`, whatever the trainer adds
// (config, position, schedule…), and two checksums:
//   `tensors_sha256`  SHA-256 of all tensor bytes (the file after the header)
//   `metadata_sha256` SHA-256 of the other metadata and the tensor table (see `headerDigest`)
// A flipped bit anywhere in the file therefore fails verification or parsing.
import Foundation
import NNCore

/// Writes and checks nntrain checkpoints.
public enum Checkpoint {
    /// The value of the `format` metadata key.
    public static let format = "nntrain-checkpoint-1"
    /// Prefix of the optimizer-state tensor names.
    public static let optimizerPrefix = "optimizer."

    /// Encodes `model`'s parameters, `optimizer`'s state and `metadata` as safetensors bytes.
    ///
    /// - Parameter metadata: extra string metadata (must not use the keys this function sets).
    public static func encode(model: Sequential<Float>, optimizer: Optimizer<Float>?, metadata: [String: String]) -> [UInt8] {
        var w = SafetensorsWriter()
        let tensors = model.namedTensors
        for t in tensors { w.add(t.name, shape: t.shape, floats: model.parameters.pointer + t.offset) }
        if let opt = optimizer {
            for (k, stateName) in opt.stateNames.enumerated() {
                for t in tensors {
                    w.add("\(optimizerPrefix)\(stateName).\(t.name)", shape: t.shape, floats: opt.state[k].pointer + t.offset)
                }
            }
        }
        var meta = metadata
        meta["format"] = format
        if let opt = optimizer {
            meta["optimizer"] = opt.config.kind.rawValue
            meta["optimizer_step_count"] = String(opt.stepCount)
        }
        meta["tensors_sha256"] = w.tensorDataSHA256
        w.metadata = meta
        // The digest needs the final tensor table: encode once, read it back, sign it.
        let draft = w.encode()
        if let parsed = try? SafetensorsFile(bytes: draft, source: "") {
            w.metadata["metadata_sha256"] = headerDigest(parsed)
        }
        return w.encode()
    }

    /// SHA-256 of the metadata (without the two checksum keys) and tensor table, in a canonical text.
    public static func headerDigest(_ file: SafetensorsFile) -> String {
        var text = ""
        for k in file.metadata.keys.sorted() where k != "metadata_sha256" && k != "tensors_sha256" {
            text += "\(jsonString(k))=\(jsonString(file.metadata[k]!))\n"
        }
        for e in file.entries {
            text += "\(jsonString(e.name)) \(e.dtype.rawValue) \(e.shape) \(e.range.lowerBound) \(e.range.upperBound)\n"
        }
        return Array(text.utf8).withUnsafeBytes { sha256Hex($0) }
    }

    /// Checks that `file` is an nntrain checkpoint whose checksums match.
    ///
    /// - Throws: UserError naming `source` and saying which check failed.
    public static func verify(_ file: SafetensorsFile, source: String) throws {
        guard file.metadata["format"] == format else {
            throw UserError("\(source): not an nntrain checkpoint (metadata 'format' is \(file.metadata["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'); to start from plain weights use --init")
        }
        guard let want = file.metadata["tensors_sha256"], let wantHeader = file.metadata["metadata_sha256"] else {
            throw UserError("\(source): checkpoint has no checksums (tensors_sha256, metadata_sha256)")
        }
        let got = file.withTensorData { sha256Hex($0) }
        guard got == want else {
            throw UserError("\(source): checkpoint is corrupt: SHA-256 of the tensor bytes is \(got.prefix(16))…, the file records \(want.prefix(16))… (a damaged or partly written file; use an older checkpoint)")
        }
        let gotHeader = headerDigest(file)
        guard gotHeader == wantHeader else {
            throw UserError("\(source): checkpoint is corrupt: its metadata does not match metadata_sha256 (a damaged file; use an older checkpoint)")
        }
    }

    /// Checks that `file` holds exactly the tensors of `model` (names and shapes).
    ///
    /// - Parameter requireOptimizer: the optimizer whose state must be present too, if any.
    /// - Throws: UserError listing the first differences, naming `source`.
    public static func checkShapes(_ file: SafetensorsFile, model: Sequential<Float>, source: String, what: String = "checkpoint") throws {
        var problems: [String] = []
        let modelNames = Set(model.namedTensors.map(\.name))
        for t in model.namedTensors {
            guard let e = file.entry(t.name) else { problems.append("missing tensor '\(t.name)' \(t.shape)"); continue }
            if e.shape != t.shape { problems.append("'\(t.name)' is \(e.shape) in the file, \(t.shape) in the model") }
        }
        let extra = file.entries.filter { !$0.name.hasPrefix(optimizerPrefix) && !modelNames.contains($0.name) }
        for e in extra.prefix(3) { problems.append("unexpected tensor '\(e.name)' \(e.shape)") }
        if !problems.isEmpty {
            let shown = problems.prefix(4).joined(separator: "; ") + (problems.count > 4 ? "; …" : "")
            throw UserError("\(source): \(what) belongs to another model shape: \(shown). The model here is:\n\(model.summary)", kind: .modelMismatch)
        }
    }

    /// Copies the model tensors of `file` into `model`'s parameters (after `checkShapes`).
    public static func loadModel(_ file: SafetensorsFile, into model: Sequential<Float>, source: String) throws {
        try checkShapes(file, model: model, source: source)
        for t in model.namedTensors {
            try file.copy(file.entry(t.name)!, into: model.parameters.pointer + t.offset)
        }
    }

    /// Copies the optimizer state of `file` into `optimizer` (tensor by tensor, laid out as `model`).
    ///
    /// - Throws: UserError when the file was written with another optimizer or lacks its state.
    public static func loadOptimizer(_ file: SafetensorsFile, into optimizer: Optimizer<Float>, model: Sequential<Float>, source: String) throws {
        let names = optimizer.stateNames
        let present = Set(file.entries.filter { $0.name.hasPrefix(optimizerPrefix) }.map { String($0.name.dropFirst(optimizerPrefix.count).split(separator: ".").first ?? "") })
        guard present == Set(names) else {
            throw UserError("\(source): checkpoint holds optimizer state [\(present.sorted().joined(separator: ", "))] but this run's \(optimizer.config.kind.rawValue) (momentum \(optimizer.config.momentum)) needs [\(names.joined(separator: ", "))]; resume with the optimizer settings it was written with, or start from its weights with --init")
        }
        for (k, stateName) in names.enumerated() {
            for t in model.namedTensors {
                let name = "\(optimizerPrefix)\(stateName).\(t.name)"
                guard let e = file.entry(name), e.shape == t.shape else {
                    throw UserError("\(source): optimizer tensor '\(name)' is missing or has the wrong shape")
                }
                try file.copy(e, into: optimizer.state[k].pointer + t.offset)
            }
        }
        guard let s = file.metadata["optimizer_step_count"], let n = Int(s), n >= 0 else {
            throw UserError("\(source): metadata 'optimizer_step_count' is missing or not a number")
        }
        optimizer.stepCount = n
    }

    /// True when every parameter and optimizer-state value is finite (a checkpoint worth keeping).
    public static func allFinite(model: Sequential<Float>, optimizer: Optimizer<Float>?) -> Bool {
        guard NNCore.allFinite(model.parameters.pointer, count: model.parameterCount) else { return false }
        for b in optimizer?.state ?? [] where !NNCore.allFinite(b.pointer, count: b.count) { return false }
        return true
    }
}
