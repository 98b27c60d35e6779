// Fingerprints: SHA-256 of the flat parameter buffer, so two runs compare bit for bit.
import Crypto
import NNCore

/// Hex SHA-256 of the raw bytes of `count` scalars at `p` (little-endian on every platform we run).
public func sha256Hex<T>(_ p: UnsafePointer<T>, count: Int) -> String {
    let raw = UnsafeRawBufferPointer(start: p, count: count * MemoryLayout<T>.stride)
    return SHA256.hash(data: raw).map { String(format: "%02x", $0) }.joined()
}

/// Hex SHA-256 of bytes.
public func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

extension Sequential {
    /// SHA-256 of the parameter bytes (`parameters_sha256` in the metrics).
    public var parametersSHA256: String { sha256Hex(parameters.pointer, count: parameters.count) }
}
import Foundation
