// FuzzCSV: libFuzzer harness of the CSV reader (Sources/FuzzSupport/FuzzDriver.swift).
// The first byte picks the options (label column −1, 0 or 1; classes or regression; header
// detected, forced or absent), the rest is the file; a parsed set is checked against
// itself and against its first half as a train/test split.
import FuzzSupport
import Foundation
import NNCore
import NNData

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzBytes(data, size)
    guard let options = bytes.first else { return 0 }
    let labelColumn = Int(options % 3) - 1
    let regression = options & 0x04 != 0
    let header: Bool? = [nil, true, false, nil][Int(options >> 3) & 3]
    guard let set = try? CSV.parse(Data(bytes.dropFirst()), source: "fuzz.csv", labelColumn: labelColumn,
                                   regression: regression, header: header) else { return 0 }
    _ = try? DataSplit(train: set, test: set).checkAgreement(train: "fuzz-train.csv", test: "fuzz-test.csv")
    _ = try? DataSplit(train: set.prefix(set.count / 2), test: set).checkAgreement(train: "fuzz-train.csv", test: "fuzz-test.csv")
    return 0
}

runFuzzer(fuzzCSV)
