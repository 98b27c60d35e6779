// IDX reader: good files (raw and gzip), and every way a file can be bad.
import Foundation
import Testing
@testable import NNData
import NNCore
import CZlib

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "nntrain-test-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

func idxBytes(dims: [Int], data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var b: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { b += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    return b + data
}

func write(_ path: String, _ bytes: [UInt8]) { FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

/// Replaces `path` by `path.gz` (best compression), as `gzip -f` does, with zlib in-process:
/// a subprocess per call left Foundation.Process's side tables to LeakSanitizer now and then.
func gzip(_ path: String) {
    let data = FileManager.default.contents(atPath: path) ?? Data()
    guard let f = gzopen(path + ".gz", "wb9") else { Issue.record("gzopen \(path).gz failed"); return }
    let written = data.withUnsafeBytes { gzwrite(f, $0.baseAddress, UInt32($0.count)) }
    #expect(Int(written) == data.count)
    #expect(gzclose(f) == Z_OK)
    try? FileManager.default.removeItem(atPath: path)
}

@Suite struct IDXTests {
    @Test func readsRawAndGzip() throws {
        let dir = tempDir()
        let pixels = (0..<(3 * 2 * 2)).map { UInt8($0 * 20) }
        write("\(dir)/train-images-idx3-ubyte", idxBytes(dims: [3, 2, 2], data: pixels))
        write("\(dir)/train-labels-idx1-ubyte", idxBytes(dims: [3], data: [2, 0, 1]))
        write("\(dir)/t10k-images-idx3-ubyte", idxBytes(dims: [1, 2, 2], data: [0, 255, 0, 255]))
        write("\(dir)/t10k-labels-idx1-ubyte", idxBytes(dims: [1], data: [1]))
        gzip("\(dir)/train-images-idx3-ubyte")   // one of them compressed
        let split = try IDX.loadSplit(dir: dir, name: "tiny")
        #expect(split.train.count == 3)
        #expect(split.train.sampleShape == [1, 2, 2])
        #expect(split.train.labels == [2, 0, 1])
        #expect(split.test.count == 1)
        guard case .bytes(let b) = split.train.features else { Issue.record("expected bytes"); return }
        #expect(b == pixels)
        // Normalized per batch: byte / 255.
        let x = Buffer<Float>(count: 4)
        var idx: [Int32] = [2]
        split.train.gather(&idx, count: 1, into: x.pointer, labels: nil, targets: nil)
        #expect(x.array == pixels[8..<12].map { Float($0) * (Float(1) / 255) })
    }

    @Test func missingFile() {
        #expect(throws: UserError("/nonexistent/x-images: file not found")) { try IDX.read("/nonexistent/x-images") }
        let dir = tempDir()
        #expect { try IDX.loadSplit(dir: dir, name: "x") } throws: { ($0 as? UserError)?.message.contains("train-images-idx3-ubyte") == true }
        #expect { try IDX.loadSplit(dir: dir + "/nope", name: "x") } throws: { ($0 as? UserError)?.message.contains("directory not found") == true }
    }

    @Test func wrongMagic() {
        let dir = tempDir()
        write("\(dir)/f", [0x12, 0x34, 0x08, 0x01, 0, 0, 0, 1, 7])
        #expect { try IDX.read("\(dir)/f") } throws: { ($0 as? UserError)?.message == "\(dir)/f: wrong magic number 0x12340801; not an IDX file" }
    }

    @Test func truncated() {
        let dir = tempDir()
        write("\(dir)/f", idxBytes(dims: [10, 2, 2], data: [1, 2, 3]))
        #expect { try IDX.read("\(dir)/f") } throws: {
            ($0 as? UserError)?.message == "\(dir)/f: truncated: header promises 10×2×2 = 40 bytes of data, file has 3"
        }
        write("\(dir)/g", [0, 0, 8, 3, 0, 0])
        #expect { try IDX.read("\(dir)/g") } throws: { ($0 as? UserError)?.message == "\(dir)/g: truncated IDX header" }
    }

    @Test func truncatedGzip() throws {
        let dir = tempDir()
        write("\(dir)/f", idxBytes(dims: [1000], data: (0..<1000).map { UInt8($0 % 251) }))
        gzip("\(dir)/f")
        let full = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/f.gz"))
        FileManager.default.createFile(atPath: "\(dir)/cut.gz", contents: full.prefix(full.count / 2))
        #expect(throws: UserError.self) { try IDX.read("\(dir)/cut.gz") }
    }

    @Test func unsupportedType() {
        let dir = tempDir()
        write("\(dir)/f", idxBytes(dims: [1], data: [0, 0, 0, 0], type: 0x0D))
        #expect { try IDX.read("\(dir)/f") } throws: { ($0 as? UserError)?.message.contains("type 0x0d is not supported") == true }
    }

    @Test func mismatchedCounts() {
        let dir = tempDir()
        write("\(dir)/train-images-idx3-ubyte", idxBytes(dims: [2, 1, 1], data: [1, 2]))
        write("\(dir)/train-labels-idx1-ubyte", idxBytes(dims: [3], data: [0, 1, 0]))
        #expect { try IDX.loadImages(dir: dir, prefix: "train", name: "x") } throws: { ($0 as? UserError)?.message.contains("has 2 images but") == true }
    }
}

@Suite struct CSVTests {
    @Test func classificationWithHeader() throws {
        let dir = tempDir()
        write("\(dir)/a.csv", Array("label,x,y\n1,0.5,2\n0,-1,3e-1\n\n".utf8))
        let d = try CSV.read("\(dir)/a.csv")
        #expect(d.count == 2)
        #expect(d.labels == [1, 0])
        #expect(d.task == .classification(classes: 2))
        guard case .floats(let f) = d.features else { Issue.record("floats"); return }
        #expect(f == [0.5, 2, -1, 0.3])
    }

    @Test func regressionLabelLast() throws {
        let dir = tempDir()
        write("\(dir)/r.csv", Array("1,2,0.25\n3,4,-7.5\n".utf8))
        let d = try CSV.read("\(dir)/r.csv", labelColumn: -1, regression: true)
        #expect(d.targets == [0.25, -7.5])
        #expect(d.task == .regression(outputs: 1))
    }

    @Test func nonNumericCellNamesFileLineColumn() {
        let dir = tempDir()
        write("\(dir)/b.csv", Array("label,x\n1,0.5\n0,abc\n".utf8))
        #expect(throws: UserError("\(dir)/b.csv:3:2: 'abc' is not a number")) { try CSV.read("\(dir)/b.csv") }
    }

    @Test func shortRowAndBadLabel() {
        let dir = tempDir()
        write("\(dir)/c.csv", Array("1,2,3\n1,2\n".utf8))
        #expect(throws: UserError("\(dir)/c.csv:2: expected 3 columns, found 2")) { try CSV.read("\(dir)/c.csv") }
        write("\(dir)/d.csv", Array("1.5,2\n".utf8))
        #expect { try CSV.read("\(dir)/d.csv") } throws: { ($0 as? UserError)?.message.hasPrefix("\(dir)/d.csv:1:1: class label") == true }
        #expect(throws: UserError("/no/such.csv: file not found")) { try CSV.read("/no/such.csv") }
    }
}

@Suite struct SyntheticAndSamplerTests {
    @Test func gates() {
        #expect(Synthetic.gate("and").labels == [0, 0, 0, 1])
        #expect(Synthetic.gate("or").labels == [0, 1, 1, 1])
        #expect(Synthetic.gate("xor").labels == [0, 1, 1, 0])
    }

    @Test func seededSetsAreReproducible() throws {
        let a = try Synthetic.split("spirals", seed: 3), b = try Synthetic.split("spirals", seed: 3)
        #expect(a.train.checksum == b.train.checksum)
        let c = try Synthetic.split("spirals", seed: 4)
        #expect(a.train.checksum != c.train.checksum)
        let r = try Synthetic.split("linear-regression", seed: 1, trainSize: 50)
        #expect(r.train.count == 50 && r.test.count == 1000)
        let blobs = try Synthetic.split("blobs", seed: 1)
        #expect(blobs.train.count == 600)
        #expect(throws: UserError.self) { try Synthetic.split("nope", seed: 1) }
    }

    @Test func slicesCoverEveryPositionOnce() {
        for n in [0, 1, 3, 7, 128, 129] {
            for parts in 1...5 {
                var seen: [Int] = []
                for p in 0..<parts { seen += Array(Sampler.slice(10..<(10 + n), part: p, of: parts)) }
                #expect(seen == Array(10..<(10 + n)), "n=\(n) parts=\(parts)")
            }
        }
    }

    @Test func epochPermutationDependsOnSeedAndEpochOnly() {
        let a = Sampler(count: 100, batchSize: 32, seed: 5), b = Sampler(count: 100, batchSize: 32, seed: 5)
        a.setEpoch(3); b.setEpoch(1); b.setEpoch(3)
        #expect(a.order.array == b.order.array)
        b.setEpoch(4)
        #expect(a.order.array != b.order.array)
        #expect(a.batchesPerEpoch == 4)
        #expect(a.batchRange(3) == 96..<100)
    }
}
