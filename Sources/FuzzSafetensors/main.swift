// FuzzSafetensors: libFuzzer harness of the safetensors and checkpoint reader
// (Sources/FuzzSupport/FuzzDriver.swift). Each input is one file: parsed, verified as an
// nntrain checkpoint, checked against a small model's tensors and loaded into it and into
// an SGD-with-momentum optimizer, as --resume and --init do (without the checksums
// matching, a fuzzer's input would rarely get past verify, so loading does not wait for it).
import FuzzSupport
import NNCore
import NeuralNet

/// mlp:4-3-2 (tensors 0.weight [3, 4], 0.bias [3], 2.weight [2, 3], 2.bias [2]).
nonisolated(unsafe) let model: Sequential<Float>? = try? ModelSpec(parsing: "mlp:4-3-2").build(Float.self, inputShape: [4], outputs: 2, activation: .relu)
nonisolated(unsafe) let optimizer: Optimizer<Float>? = model.map {
    var c = OptimizerConfig(); c.momentum = 0.9
    return Optimizer(c, parameterCount: $0.parameterCount)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let model, let optimizer,
          let file = try? SafetensorsFile(bytes: fuzzBytes(data, size), source: "fuzz.safetensors") else { return 0 }
    for e in file.entries { _ = (e.count, e.shape, e.range) }
    _ = try? Checkpoint.verify(file, source: "fuzz.safetensors")
    _ = Checkpoint.headerDigest(file)
    if (try? Checkpoint.checkShapes(file, model: model, source: "fuzz.safetensors")) != nil {
        _ = try? Checkpoint.loadModel(file, into: model, source: "fuzz.safetensors")
        _ = try? Checkpoint.loadOptimizer(file, into: optimizer, model: model, source: "fuzz.safetensors")
    }
    return 0
}

runFuzzer(fuzzSafetensors)
