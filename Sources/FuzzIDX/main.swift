// FuzzIDX: libFuzzer harness of the IDX reader (Sources/FuzzSupport/FuzzDriver.swift).
// Each input is one uncompressed IDX file; when it parses as images, it is also turned into
// an image set with one label per image and checked against itself as a train/test split,
// the path `--dataset idx` takes.
import FuzzSupport
import NNCore
import NNData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let images = try? IDX.parse(bytes: fuzzBytes(data, size), source: "fuzz-images") else { return 0 }
    guard let n = images.dimensions.first, n <= 1 << 16 else { return 0 }
    let labels = IDX.Array(dimensions: [n], data: (0..<n).map { UInt8(truncatingIfNeeded: $0 % 12) })
    if let set = try? IDX.imageSet(images: images, labels: labels, imagePath: "fuzz-images", labelPath: "fuzz-labels", name: "fuzz") {
        _ = try? DataSplit(train: set, test: set).checkAgreement(train: "fuzz-train", test: "fuzz-test")
    }
    return 0
}

runFuzzer(fuzzIDX)
