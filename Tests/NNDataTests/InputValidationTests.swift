// Input validation where data enters: IDX sizes checked before allocating, and a test set
// that does not fit the training set (issue 12's cases, one test each).
import Foundation
import Testing
@testable import NNData
import NNCore

/// The message of the UserError `body` throws, or nil when it throws something else or nothing.
func userErrorMessage(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as UserError { return e.message } catch { return nil }
}

/// An MNIST-format directory whose test set has the given image size and labels.
func idxDir(trainRows: Int = 4, testRows: Int = 4, trainLabels: [UInt8] = [0, 1, 2], testLabels: [UInt8] = [1, 0]) -> String {
    let dir = tempDir()
    let n = trainLabels.count, m = testLabels.count
    write("\(dir)/train-images-idx3-ubyte", idxBytes(dims: [n, trainRows, trainRows], data: [UInt8](repeating: 7, count: n * trainRows * trainRows)))
    write("\(dir)/train-labels-idx1-ubyte", idxBytes(dims: [n], data: trainLabels))
    write("\(dir)/t10k-images-idx3-ubyte", idxBytes(dims: [m, testRows, testRows], data: [UInt8](repeating: 9, count: m * testRows * testRows)))
    write("\(dir)/t10k-labels-idx1-ubyte", idxBytes(dims: [m], data: testLabels))
    return dir
}

@Suite struct IDXSizeTests {
    @Test func dimensionsThatOverflowAreAnErrorNotATrap() {
        let header = [0, 0, 8, 3] + [UInt8](repeating: 0xFF, count: 12) + [1, 2, 3]
        let m = userErrorMessage { _ = try IDX.parse(bytes: header, source: "ffff.idx") }
        #expect(m?.hasPrefix("ffff.idx: header dimensions 4294967295×4294967295×4294967295 overflow") == true)
    }

    @Test func aHeaderPromisingMoreThanTheFileIsRefusedBeforeAllocating() {
        // 2³¹ images of 28×28: 1.7 TB promised by a 100-byte file.
        let bytes = idxBytes(dims: [1 << 31, 28, 28], data: [UInt8](repeating: 0, count: 84))
        let m = userErrorMessage { _ = try IDX.parse(bytes: bytes, source: "huge.idx") }
        #expect(m == "huge.idx: truncated: header promises 2147483648×28×28 = 1683627180032 bytes of data, file has 84")
    }

    @Test func aRawFileOnDiskIsHeldToItsSize() {
        let dir = tempDir()
        write("\(dir)/big", idxBytes(dims: [1 << 31, 28, 28], data: [0, 0, 0]))
        let m = userErrorMessage { _ = try IDX.read("\(dir)/big") }
        #expect(m == "\(dir)/big: truncated: header promises 2147483648×28×28 = 1683627180032 bytes of data, file has 3")
    }

    @Test func aGzipFileIsHeldToDeflatesBestRatio() {
        let dir = tempDir()
        // 64 MiB of promised data in a gzip file of a few dozen bytes (1032:1 caps it at ~50 KB).
        write("\(dir)/big", idxBytes(dims: [1 << 20, 8, 8], data: [1, 2, 3]))
        gzip("\(dir)/big")
        let m = userErrorMessage { _ = try IDX.read("\(dir)/big.gz") }
        #expect(m?.contains("\(dir)/big.gz: truncated or corrupt: header promises 1048576×8×8") == true)
    }

    @Test func theMemoryBudgetIsCheckedBeforeAllocating() throws {
        #expect(throws: UserError.self) {
            try SizeLimits.checkAllocation(SizeLimits.memoryBudget + 1, for: "x")
        }
        try SizeLimits.checkAllocation(1000, for: "x")
        #expect(SizeLimits.product([1 << 62, 1 << 62]) == nil)
        #expect(SizeLimits.product([1 << 62, 1 << 62, 0]) == 0)
        #expect(SizeLimits.product([3, 5, 7]) == 105)
    }

    @Test func zeroRowsAndColumnsAreAnErrorNotAPrecondition() {
        let dir = idxDir()
        write("\(dir)/train-images-idx3-ubyte", idxBytes(dims: [3, 0, 0], data: []))
        let m = userErrorMessage { _ = try IDX.loadSplit(dir: dir, name: "zero") }
        #expect(m == "\(dir)/train-images-idx3-ubyte: header dimensions 3×0×0: count, rows and cols must all be at least 1")
    }
}

@Suite struct SplitAgreementTests {
    @Test func anIDXTestLabelOutsideTheTrainedClassesNamesFileAndIndex() {
        let dir = idxDir(testLabels: [1, 0, 200, 201])
        let m = userErrorMessage { _ = try IDX.loadSplit(dir: dir, name: "bad") }
        #expect(m?.hasPrefix("\(dir)/t10k-labels-idx1-ubyte: test label 200 at index 2 is outside the 10 classes") == true)
    }

    @Test func testImagesOfAnotherSizeAreRefused() {
        let dir = idxDir(trainRows: 28, testRows: 20)
        let m = userErrorMessage { _ = try IDX.loadSplit(dir: dir, name: "bad") }
        #expect(m?.hasPrefix("\(dir)/t10k-images-idx3-ubyte: test samples are 1×20×20 but the training samples (\(dir)/train-images-idx3-ubyte) are 1×28×28") == true)
    }

    @Test func matchingSetsPass() throws {
        let split = try IDX.loadSplit(dir: idxDir(), name: "ok")
        #expect(split.test.count == 2)
    }

    func csv(_ text: String) throws -> Dataset { try CSV.parse(Data(text.utf8), source: "t.csv") }

    @Test func aCSVTestLabelOutsideTheTrainedClassesNamesFileAndIndex() throws {
        let split = DataSplit(train: try csv("0,1,2\n1,2,3\n2,3,4\n"), test: try csv("0,1,1\n7,1,1\n"))
        let m = userErrorMessage { try split.checkAgreement(train: "train.csv", test: "test.csv") }
        #expect(m?.hasPrefix("test.csv: test label 7 at index 1 is outside the 3 classes of the training set (train.csv)") == true)
    }

    @Test func aCSVTestFileWithOneMoreOrOneFewerColumnIsRefused() throws {
        let train = try csv("0,1,2\n1,2,3\n")
        let more = userErrorMessage { try DataSplit(train: train, test: try csv("0,1,2,3\n")).checkAgreement(train: "train.csv", test: "more.csv") }
        let fewer = userErrorMessage { try DataSplit(train: train, test: try csv("0,1\n")).checkAgreement(train: "train.csv", test: "fewer.csv") }
        #expect(more?.hasPrefix("more.csv: test samples are 3 features but the training samples (train.csv) are 2 features") == true)
        #expect(fewer?.hasPrefix("fewer.csv: test samples are 1 feature but the training samples (train.csv) are 2 features") == true)
    }

    @Test func regressionAgainstClassesIsRefused() throws {
        let train = try csv("0,1,2\n1,2,3\n")
        let test = try CSV.parse(Data("0.5,1,2\n".utf8), source: "r.csv", regression: true)
        #expect(throws: UserError.self) { try DataSplit(train: train, test: test).checkAgreement(train: "a", test: "b") }
    }
}
