// Augmentation: the spec syntax, exact pixels of a shift and a mirror, the spread of the draws,
// and draws that depend on the sample's position rather than on how the batch is sliced.
import Testing
@testable import NNData
import NNCore

@Suite struct AugmentationTests {
    @Test func parsesAndRefuses() {
        #expect(Augmentation(parsing: "none") == Augmentation())
        #expect(Augmentation(parsing: "crop:2,flip") == Augmentation(crop: 2, flip: true))
        #expect(Augmentation(parsing: " FLIP ") == Augmentation(flip: true))
        #expect(Augmentation(parsing: "crop:3")?.description == "crop:3")
        for bad in ["crop:0", "crop:-1", "crop:", "crop:2,crop:3", "flip,flip", "rotate", "crop:2,", "crop:99999999999999999999"] {
            #expect(Augmentation(parsing: bad) == nil, "\(bad)")
        }
        #expect(throws: UserError.self) { try Augmentation(flip: true).check(shape: [4], dataset: "csv") }
        #expect(throws: UserError.self) { try Augmentation(crop: 3).check(shape: [1, 3, 8], dataset: "idx") }
        #expect(throws: Never.self) { try Augmentation(crop: 2, flip: true).check(shape: [1, 28, 28], dataset: "fashion-mnist") }
    }

    @Test func shiftAndMirrorExactPixels() {
        // A 2-channel 3×4 image, pixel (c, h, w) = 100c + 10h + w; padding −1 (channel 0), −2 (channel 1).
        let shape = [2, 3, 4]
        var img: [Float] = []
        for c in 0..<2 { for h in 0..<3 { for w in 0..<4 { img.append(Float(100 * c + 10 * h + w)) } } }
        let pad = [Float](repeating: -1, count: 12) + [Float](repeating: -2, count: 12)
        let scratch = Buffer<Float>(count: 24)
        // dy = 1, dx = −1: y[c, h, w] = x[c, h+1, w−1].
        img.withUnsafeMutableBufferPointer { p in
            pad.withUnsafeBufferPointer { q in
                Augmentation.transform(p.baseAddress!, shape: shape, dy: 1, dx: -1, mirrored: false, padding: q.baseAddress!, scratch: scratch.pointer)
            }
        }
        #expect(Array(img[0..<12]) == [-1, 10, 11, 12, -1, 20, 21, 22, -1, -1, -1, -1])
        #expect(Array(img[12..<24]) == [-2, 110, 111, 112, -2, 120, 121, 122, -2, -2, -2, -2])
        // Mirror only: y[c, h, w] = x[c, h, 3 − w].
        var m: [Float] = (0..<12).map(Float.init)
        m.withUnsafeMutableBufferPointer { p in
            pad.withUnsafeBufferPointer { q in
                Augmentation.transform(p.baseAddress!, shape: [1, 3, 4], dy: 0, dx: 0, mirrored: true, padding: q.baseAddress!, scratch: scratch.pointer)
            }
        }
        #expect(m == [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8])
        // Mirror then shift right by one: y[0, h, w] = x[0, h, 3 − w + 1].
        var ms: [Float] = (0..<12).map(Float.init)
        ms.withUnsafeMutableBufferPointer { p in
            pad.withUnsafeBufferPointer { q in
                Augmentation.transform(p.baseAddress!, shape: [1, 3, 4], dy: 0, dx: 1, mirrored: true, padding: q.baseAddress!, scratch: scratch.pointer)
            }
        }
        #expect(ms == [-1, 3, 2, 1, -1, 7, 6, 5, -1, 11, 10, 9])
    }

    @Test func mirrorExactPixels() {
        // The test-time mirror of a 2-channel 2×3 image, pixel (c, h, w) = 100c + 10h + w.
        var img: [Float] = [0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112]
        let scratch = Buffer<Float>(count: 3)
        img.withUnsafeMutableBufferPointer { Augmentation.mirror($0.baseAddress!, shape: [2, 2, 3], scratch: scratch.pointer) }
        #expect(img == [2, 1, 0, 12, 11, 10, 102, 101, 100, 112, 111, 110])
    }

    @Test func drawsCoverEveryShiftAndFlipHalfTheTime() {
        let a = Augmentation(crop: 2, flip: true)
        let key = NoiseKey(seed: 1, epoch: 0, firstPosition: 0)
        var shifts = Set<[Int]>(), flips = 0
        let n = 4000
        for r in 0..<n {
            var rng = key.rng(row: r, stream: Augmentation.stream)
            let d = a.draw(&rng)
            #expect((-2...2).contains(d.dy) && (-2...2).contains(d.dx))
            shifts.insert([d.dy, d.dx])
            if d.mirrored { flips += 1 }
        }
        #expect(shifts.count == 25)
        #expect(abs(Double(flips) / Double(n) - 0.5) < 0.04)   // 5σ
        var rng = key.rng(row: 0, stream: Augmentation.stream)
        #expect(Augmentation(crop: 2).draw(&rng).mirrored == false)
    }

    @Test func drawsDependOnThePositionNotOnTheSlice() {
        let a = Augmentation(crop: 2, flip: true), shape = [1, 6, 6]
        let pad = [Float](repeating: 0, count: 36), scratch = Buffer<Float>(count: 36)
        func batch(_ first: Int, rows: Int, epoch: Int = 5) -> [Float] {
            var x = (0..<(rows * 36)).map { Float($0 % 36) + 1 }
            x.withUnsafeMutableBufferPointer { p in
                pad.withUnsafeBufferPointer { q in
                    a.apply(p.baseAddress!, rows: rows, shape: shape, key: NoiseKey(seed: 3, epoch: epoch, firstPosition: first),
                            padding: q.baseAddress!, scratch: scratch.pointer)
                }
            }
            return x
        }
        let whole = batch(10, rows: 8)
        #expect(Array(whole[(3 * 36)...]) == batch(13, rows: 5))
        #expect(batch(10, rows: 8, epoch: 6) != whole)
        #expect(whole != (0..<(8 * 36)).map { Float($0 % 36) + 1 })
    }
}
