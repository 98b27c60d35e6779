// The checkpoint file format: safetensors layout, a bit-for-bit round trip, and clear
// rejections of truncated, bit-flipped and other-model files.
import Foundation
import NNCore
import Testing
@testable import NeuralNet

@Suite struct CheckpointFormatTests {
    /// A small model with drawn weights and an SGD-momentum optimizer with non-zero state.
    func fixture(_ spec: String = "mlp:4-8-3", seed: UInt64 = 7) throws -> (Sequential<Float>, Optimizer<Float>) {
        let model = try ModelSpec(parsing: spec).build(Float.self, inputShape: [4], outputs: 3, activation: .relu, gradientTail: 0)
        var rng = RNG(seed: seed)
        model.initialize(.pytorch, rng: &rng)
        var o = OptimizerConfig(); o.momentum = 0.9
        let opt = Optimizer<Float>(o, parameterCount: model.parameterCount)
        for i in 0..<model.parameterCount { opt.state[0][i] = Float(rng.uniform(-1, 1)) }
        opt.stepCount = 42
        return (model, opt)
    }

    @Test func layoutIsSafetensors() throws {
        let (model, opt) = try fixture()
        let bytes = Checkpoint.encode(model: model, optimizer: opt, metadata: ["epoch": "3"])
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        #expect((8 + n) % 8 == 0)
        let header = try #require(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        let w = try #require(header["0.weight"] as? [String: Any])
        #expect(w["dtype"] as? String == "F32")
        #expect((w["shape"] as? [Int]) == [8, 4])                     // PyTorch nn.Linear: [out, in]
        #expect((w["data_offsets"] as? [Int]) == [0, 8 * 4 * 4])
        let meta = try #require(header["__metadata__"] as? [String: String])
        #expect(meta["epoch"] == "3")
        #expect(meta["format"] == Checkpoint.format)
        #expect(header["optimizer.momentum_buffer.2.bias"] != nil)
        // The tensor bytes are the flat parameter buffer, then the momentum buffer.
        let data = Array(bytes[(8 + n)...])
        #expect(data.count == 2 * model.parameterCount * 4)
        let params = model.parameters.array.withUnsafeBytes { Array($0) }
        #expect(Array(data.prefix(params.count)) == params)
    }

    @Test func roundTripIsBitForBit() throws {
        let (model, opt) = try fixture()
        let bytes = Checkpoint.encode(model: model, optimizer: opt, metadata: ["note": "quote \" backslash \\ newline \n ünïcode"])
        let file = try SafetensorsFile(bytes: bytes, source: "mem")
        try Checkpoint.verify(file, source: "mem")
        let (model2, opt2) = try fixture(seed: 99)
        #expect(model2.parametersSHA256 != model.parametersSHA256)
        try Checkpoint.loadModel(file, into: model2, source: "mem")
        try Checkpoint.loadOptimizer(file, into: opt2, model: model2, source: "mem")
        #expect(model2.parameters.array == model.parameters.array)
        #expect(model2.parametersSHA256 == model.parametersSHA256)
        #expect(opt2.state[0].array == opt.state[0].array)
        #expect(opt2.stepCount == 42)
        #expect(file.metadata["note"] == "quote \" backslash \\ newline \n ünïcode")
        // Writing it again gives the same bytes.
        #expect(Checkpoint.encode(model: model2, optimizer: opt2, metadata: ["note": file.metadata["note"]!]) == bytes)
    }

    @Test func truncatedFileIsRejected() throws {
        let (model, opt) = try fixture()
        let bytes = Checkpoint.encode(model: model, optimizer: opt, metadata: [:])
        for cut in [4, 20, bytes.count / 2, bytes.count - 1] {
            let e = #expect(throws: UserError.self) { try SafetensorsFile(bytes: Array(bytes.prefix(cut)), source: "ck.safetensors") }
            #expect(e?.message.contains("ck.safetensors") == true)
            #expect(e?.message.contains("truncated") == true || e?.message.contains("not JSON") == true)
        }
    }

    @Test func flippedBitInTensorsIsRejected() throws {
        let (model, opt) = try fixture()
        var bytes = Checkpoint.encode(model: model, optimizer: opt, metadata: [:])
        bytes[bytes.count - 5] ^= 0x10
        let file = try SafetensorsFile(bytes: bytes, source: "ck.safetensors")   // still parses…
        let e = #expect(throws: UserError.self) { try Checkpoint.verify(file, source: "ck.safetensors") }
        #expect(e?.message.contains("corrupt") == true)                         // …but fails its checksum
    }

