// Safetensors: the file format of Hugging Face's `safetensors` (what nntrain's checkpoints
// are), written and read without dependencies:
//
//   [8 bytes: N, little-endian UInt64] [N bytes: JSON header, space-padded to 8] [tensor bytes]
//
// The header maps each tensor name to {"dtype": "F32", "shape": [...], "data_offsets": [b, e]}
// (offsets relative to the start of the tensor bytes) and may hold "__metadata__", a
// string → string map. Tensor bytes are little-endian, row-major, back to back.
import Foundation
import NNCore

#if _endian(big)
#error("nntrain's safetensors code copies scalars as raw bytes and assumes a little-endian host")
#endif

/// The element types a safetensors file can declare (the ones nntrain reads or writes).
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .F64, .I64: 8
        case .F32, .I32: 4
        case .F16, .BF16, .I16: 2
        case .I8, .U8, .BOOL: 1
        }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Sendable, Equatable {
    public var name: String
    public var dtype: SafetensorsDType
    public var shape: [Int]
    /// Byte range within the tensor data (after the header).
    public var range: Range<Int>
    /// Elements, ∏ shape (0 if the product overflows; `SafetensorsFile` rejects such entries).
    public var count: Int { SizeLimits.product(shape) ?? 0 }
}

/// A safetensors file held in memory: header entries in data order, metadata, and the bytes.
public struct SafetensorsFile: Sendable {
    public var metadata: [String: String]
    /// Tensor entries, ordered by their offset in the data.
    public var entries: [SafetensorsEntry]
    /// The whole file.
    public let bytes: [UInt8]
    /// Where the tensor data starts in `bytes` (8 + header length).
    public let dataStart: Int

    /// The entry named `name`, if present.
    public func entry(_ name: String) -> SafetensorsEntry? { entries.first { $0.name == name } }

