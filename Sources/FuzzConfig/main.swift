// FuzzConfig: libFuzzer harness of the YAML settings and the model-spec parser
// (Sources/FuzzSupport/FuzzDriver.swift). Each input is read twice:
//  - as a `--config FILE.yaml`: Yams parses it, each plain value of a mapping is applied with
//    TrainConfig.set as `--config` does (lists joined by commas), the result is validated and
//    its model spec parsed and counted for a small image input and a small vector input;
//  - as a model spec (its first line): parsed, counted, and built when it fits the budget.
// NNTRAIN_MEMORY_BUDGET is set to 64 MB, so that a spec naming a large model is refused by
// the budget check rather than by the sanitizer's allocator.
import Foundation
import FuzzSupport
import NNCore
import NeuralNet
import Training
import Yams

/// Counts the spec's footprint for two input shapes; builds it for the vector one if it fits.
func exercise(spec text: String) {
    guard let spec = try? ModelSpec(parsing: text) else { return }
    _ = try? spec.footprint(inputShape: [1, 12, 12], outputs: 10)
    _ = try? spec.checkMemory(inputShape: [3, 9, 7], outputs: 3, batch: 64)
    _ = try? spec.build(Float.self, inputShape: [spec.declaredInput ?? 6], outputs: spec.declaredOutput ?? 4, activation: .tanh)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let text = String(bytes: fuzzBytes(data, size), encoding: .utf8) else { return 0 }
    // The node tree, as the CLI's loader reads it (Yams.load would build a Swift Dictionary,
    // which traps inside Yams on a complex key such as `? - ~`; the CLI never calls it).
    if let root = try? Yams.compose(yaml: text), let mapping = root.mapping {
        var c = TrainConfig()
        for (k, v) in mapping {
            guard let key = k.scalar?.string else { continue }
            let s = v.scalar?.string ?? v.sequence.map { $0.compactMap { $0.scalar?.string }.joined(separator: ",") }
            guard let s else { continue }
            _ = try? c.set(key, s, source: "fuzz.yaml")
        }
        if (try? c.validate()) != nil { exercise(spec: c.model) }
    }
    exercise(spec: String(text.prefix(while: { $0 != "\n" })))
    return 0
}

setenv("NNTRAIN_MEMORY_BUDGET", "64000000", 1)
runFuzzer(fuzzConfig)
