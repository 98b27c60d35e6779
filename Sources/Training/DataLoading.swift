// DataLoading: turns --dataset/--data into a DataSplit.
import Foundation
import NNCore
import NNData

/// Where Debian's dataset-fashion-mnist package puts the data.
public let defaultFashionMNISTDirectory = "/usr/share/datasets/fashion-mnist"

/// Loads the train/test split a configuration names, applying subsets.
///
/// - Throws: UserError naming the missing or corrupt file, or the unknown dataset.
public func loadData(_ c: TrainConfig) throws -> DataSplit {
    var split: DataSplit
    switch c.dataset {
    case "fashion-mnist":
        split = try IDX.loadSplit(dir: c.data ?? defaultFashionMNISTDirectory, name: "fashion-mnist")
    case "idx", "mnist":
        guard let dir = c.data else { throw UserError("--dataset \(c.dataset) needs --data DIR (a directory of MNIST-format IDX files)") }
        split = try IDX.loadSplit(dir: dir, name: c.dataset)
    case "csv":
        guard let file = c.data else { throw UserError("--dataset csv needs --data FILE.csv (or --data TRAIN.csv,TEST.csv)") }
        let parts = file.split(separator: ",").map(String.init)
        let train = try CSV.read(parts[0], labelColumn: c.csvLabelColumn, regression: c.csvRegression)
        let test = parts.count > 1 ? try CSV.read(parts[1], labelColumn: c.csvLabelColumn, regression: c.csvRegression) : train
        split = DataSplit(train: train, test: test)
    default:
        split = try Synthetic.split(c.dataset, seed: c.seed, trainSize: c.trainSubset)
    }
    if let n = c.trainSubset { split.train = split.train.prefix(n) }
    if let n = c.testSubset { split.test = split.test.prefix(n) }
    guard split.train.count > 0 else { throw UserError("dataset '\(c.dataset)' has no training samples") }
    return split
}