    /// Calls `body` with the raw bytes of the tensor data (everything after the header).
    public func withTensorData<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[dataStart...])) }
    }

    /// Copies tensor `e` into `out` as Float (converting from F64 if needed).
    ///
    /// - Precondition: `out` holds `e.count` elements.
    public func copy(_ e: SafetensorsEntry, into out: UnsafeMutablePointer<Float>) throws {
        try bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + e.range.lowerBound
            switch e.dtype {
            case .F32:
                memcpy(out, base, e.count * 4)
            case .F64:
                for i in 0..<e.count { out[i] = Float(base.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            default:
                throw UserError("tensor '\(e.name)' has dtype \(e.dtype.rawValue); nntrain reads F32 or F64 weights (convert with tensor.float() before saving)")
            }
        }
    }

    /// A JSON number that is a whole size in 0...2⁵³ (exact in a Double), else nil.
    static func size(_ value: Any) -> Int? {
        guard let n = value as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d.isFinite, d >= 0, d <= 0x1p53, d == d.rounded(.towardZero) else { return nil }
        return Int(exactly: d)
    }

    /// Parses and checks a safetensors file.
    ///
    /// - Parameter source: the file name, for messages.
    /// - Throws: UserError saying what is wrong (truncated, bad header, overlapping data…).
    public init(bytes: [UInt8], source: String) throws {
        func bad(_ why: String) -> UserError { UserError("\(source): not a valid safetensors file: \(why)") }
        guard bytes.count >= 8 else { throw bad("only \(bytes.count) bytes (truncated?)") }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n >= 2, n <= 100_000_000 else { throw bad("header length \(n) is implausible") }
        guard 8 + Int(n) <= bytes.count else { throw bad("header of \(n) bytes runs past the end of the \(bytes.count)-byte file (truncated?)") }
        let headerBytes = Data(bytes[8..<(8 + Int(n))])
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw bad("header is not JSON (\(error.localizedDescription))")
        }
        guard let header = object as? [String: Any] else { throw bad("header is not a JSON object") }
        var meta: [String: String] = [:]
        var entries: [SafetensorsEntry] = []
        for (key, value) in header {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw bad("__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw bad("__metadata__['\(k)'] is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let t = value as? [String: Any], let dt = t["dtype"] as? String,
                  let shape = t["shape"] as? [Any], let offs = t["data_offsets"] as? [Any], offs.count == 2
            else { throw bad("entry '\(key)' lacks dtype, shape or data_offsets") }
            guard let dtype = SafetensorsDType(rawValue: dt) else { throw bad("tensor '\(key)' has unknown dtype '\(dt)'") }
            let dims = shape.compactMap(SafetensorsFile.size)
            let o = offs.compactMap(SafetensorsFile.size)
            guard dims.count == shape.count, o.count == 2, o[1] >= o[0]
            else { throw bad("tensor '\(key)' has a malformed shape or offsets (sizes must be whole numbers from 0 to 2^53)") }
            // Overflow-checked: a shape like [2^62, 2^62] names more bytes than any file holds.
            guard let elements = SizeLimits.product(dims), let needed = SizeLimits.multiply(elements, dtype.size) else {
                throw bad("tensor '\(key)' has shape \(dims), whose size overflows a 64-bit integer")
            }
            let e = SafetensorsEntry(name: key, dtype: dtype, shape: dims, range: o[0]..<o[1])
            guard e.range.count == needed else {
                throw bad("tensor '\(key)' spans \(e.range.count) bytes but shape \(dims) of \(dt) needs \(needed)")
            }
            entries.append(e)
        }
        entries.sort { $0.range.lowerBound < $1.range.lowerBound }
        let dataLength = bytes.count - 8 - Int(n)
        var expected = 0
        for e in entries {
            guard e.range.lowerBound == expected else { throw bad("tensor '\(e.name)' does not start where the previous one ends (gap or overlap)") }
            expected = e.range.upperBound
        }
        guard expected == dataLength else {
            throw bad(expected > dataLength
                      ? "tensor data needs \(expected) bytes but the file has \(dataLength) (truncated?)"
                      : "\(dataLength - expected) bytes after the last tensor")
        }
        self.metadata = meta
        self.entries = entries
        self.bytes = bytes
        self.dataStart = 8 + Int(n)
    }

    /// Reads and parses the file at `path`.
    ///
    /// - Throws: UserError when it is missing, unreadable or not valid safetensors.
    public init(path: String) throws {
        try SizeLimits.checkFileFits(path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UserError("\(path): cannot read the file (does it exist?)")
        }
        try self.init(bytes: [UInt8](data), source: path)
    }
}

/// Builds a safetensors file: tensors in the order added, then `encode()`.
public struct SafetensorsWriter {
    public var metadata: [String: String] = [:]
    private var header: [(name: String, dtype: SafetensorsDType, shape: [Int], range: Range<Int>)] = []
    private var data: [UInt8] = []

    public init() {}

    /// Appends a tensor of `shape` whose raw little-endian bytes are `bytes`.
    public mutating func add(_ name: String, dtype: SafetensorsDType, shape: [Int], bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.size, "tensor \(name): \(bytes.count) bytes for shape \(shape)")
        precondition(!header.contains { $0.name == name } && name != "__metadata__", "duplicate tensor name \(name)")
        let start = data.count
        data.append(contentsOf: bytes)
        header.append((name, dtype, shape, start..<data.count))
    }

    /// Appends `shape.product` Floats starting at `p`.
    public mutating func add(_ name: String, shape: [Int], floats p: UnsafePointer<Float>) {
        add(name, dtype: .F32, shape: shape, bytes: UnsafeRawBufferPointer(start: p, count: shape.reduce(1, *) * 4))
    }

    /// SHA-256 (hex) of the tensor bytes added so far: the checksum nntrain stores in metadata.
    public var tensorDataSHA256: String { data.withUnsafeBytes { sha256Hex($0) } }

    /// The file's bytes: length, JSON header (padded with spaces to a multiple of 8), data.
    public func encode() -> [UInt8] {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        for t in header {
            if !first { json += "," }
            first = false
            json += "\(jsonString(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(t.range.lowerBound),\(t.range.upperBound)]}"
        }
        json += "}"
        var h = Array(json.utf8)
        while (8 + h.count) % 8 != 0 { h.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + h.count + data.count)
        var n = UInt64(h.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }
}

/// `s` as a JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
