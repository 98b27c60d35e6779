// IDX: the MNIST file format (LeCun et al.), read raw or gzip-compressed through zlib.
//   magic: 0x00 0x00 <type> <ndims>, then ndims big-endian UInt32 sizes, then the data.
import CZlib
import Foundation
import NNCore

/// Reader of IDX files (`.gz` or raw; zlib reads both).
public enum IDX {
    /// The contents of one IDX file of unsigned bytes.
    public struct Array: Sendable {
        public var dimensions: [Int]
        public var data: [UInt8]
    }

    /// Reads a whole file through zlib (which passes uncompressed files through unchanged).
    static func readAll(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("\(path): file not found")
        }
        guard let f = gzopen(path, "rb") else { throw UserError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { gzclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let msg = gzerror(f, &code).map { String(cString: $0) } ?? "read error"
                throw UserError("\(path): corrupt or truncated compressed data (\(msg))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<Int(n)])
        }
        return out
    }

    /// Reads an IDX file of unsigned bytes (type 0x08).
    ///
    /// - Throws: UserError naming the file when it is missing, has a wrong magic number,
    ///   an unsupported type, or fewer bytes than its header promises.
    public static func read(_ path: String) throws -> Array {
        let bytes = try readAll(path)
        guard bytes.count >= 4 else { throw UserError("\(path): too short to be an IDX file (\(bytes.count) bytes)") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw UserError(String(format: "%@: wrong magic number 0x%02x%02x%02x%02x; not an IDX file", path, bytes[0], bytes[1], bytes[2], bytes[3]))
        }
        guard bytes[2] == 0x08 else {
            throw UserError(String(format: "%@: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)", path, bytes[2]))
        }
        let nd = Int(bytes[3])
        guard nd >= 1, nd <= 4 else { throw UserError("\(path): IDX file with \(nd) dimensions; expected 1 to 4") }
        guard bytes.count >= 4 + 4 * nd else { throw UserError("\(path): truncated IDX header") }
        var dims: [Int] = []
        for d in 0..<nd {
            let o = 4 + 4 * d
            dims.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        let expected = dims.reduce(1, *)
        let start = 4 + 4 * nd
        guard bytes.count - start >= expected else {
            throw UserError("\(path): truncated: header promises \(dims.map(String.init).joined(separator: "×")) = \(expected) bytes of data, file has \(bytes.count - start)")
        }
        return Array(dimensions: dims, data: Swift.Array(bytes[start..<(start + expected)]))
    }

    /// Finds `name` or `name.gz` in `dir`.
    static func locate(_ dir: String, _ name: String) throws -> String {
        for candidate in ["\(dir)/\(name)", "\(dir)/\(name).gz"] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        throw UserError("\(dir)/\(name)(.gz): file not found; --data must name a directory with the four MNIST-format IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)")
    }

    /// Loads an MNIST-format image set (images + labels) from `dir`.
    public static func loadImages(dir: String, prefix: String, name: String) throws -> Dataset {
        let imgPath = try locate(dir, "\(prefix)-images-idx3-ubyte")
        let lblPath = try locate(dir, "\(prefix)-labels-idx1-ubyte")
        let images = try read(imgPath)
        let labels = try read(lblPath)
        guard images.dimensions.count == 3 else { throw UserError("\(imgPath): expected 3 dimensions (count, rows, cols), got \(images.dimensions)") }
        guard labels.dimensions.count == 1 else { throw UserError("\(lblPath): expected 1 dimension, got \(labels.dimensions)") }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw UserError("\(imgPath) has \(images.dimensions[0]) images but \(lblPath) has \(labels.dimensions[0]) labels")
        }
        let lbl = labels.data.map { Int32($0) }
        let classes = Int(lbl.max() ?? 0) + 1
        return Dataset(name: name, features: .bytes(images.data),
                       sampleShape: [1, images.dimensions[1], images.dimensions[2]],
                       task: .classification(classes: max(classes, 10)), labels: lbl)
    }

    /// Loads train and test sets of an MNIST-format directory.
    public static func loadSplit(dir: String, name: String) throws -> DataSplit {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw UserError("\(dir): dataset directory not found" + (dir.hasPrefix("/usr/share/datasets") ? " (install it with: apt-get install dataset-fashion-mnist)" : ""))
        }
        return DataSplit(train: try loadImages(dir: dir, prefix: "train", name: name),
                         test: try loadImages(dir: dir, prefix: "t10k", name: name))
    }
}
