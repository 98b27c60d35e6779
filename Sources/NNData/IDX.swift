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

    /// Reads up to `count` bytes from `f` into `p`; returns how many it read (fewer at end of file).
    ///
    /// - Throws: UserError naming `path` when zlib reports corrupt or truncated data.
    static func read(_ f: gzFile, into p: UnsafeMutableRawPointer, count: Int, path: String) throws -> Int {
        var done = 0
        while done < count {
            let n = gzread(f, p + done, UInt32(min(count - done, 1 << 30)))
            if n < 0 {
                var code: Int32 = 0
                let msg = gzerror(f, &code).map { String(cString: $0) } ?? "read error"
                throw UserError("\(path): corrupt or truncated compressed data (\(msg))")
            }
            if n == 0 { break }
            done += Int(n)
        }
        return done
    }

    /// Reads an IDX file of unsigned bytes (type 0x08), through zlib (which passes
    /// uncompressed files through unchanged).
    ///
    /// The header is read first and the data straight into an array of the size it promises,
    /// so loading holds one copy of the data (reading the whole file into a growing buffer
    /// and then copying the data out of it peaked at about twice the data size).
    ///
    /// - Throws: UserError naming the file when it is missing, has a wrong magic number,
    ///   an unsupported type, or fewer bytes than its header promises.
    public static func read(_ path: String) throws -> Array {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("\(path): file not found")
        }
        guard let f = gzopen(path, "rb") else { throw UserError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { gzclose(f) }
        var magic = [UInt8](repeating: 0, count: 4)
        let got = try magic.withUnsafeMutableBytes { try read(f, into: $0.baseAddress!, count: 4, path: path) }
        guard got >= 4 else { throw UserError("\(path): too short to be an IDX file (\(got) bytes)") }
        guard magic[0] == 0, magic[1] == 0 else {
            throw UserError(String(format: "%@: wrong magic number 0x%02x%02x%02x%02x; not an IDX file", path, magic[0], magic[1], magic[2], magic[3]))
        }
        guard magic[2] == 0x08 else {
            throw UserError(String(format: "%@: IDX element type 0x%02x is not supported (only unsigned bytes, 0x08)", path, magic[2]))
        }
        let nd = Int(magic[3])
        guard nd >= 1, nd <= 4 else { throw UserError("\(path): IDX file with \(nd) dimensions; expected 1 to 4") }
        var header = [UInt8](repeating: 0, count: 4 * nd)
        let gotHeader = try header.withUnsafeMutableBytes { try read(f, into: $0.baseAddress!, count: 4 * nd, path: path) }
        guard gotHeader == 4 * nd else { throw UserError("\(path): truncated IDX header") }
        var dims: [Int] = []
        for d in 0..<nd {
            let o = 4 * d
            dims.append(Int(header[o]) << 24 | Int(header[o + 1]) << 16 | Int(header[o + 2]) << 8 | Int(header[o + 3]))
        }
        let expected = dims.reduce(1, *)
        var readError: Error?
        var dataCount = 0
        let data = [UInt8](unsafeUninitializedCapacity: expected) { buffer, initialized in
            do {
                dataCount = expected == 0 ? 0 : try read(f, into: buffer.baseAddress!, count: expected, path: path)
            } catch { readError = error }
            // UInt8 is trivial: zero what was not read, so every element is initialized.
            if dataCount < expected { (buffer.baseAddress! + dataCount).initialize(repeating: 0, count: expected - dataCount) }
            initialized = expected
        }
        if let readError { throw readError }
        guard dataCount >= expected else {
            throw UserError("\(path): truncated: header promises \(dims.map(String.init).joined(separator: "×")) = \(expected) bytes of data, file has \(dataCount)")
        }
        return Array(dimensions: dims, data: data)
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