    @Test func flippedBitInMetadataIsRejected() throws {
        let (model, opt) = try fixture()
        var bytes = Checkpoint.encode(model: model, optimizer: opt, metadata: ["epoch": "3"])
        let text = Array("\"epoch\":\"3\"".utf8)
        let at = try #require((0..<(bytes.count - text.count)).first { Array(bytes[$0..<($0 + text.count)]) == text })
        bytes[at + text.count - 2] = UInt8(ascii: "2")                         // "3" → "2"
        let file = try SafetensorsFile(bytes: bytes, source: "ck.safetensors")
        let e = #expect(throws: UserError.self) { try Checkpoint.verify(file, source: "ck.safetensors") }
        #expect(e?.message.contains("metadata") == true)
    }

    @Test func otherModelIsRejectedWithItsShapes() throws {
        let (model, opt) = try fixture("mlp:4-8-3")
        let file = try SafetensorsFile(bytes: Checkpoint.encode(model: model, optimizer: opt, metadata: [:]), source: "ck.safetensors")
        let (other, _) = try fixture("mlp:4-16-3")
        let e = #expect(throws: UserError.self) { try Checkpoint.loadModel(file, into: other, source: "ck.safetensors") }
        #expect(e?.message.contains("another model shape") == true)
        #expect(e?.kind == .modelMismatch)
        #expect(e?.message.contains("'0.weight' is [8, 4] in the file, [16, 4] in the model") == true)
        let (deeper, _) = try fixture("mlp:4-8-8-3")
        let e2 = #expect(throws: UserError.self) { try Checkpoint.loadModel(file, into: deeper, source: "ck.safetensors") }
        #expect(e2?.message.contains("missing tensor '4.weight'") == true)
    }

    @Test func otherOptimizerIsRejected() throws {
        let (model, opt) = try fixture()
        let file = try SafetensorsFile(bytes: Checkpoint.encode(model: model, optimizer: opt, metadata: [:]), source: "ck")
        var a = OptimizerConfig(); a.kind = .adam
        let adam = Optimizer<Float>(a, parameterCount: model.parameterCount)
        let e = #expect(throws: UserError.self) { try Checkpoint.loadOptimizer(file, into: adam, model: model, source: "ck") }
        #expect(e?.message.contains("exp_avg") == true)
    }

    @Test func nonFiniteStateIsDetected() throws {
        let (model, opt) = try fixture()
        #expect(Checkpoint.allFinite(model: model, optimizer: opt))
        opt.state[0][3] = .nan
        #expect(!Checkpoint.allFinite(model: model, optimizer: opt))
        opt.state[0][3] = 0
        model.parameters[0] = .infinity
        #expect(!Checkpoint.allFinite(model: model, optimizer: opt))
    }
}

/// Safetensors headers whose shapes overflow (issue 12: `[2^62, 2^62]` trapped inspect,
/// evaluate, --resume and --init, which all parse through SafetensorsFile).
@Suite struct SafetensorsSizeTests {
    func file(shape: String) -> [UInt8] {
        var h = Array("{\"w\":{\"dtype\":\"F32\",\"shape\":\(shape),\"data_offsets\":[0,0]}}".utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var n = UInt64(h.count).littleEndian
        return withUnsafeBytes(of: &n) { Array($0) } + h
    }

    func message(_ bytes: [UInt8]) -> String? {
        do { _ = try SafetensorsFile(bytes: bytes, source: "w.safetensors"); return nil } catch let e as UserError { return e.message } catch { return nil }
    }

    @Test func aShapeOfTwoToThe62SquaredIsAnError() {
        #expect(message(file(shape: "[4611686018427387904, 4611686018427387904]"))?.hasPrefix("w.safetensors: not a valid safetensors file: tensor 'w' has a malformed shape") == true)
    }

    @Test func aShapeWhoseProductOverflowsIsAnError() {
        #expect(message(file(shape: "[2147483648, 2147483648, 2147483648]")) == "w.safetensors: not a valid safetensors file: tensor 'w' has shape [2147483648, 2147483648, 2147483648], whose size overflows a 64-bit integer")
    }

    @Test func fractionalAndNegativeSizesAreErrors() {
        #expect(message(file(shape: "[1.5]")) != nil)
        #expect(message(file(shape: "[-1]")) != nil)
        #expect(message(file(shape: "[1e300]")) != nil)
    }

    @Test func anEmptyTensorStillParses() throws {
        let f = try SafetensorsFile(bytes: file(shape: "[0, 4611686018427387904]".replacingOccurrences(of: "4611686018427387904", with: "5")), source: "w")
        #expect(f.entries.first?.shape == [0, 5])
    }
}
