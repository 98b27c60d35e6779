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
        public init(dimensions: [Int], data: [UInt8]) { self.dimensions = dimensions; self.data = data }
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

    /// Deflate's best case: one compressed byte stands for at most 1032 bytes of output
    /// (zlib's technical details), so a gzip file of n bytes holds at most 1032·n bytes.
    static let maxDeflateRatio = 1032

    /// Reads an IDX file of unsigned bytes (type 0x08), through zlib (which passes
    /// uncompressed files through unchanged).
    ///
    /// The header is read first and checked against the file before anything is allocated:
    /// the size it promises (∏ dims, overflow-checked) must fit in the file (raw: exactly the
    /// bytes after the header; gzip: at most 1032× the compressed size) and in memory. The data
    /// is then read straight into an array of that size, so loading holds one copy of it.
    ///
    /// - Throws: UserError naming the file when it is missing, has a wrong magic number,
    ///   an unsupported type, sizes that overflow or exceed the file or memory, or fewer
    ///   bytes than its header promises.
    public static func read(_ path: String) throws -> Array {
        guard FileManager.default.fileExists(atPath: path) else {
            throw UserError("\(path): file not found")
        }
        let fileSize = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? Int.max
        guard let f = gzopen(path, "rb") else { throw UserError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { gzclose(f) }
        return try decode(path: path, read: { p, n in try read(f, into: p, count: n, path: path) },
                          dataLimit: { headerBytes in
                              gzdirect(f) != 0 ? (max(0, fileSize - headerBytes), true)
                                               : (SizeLimits.multiply(fileSize, maxDeflateRatio) ?? Int.max, false)
                          })
    }

    /// Parses an uncompressed IDX file held in memory (the entry point of the fuzzer; `read`
    /// applies the same checks to files).
    ///
    /// - Parameter source: the name used in messages.
    public static func parse(bytes: [UInt8], source: String) throws -> Array {
        var offset = 0
        return try bytes.withUnsafeBytes { raw in
            try decode(path: source, read: { p, n in
                let k = min(n, raw.count - offset)
                if k > 0 { p.copyMemory(from: raw.baseAddress! + offset, byteCount: k) }
                offset += max(k, 0)
                return max(k, 0)
            }, dataLimit: { headerBytes in (max(0, raw.count - headerBytes), true) })
        }
    }

    /// The reader shared by files and memory: `read(p, n)` delivers up to n bytes (fewer at
    /// the end), `dataLimit(headerBytes)` bounds the data bytes the source can still hold
    /// (exact: the bytes left in an uncompressed source; else an upper bound).
    static func decode(path: String, read: (UnsafeMutableRawPointer, Int) throws -> Int,
                       dataLimit: (Int) -> (bytes: Int, exact: Bool)) throws -> Array {
        var magic = [UInt8](repeating: 0, count: 4)
        let got = try magic.withUnsafeMutableBytes { try read($0.baseAddress!, 4) }
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
        let gotHeader = try header.withUnsafeMutableBytes { try read($0.baseAddress!, 4 * nd) }
        guard gotHeader == 4 * nd else { throw UserError("\(path): truncated IDX header") }
        var dims: [Int] = []
        for d in 0..<nd {
            let o = 4 * d
            dims.append(Int(header[o]) << 24 | Int(header[o + 1]) << 16 | Int(header[o + 2]) << 8 | Int(header[o + 3]))
        }
        let shown = dims.map(String.init).joined(separator: "×")
        guard let expected = SizeLimits.product(dims) else {
            throw UserError("\(path): header dimensions \(shown) overflow a 64-bit size; the header is corrupt")
        }
        let limit = dataLimit(4 + 4 * nd)
        guard expected <= limit.bytes else {
            throw UserError(limit.exact
                ? "\(path): truncated: header promises \(shown) = \(expected) bytes of data, file has \(limit.bytes)"
                : "\(path): truncated or corrupt: header promises \(shown) = \(expected) bytes of data (\(SizeLimits.describe(bytes: expected))), more than a compressed file of its size can hold (at most \(limit.bytes))")
        }
        try SizeLimits.checkAllocation(expected, for: "\(path): header dimensions \(shown)")
        var readError: Error?
        var dataCount = 0
        let data = [UInt8](unsafeUninitializedCapacity: expected) { buffer, initialized in
            guard let base = buffer.baseAddress, expected > 0 else { initialized = 0; return }
            do {
                dataCount = try read(base, expected)
            } catch { readError = error }
            // UInt8 is trivial: zero what was not read, so every element is initialized.
            if dataCount < expected { (base + dataCount).initialize(repeating: 0, count: expected - dataCount) }
            initialized = expected
        }
        if let readError { throw readError }
        guard dataCount >= expected else {
            throw UserError("\(path): truncated: header promises \(shown) = \(expected) bytes of data, file has \(dataCount)")
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

    /// An image set read from a directory, with the files it came from (for messages).
    struct ImageFiles {
        var dataset: Dataset
        var images: String
        var labels: String
    }

    /// Loads an MNIST-format image set (images + labels) from `dir`.
    ///
    /// - Throws: UserError naming the file when the dimensions are not [count, rows, cols] and
    ///   [count] with count, rows, cols ≥ 1, or the counts differ.
    static func loadImageFiles(dir: String, prefix: String, name: String) throws -> ImageFiles {
        let imgPath = try locate(dir, "\(prefix)-images-idx3-ubyte")
        let lblPath = try locate(dir, "\(prefix)-labels-idx1-ubyte")
        let set = try imageSet(images: read(imgPath), labels: read(lblPath), imagePath: imgPath, labelPath: lblPath, name: name)
        return ImageFiles(dataset: set, images: imgPath, labels: lblPath)
    }

    /// An image set from an images file ([count, rows, cols]) and a labels file ([count]).
    ///
    /// - Throws: UserError naming the file whose dimensions do not fit.
    public static func imageSet(images: Array, labels: Array, imagePath: String, labelPath lblPath: String,
                                name: String) throws -> Dataset {
        let imgPath = imagePath
        guard images.dimensions.count == 3 else { throw UserError("\(imgPath): expected 3 dimensions (count, rows, cols), got \(images.dimensions)") }
        guard labels.dimensions.count == 1 else { throw UserError("\(lblPath): expected 1 dimension, got \(labels.dimensions)") }
        guard images.dimensions.allSatisfy({ $0 >= 1 }) else {
            throw UserError("\(imgPath): header dimensions \(images.dimensions.map(String.init).joined(separator: "×")): count, rows and cols must all be at least 1")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw UserError("\(imgPath) has \(images.dimensions[0]) images but \(lblPath) has \(labels.dimensions[0]) labels")
        }
        let lbl = labels.data.map { Int32($0) }
        let classes = Int(lbl.max() ?? 0) + 1
        return Dataset(name: name, features: .bytes(images.data),
                       sampleShape: [1, images.dimensions[1], images.dimensions[2]],
                       task: .classification(classes: max(classes, 10)), labels: lbl)
    }

    /// Loads an MNIST-format image set (images + labels) from `dir`.
    public static func loadImages(dir: String, prefix: String, name: String) throws -> Dataset {
        try loadImageFiles(dir: dir, prefix: prefix, name: name).dataset
    }

    /// Loads train and test sets of an MNIST-format directory.
    ///
    /// - Throws: UserError when a file is missing or corrupt, or the test set does not fit
    ///   the training set (image size, labels outside the training classes).
    public static func loadSplit(dir: String, name: String) throws -> DataSplit {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw UserError("\(dir): dataset directory not found" + (dir.hasPrefix("/usr/share/datasets") ? " (install it with: apt-get install dataset-fashion-mnist)" : ""))
        }
        let train = try loadImageFiles(dir: dir, prefix: "train", name: name)
        let test = try loadImageFiles(dir: dir, prefix: "t10k", name: name)
        let split = DataSplit(train: train.dataset, test: test.dataset)
        try split.checkAgreement(train: train.images, test: test.images, testLabels: test.labels)
        return split
    }
}
