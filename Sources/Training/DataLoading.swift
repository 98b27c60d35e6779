// DataLoading: turns --dataset/--data into a DataSplit.
import Foundation
import NNCore
import NNData
import NeuralNet

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
        let parts = file.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard parts.count <= 2, !parts.contains(where: \.isEmpty) else {
            throw UserError("--data '\(file)': --dataset csv takes one file (FILE.csv) or two joined by a comma (TRAIN.csv,TEST.csv), got \(parts.count) part(s)\(parts.contains(where: \.isEmpty) ? " with an empty one" : "")")
        }
        let train = try CSV.read(parts[0], labelColumn: c.csvLabelColumn, regression: c.csvRegression)
        let test = parts.count > 1 ? try CSV.read(parts[1], labelColumn: c.csvLabelColumn, regression: c.csvRegression) : train
        split = DataSplit(train: train, test: test)
        if parts.count > 1 { try split.checkAgreement(train: parts[0], test: parts[1]) }
    default:
        split = try Synthetic.split(c.dataset, seed: c.seed, trainSize: c.trainSubset)
    }
    if let n = c.trainSubset { split.train = split.train.prefix(n) }
    if let n = c.testSubset { split.test = split.test.prefix(n) }
    guard split.train.count > 0 else { throw UserError("dataset '\(c.dataset)' has no training samples") }
    return split
}

/// Checks, before anything is allocated, that the model `config` names fits the memory
/// budget when trained on `data` with its micro-batch (parameters, gradients, optimizer
/// state, activations; overflow-checked).
///
/// - Throws: UserError naming the model spec, as ModelSpec does.
public func checkModelMemory(config c: TrainConfig, data: DataSplit) throws {
    let spec = try ModelSpec(parsing: c.model)
    let outputs = LossFunction(parsing: c.loss) == .bce ? 1 : data.train.task.outputs
    let batch = min(c.microBatch, c.batchSize.resolve(trainingSamples: data.train.count))
    try spec.checkMemory(inputShape: data.train.sampleShape, outputs: outputs, batch: max(batch, 1))
}
