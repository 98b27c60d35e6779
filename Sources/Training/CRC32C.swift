// CRC32C: the Castagnoli CRC that TFRecord framing (TensorBoard's event files) checksums
// with. No package this project may use exposes it (swift-crypto has none; zlib's crc32 is
// the IEEE polynomial 0x04C11DB7, a different checksum), so it is a small table-driven one.

/// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and final XOR
/// 0xFFFFFFFF; one table lookup per byte. Check value: CRC32C("123456789") = 0xE3069283.
public enum CRC32C {
    /// table[b] = the CRC register after shifting byte b through 8 reflected steps.
    static let table: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// The CRC-32C of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2³²), so that a
    /// CRC stored inside checksummed data does not checksum to a fixed point.
    public static func masked<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
