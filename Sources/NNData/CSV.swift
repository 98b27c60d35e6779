// CSV: a label (or target) column and numeric feature columns, optional header.
import Foundation
import NNCore

/// Reader of numeric CSV files.
public enum CSV {
    /// Reads `path`.
    ///
    /// - Parameters:
    ///   - labelColumn: index of the label/target column (negative counts from the end; default first).
    ///   - regression: targets are real numbers (else integer class labels 0..<K).
    ///   - header: whether the first line names the columns; nil = detect (a first line with a
    ///     non-numeric cell is a header).
    /// - Throws: UserError with file:line:column for a non-numeric cell or a short row.
    public static func read(_ path: String, labelColumn: Int = 0, regression: Bool = false,
                            header: Bool? = nil, name: String? = nil) throws -> Dataset {
        guard FileManager.default.fileExists(atPath: path) else { throw UserError("\(path): file not found") }
        try SizeLimits.checkFileFits(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw UserError("\(path): cannot read") }
        return try parse(data, source: path, labelColumn: labelColumn, regression: regression, header: header, name: name)
    }

    /// Parses CSV text held in memory (`read` reads the file and calls this; so does the fuzzer).
    ///
    /// - Parameter path: the name used in messages.
    public static func parse(_ data: Data, source path: String, labelColumn: Int = 0, regression: Bool = false,
                             header: Bool? = nil, name: String? = nil) throws -> Dataset {
        guard let text = String(data: data, encoding: .utf8) else { throw UserError("\(path): not UTF-8 text") }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard !lines.isEmpty else { throw UserError("\(path): empty file") }
        func cells(_ line: Substring) -> [Substring] {
            line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces)[...] }
        }
        let first = cells(lines[0])
        let hasHeader = header ?? first.contains { Double($0) == nil }
        let width = first.count
        guard width >= 2 else { throw UserError("\(path):1: need a label column and at least one feature column, found \(width) column(s)") }
        let lc = labelColumn < 0 ? width + labelColumn : labelColumn
        guard lc >= 0, lc < width else { throw UserError("\(path): label column \(labelColumn) out of range for \(width) columns") }
        var features: [Float] = []
        var labels: [Int32] = []
        var targets: [Float] = []
        for (li, line) in lines.enumerated() where !(li == 0 && hasHeader) {
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let row = cells(line)
            guard row.count == width else {
                throw UserError("\(path):\(li + 1): expected \(width) columns, found \(row.count)")
            }
            for (ci, cell) in row.enumerated() {
                guard let v = Double(cell), v.isFinite else {
                    throw UserError("\(path):\(li + 1):\(ci + 1): '\(cell)' is not a number")
                }
                if ci == lc {
                    if regression { targets.append(Float(v)) }
                    else {
                        guard v >= 0, v == v.rounded(), v < 1_000_000 else {
                            throw UserError("\(path):\(li + 1):\(ci + 1): class label '\(cell)' must be a whole number ≥ 0 (use --csv-regression for real targets)")
                        }
                        labels.append(Int32(v))
                    }
                } else { features.append(Float(v)) }
            }
        }
        let n = regression ? targets.count : labels.count
        guard n > 0 else { throw UserError("\(path): no data rows") }
        let task: Task = regression ? .regression(outputs: 1) : .classification(classes: Int(labels.max() ?? 0) + 1)
        return Dataset(name: name ?? path, features: .floats(features), sampleShape: [width - 1],
                       task: task, labels: labels, targets: targets)
    }
}
