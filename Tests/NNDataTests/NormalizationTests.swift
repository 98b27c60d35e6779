// Normalization: exact statistics on a small CSV, a constant column, and the metadata round trip.
import Foundation
import Testing
import NNCore
@testable import NNData

@Suite struct NormalizationTests {
    // Column 1: 1, 2, 3, 6 (mean 3, population std √3.5); column 2 constant 5.
    static let csv = "0,1,5\n1,2,5\n0,3,5\n1,6,5\n"
    func data() throws -> Dataset { try CSV.parse(Data(Self.csv.utf8), source: "t.csv") }

    @Test func standardIsMeanAndPopulationStdAndAConstantColumnIsOnlyShifted() throws {
        let n = Normalization.fit(.auto, on: try data())
        #expect(n.features == .standard)
        let sd = 3.5.squareRoot()
        #expect(n.scale == [1 / sd, 1]); #expect(n.shift == [-3 / sd, -5])
        let d = try data().normalized(n)
        var x = [Float](repeating: .nan, count: 8), l = [Int32](repeating: 0, count: 4)
        let idx: [Int32] = [0, 1, 2, 3]
        d.gather(idx, count: 4, into: &x, labels: &l, targets: nil)
        #expect(x[1] == 0 && x[3] == 0 && x[5] == 0 && x[7] == 0)
        #expect(abs(Double(x[6]) - 3 / sd) < 1e-6)
    }

    @Test func minmaxMapsToTheUnitRangeAndAZeroRangeDividesByOne() throws {
        let n = Normalization.fit(.minmax, on: try data())
        #expect(n.scale == [1.0 / 5, 1]); #expect(n.shift == [-1.0 / 5, -5])
    }

    @Test func regressionTargetsAreStandardizedAndTheLossScaleIsSigmaSquared() throws {
        let d = try CSV.parse(Data("1,0\n3,1\n".utf8), source: "r.csv", regression: true)
        let n = Normalization.fit(.auto, on: d)
        #expect(n.targetMean == [2]); #expect(n.targetStd == [1]); #expect(n.targetLossScale == 1)
        let e = try CSV.parse(Data("0,0\n4,1\n".utf8), source: "r.csv", regression: true)
        let m = Normalization.fit(.auto, on: e)
        #expect(m.targetStd == [2]); #expect(m.targetLossScale == 4)
        var z: [Float] = [1, -1]
        m.denormalize(&z, batch: 2, outputs: 1)
        #expect(z == [4, 0])
    }

    @Test func metadataRoundTripIsBitForBitAndAMisfitIsAnError() throws {
        let n = Normalization.fit(.standard, on: try data())
        let back = try Normalization(metadataText: n.metadataText, source: "ck")
        #expect(back == n)
        let other = try CSV.parse(Data("0,1\n1,2\n".utf8), source: "o.csv")
        #expect(throws: UserError.self) { try n.check(fits: other, source: "ck.safetensors") }
        #expect(throws: UserError.self) { try Normalization(metadataText: "{", source: "ck") }
    }

    @Test func standardizedTargetsOfSeveralOutputsAreRefused() throws {
        let d = Dataset(name: "two", features: .floats([0, 1, 2]), sampleShape: [1], task: .regression(outputs: 2),
                        targets: [0, 10, 1, 20, 2, 40])
        let n = Normalization.fit(.standard, on: d)
        #expect(n.targetMean == [1, 70.0 / 3])
        let m = userErrorMessage { try n.checkTargetCount(source: "--normalize standard") }
        #expect(m == "--normalize standard: standardizing 2 regression outputs is not supported (one output only); use --normalize none")
        try Normalization.fit(.standard, on: try data()).checkTargetCount(source: "x")   // one output (or none): fine
    }

    @Test func imagesStandardizePerChannelAfterDividingBy255() {
        let d = Dataset(name: "img", features: .bytes([0, 255, 0, 255]), sampleShape: [1, 1, 2],
                        task: .classification(classes: 1), labels: [0, 0])
        let n = Normalization.fit(.standard, on: d)
        #expect(n.groupSize == 2 && n.scale.count == 1)
        #expect(abs(n.scale[0] - 2.0 / 255) < 1e-15 && abs(n.shift[0] + 1) < 1e-15)
        // auto standardizes images per channel too (and, not tabular, never targets); none keeps /255.
        let a = Normalization.fit(.auto, on: d, tabular: false)
        #expect(a.features == .standard && a.scale == n.scale && a.shift == n.shift && a.targetMean.isEmpty)
        #expect(Normalization.fit(.none, on: d).features == .none)
        #expect(Normalization.resolve(.auto, bytes: false, regression: true, tabular: false) == ResolvedNormalization(features: .none, targets: false))
        #expect(Normalization.resolve(.auto, bytes: false, regression: true, tabular: true) == ResolvedNormalization(features: .standard, targets: true))
        #expect(Normalization.resolve(.minmax, bytes: false, regression: true, tabular: true) == ResolvedNormalization(features: .minmax, targets: false))
    }
}
