// SplitAgreement: the check that a test set can be fed to the model a training set defines.
// Train and test come from different files; without it a test set of other image sizes or
// feature counts is read out of bounds, and labels beyond the trained classes index past
// the model's outputs.
import NNCore

extension DataSplit {
    /// Checks that `test` agrees with `train`: the same sample shape (so the same feature
    /// count), the same kind of task with the same outputs for regression, and for
    /// classification every test label in 0..<K, K the training set's classes (the model's
    /// outputs).
    ///
    /// - Parameters:
    ///   - train: the training set's file, for messages.
    ///   - test: the test set's feature file.
    ///   - testLabels: the test set's label file, when labels are in a file of their own.
    /// - Throws: UserError naming the test file and, for labels, the first offending index.
    public func checkAgreement(train trainFile: String, test testFile: String, testLabels: String? = nil) throws {
        func shape(_ s: [Int]) -> String {
            s.count == 1 ? "\(s[0]) feature\(s[0] == 1 ? "" : "s")" : s.map(String.init).joined(separator: "×")
        }
        guard test.sampleShape == train.sampleShape else {
            throw UserError("\(testFile): test samples are \(shape(test.sampleShape)) but the training samples (\(trainFile)) are \(shape(train.sampleShape)); train and test sets must have the same sample shape")
        }
        switch (train.task, test.task) {
        case (.classification(let classes), .classification):
            if let bad = test.labels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
                throw UserError("\(testLabels ?? testFile): test label \(test.labels[bad]) at index \(bad) is outside the \(classes) classes of the training set (\(trainFile)), labels 0..<\(classes)")
            }
        case (.regression(let a), .regression(let b)):
            guard a == b else {
                throw UserError("\(testFile): test targets have \(b) outputs but the training targets (\(trainFile)) have \(a)")
            }
        default:
            throw UserError("\(testFile): the test set is \(test.task.isClassification ? "labelled with classes" : "a regression set") but the training set (\(trainFile)) is not")
        }
    }
}

extension Task {
    /// Whether the task predicts class labels.
    public var isClassification: Bool {
        if case .classification = self { return true }
        return false
    }
}
