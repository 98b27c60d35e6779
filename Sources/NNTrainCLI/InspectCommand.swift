// `nntrain inspect CHECKPOINT`: what a checkpoint (or any safetensors file) holds.
import ArgumentParser
import Foundation
import NNCore
import NeuralNet
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the tensors, shapes and metadata of a checkpoint (or any safetensors file) and verify its checksums.")
    @Argument(help: ArgumentHelp("The .safetensors file", valueName: "checkpoint"))
    var path: String

    func run() throws {
        let file = try SafetensorsFile(path: path)
        print("\(path): \(file.bytes.count) bytes, \(file.entries.count) tensors")
        let width = max(6, file.entries.map(\.name.count).max() ?? 0)
        print("tensor".padding(toLength: width, withPad: " ", startingAt: 0) + "  dtype  shape")
        for e in file.entries {
            print(e.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + e.dtype.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0) + "  \(e.shape)")
        }
        if !file.metadata.isEmpty { print("metadata:") }
        for k in file.metadata.keys.sorted() {
            print("  \(k): \(file.metadata[k]!)")
        }
        if file.metadata["format"] == Checkpoint.format {
            try Checkpoint.verify(file, source: path)
            print("checksums: ok")
            if let e = file.metadata["epoch"], let s = file.metadata["step_in_epoch"], let g = file.metadata["global_step"] {
                print("position: epoch \((Int(e) ?? 0) + 1), step \(s) in epoch, \(g) steps done")
            }
        } else {
            print("not an nntrain checkpoint (no 'format: \(Checkpoint.format)' metadata): weights only, usable with --init")
        }
    }
}
