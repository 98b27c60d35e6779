// TensorBoard event files: the checksum and the protocol-buffer bytes against values fixed
// by their specifications (not by this encoder). Reading the files back with TensorBoard's
// own reader is tests/tensorboard.sh.
import Foundation
import NNCore
import Testing
@testable import Training

@Suite struct TensorBoardTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        // The check value of CRC-32C (RFC 3720 / the CRC catalogue): "123456789" → 0xE3069283.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        // RFC 3720 B.4: 32 bytes of zeros → 0x8A9136AA.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func maskedCRCRotatesAndAddsTheTFRecordDelta() {
        // mask(0xE3069283) = rotr15(0xE3069283) + 0xA282EAD8 (mod 2³²), worked by hand:
        // rotr15 = 0x2507C60D, + 0xA282EAD8 = 0xC78AB0E5.
        #expect(CRC32C.masked(Array("123456789".utf8)) == 0xC78A_B0E5)
    }

    @Test func varintsAreBase128LittleEndian() {
        var e = ProtoEncoder()
        e.varint(1); e.varint(300); e.varint(UInt64.max)
        #expect(e.bytes == [0x01, 0xAC, 0x02] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    @Test func scalarEventHasTheEventAndSummaryFields() {
        let bytes = TensorBoardEvent.scalarsEvent([(tag: "a", value: 1.0)], step: 300, wallTime: 2.0)
        // Event.wall_time (1, fixed64) = 2.0, Event.step (2, varint) = 300,
        // Event.summary (5, len) { Summary.value (1, len) { tag (1, len) "a", simple_value (2, fixed32) 1.0 } }.
        let value: [UInt8] = [0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x80, 0x3F]
        let summary: [UInt8] = [0x0A, UInt8(value.count)] + value
        let expected: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0x00, 0x40] + [0x10, 0xAC, 0x02] + [0x2A, UInt8(summary.count)] + summary
        #expect(bytes == expected)
    }

    @Test func zeroValuesAreStillWritten() {
        // simple_value is a oneof member: a Value without it is not a scalar to a reader.
        let bytes = TensorBoardEvent.scalarsEvent([(tag: "z", value: 0)], step: 0, wallTime: 0)
        #expect(bytes.suffix(5) == [0x15, 0, 0, 0, 0])
    }

    @Test func fileVersionAndSessionStartEvents() {
        let v = TensorBoardEvent.fileVersionEvent(wallTime: 0)
        #expect(v == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x1A, 13] + Array("brain.Event:2".utf8))
        let s = TensorBoardEvent.sessionStartEvent(step: 7, wallTime: 0)
        // step (2) = 7, session_log (7, len) { status (1, varint) = START = 1 }.
        #expect(s == [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x07, 0x3A, 0x02, 0x08, 0x01])
    }

    @Test func recordFramingCarriesLengthAndBothCRCs() {
        let data = Array("123456789".utf8)
        let r = TensorBoardEvent.record(data)
        #expect(r.count == 8 + 4 + data.count + 4)
        #expect(Array(r[0..<8]) == [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(r[8..<12]) == withUnsafeBytes(of: CRC32C.masked([9, 0, 0, 0, 0, 0, 0, 0] as [UInt8]).littleEndian) { Array($0) })
        #expect(Array(r[12..<21]) == data)
        #expect(Array(r[21..<25]) == [0xE5, 0xB0, 0x8A, 0xC7])
    }

    @Test func writerRefusesAnUncreatableDirectory() throws {
        let file = NSTemporaryDirectory() + "nntrain-tb-\(UInt64.random(in: 0...UInt64.max))"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: UserError.self) { try TensorBoardWriter(directory: file + "/runs") }
    }
}
