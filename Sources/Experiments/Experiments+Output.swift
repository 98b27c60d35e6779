// Experiments+Output: what rank 0 writes after an experiment — the tidy CSV (one row per
// step line per arm), the Markdown summary, experiment.json (for the plot script) and,
// for decision boundaries, grid.csv.
import Foundation
import NNCore
import Training

/// The columns of results.csv, in order.
public let experimentCSVColumns = [
    "arm", "step", "epoch", "examples_processed", "updates", "wall_seconds", "train_loss", "test_loss",
    "test_accuracy", "lr", "diverged", "group", "world_size", "suboptimality",
]

func csvNumber(_ v: Double?) -> String {
    guard let v else { return "" }
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    return String(format: "%.10g", v)
}

/// Summary numbers of one arm, derived from its rows.
struct ArmSummary {
    var finalTrain: Double?
    var finalTest: Double?
    var finalAccuracy: Double?
    var bestAccuracy: Double?
    var epochsToTarget: Double?
    var secondsToTarget: Double?
    var secondsToAccuracy: Double?
    var samplesPerSecond: Double?
    var computeSeconds: Double
    var commSeconds: Double
    var wallSeconds: Double?
    var suboptimality: Double?

    init(_ r: ArmResult, spec: ExperimentSpec) {
        let rows = r.rows
        finalTrain = rows.last?.train_loss
        finalTest = rows.last?.test_loss
        finalAccuracy = rows.last(where: { $0.test_accuracy != nil })?.test_accuracy
        bestAccuracy = rows.compactMap(\.test_accuracy).max()
        if let t = spec.targetLoss, let hit = rows.first(where: { ($0.train_loss ?? .infinity) <= t }) {
            epochsToTarget = hit.epoch; secondsToTarget = hit.wall_seconds
        }
        if let a = spec.targetAccuracy, let hit = rows.first(where: { ($0.test_accuracy ?? 0) >= a }) {
            secondsToAccuracy = hit.wall_seconds
        }
        samplesPerSecond = r.done?.samples_per_second
        computeSeconds = r.epochs.reduce(0) { $0 + $1.compute_seconds }
        commSeconds = r.epochs.reduce(0) { $0 + $1.comm_seconds }
        wallSeconds = rows.last?.wall_seconds
        if let j = spec.optimum[r.group], let l = finalTrain { suboptimality = l - j }
        // Samples/s of the training steps alone (epoch lines), when there are any.
        let steps = r.epochs.reduce(0.0) { $0 + $1.epoch_seconds }
        if steps > 0, let last = r.epochs.last { samplesPerSecond = Double(last.examples_processed) / steps }
    }
}

/// Writes results.csv, summary.md, experiment.json and (if any) grid.csv into `out`.
///
/// - Throws: UserError when a file cannot be written.
func writeExperimentOutputs(_ spec: ExperimentSpec, results: [ArmResult], out: String) throws {
    func write(_ name: String, _ text: String) throws {
        let path = (out as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw UserError("\(path): cannot write (is the --out directory writable?)")
        }
    }
    // results.csv
    var csv = experimentCSVColumns.joined(separator: ",") + "\n"
    for r in results {
        let j = spec.optimum[r.group]
        for m in r.rows {
            let sub = j.flatMap { j in m.train_loss.map { $0 - j } }
            let fields: [String] = [
                r.arm, String(m.step), csvNumber(m.epoch), String(m.examples_processed), String(m.updates),
                csvNumber(m.wall_seconds), csvNumber(m.train_loss), csvNumber(m.test_loss), csvNumber(m.test_accuracy),
                csvNumber(m.lr), r.diverged ? "1" : "0", r.group, String(m.world_size), csvNumber(sub),
            ]
            csv += fields.joined(separator: ",") + "\n"
        }
    }
    try write("results.csv", csv)

    // grid.csv (decision boundaries)
    if results.contains(where: { !$0.grid.isEmpty }) {
        var g = "arm,group,x1,x2,p1\n"
        for r in results { for (x, y, p) in r.grid { g += "\(r.arm),\(r.group)," + String(format: "%.4g,%.4g,%.4g\n", x, y, p) } }
        try write("grid.csv", g)
    }

    // summary.md
    let summaries = results.map { ArmSummary($0, spec: spec) }
    var md = "# \(spec.title)\n\n"
    md += "Experiment `\(spec.name)`: \(results.count) arm(s). Files: `results.csv` (tidy, one row per logged step), `ARM.jsonl` (metrics lines per arm)"
    md += results.contains(where: { !$0.grid.isEmpty }) ? ", `grid.csv` (decision-grid predictions).\n\n" : ".\n\n"
    for n in spec.notes { md += "- \(n)\n" }
    if !spec.notes.isEmpty { md += "\n" }
    var header = ["arm", "group", "settings", "params", "status", "updates", "examples", "wall s", "train loss", "test loss", "test acc"]
    let hasOpt = !spec.optimum.isEmpty
    if hasOpt { header.append("J − J*") }
    if let t = spec.targetLoss { header += ["epochs to loss ≤ \(csvNumber(t))", "s to loss ≤ \(csvNumber(t))"] }
    if let a = spec.targetAccuracy { header.append("s to acc ≥ \(csvNumber(a))") }
    let showScaling = results.contains { ($0.rows.last?.world_size ?? 1) > 1 } || spec.name == "scaling"
    if showScaling { header += ["ranks", "samples/s", "compute s", "comm s"] }
    md += "| " + header.joined(separator: " | ") + " |\n"
    md += "|" + header.map { _ in "---" }.joined(separator: "|") + "|\n"
    func f(_ v: Double?, _ fmt: String = "%.4g") -> String { v.map { $0.isFinite ? String(format: fmt, $0) : "\($0)" } ?? "—" }
    for (r, s) in zip(results, summaries) {
        let last = r.rows.last
        let settings = r.settings.isEmpty ? "" : ["model", "activation", "lr", "batch-size", "schedule", "scale-lr"]
            .compactMap { k in r.settings[k].flatMap { $0 == "none" ? nil : "\(k)=\($0)" } }.joined(separator: " ")
        var row = [r.arm, r.group, "`\(settings)`", String(r.parameters), r.status, String(last?.updates ?? 0),
                   String(last?.examples_processed ?? 0), f(s.wallSeconds, "%.2f"), f(s.finalTrain), f(s.finalTest),
                   f(s.finalAccuracy, "%.4f")]
        if hasOpt { row.append(f(s.suboptimality, "%.3e")) }
        if spec.targetLoss != nil { row += [s.epochsToTarget.map { String(format: "%.2f", $0) } ?? "not reached", f(s.secondsToTarget, "%.2f")] }
        if spec.targetAccuracy != nil { row.append(s.secondsToAccuracy.map { String(format: "%.2f", $0) } ?? "not reached") }
        if showScaling { row += [String(last?.world_size ?? 1), f(s.samplesPerSecond, "%.0f"), f(s.computeSeconds, "%.2f"), f(s.commSeconds, "%.2f")] }
        md += "| " + row.joined(separator: " | ") + " |\n"
    }
    let diverged = results.filter(\.diverged)
    if !diverged.isEmpty {
        md += "\nDiverged: " + diverged.map { "`\($0.arm)` (\($0.message ?? "non-finite loss"))" }.joined(separator: "; ") + "\n"
    }
    try write("summary.md", md)

    // experiment.json: what the plot script needs beyond the CSV.
    var info: [String: Any] = [
        "name": spec.name, "title": spec.title, "columns": experimentCSVColumns,
        "optimum": spec.optimum, "notes": spec.notes,
    ]
    if let t = spec.targetLoss { info["target_loss"] = t }
    if let a = spec.targetAccuracy { info["target_accuracy"] = a }
    info["arms"] = zip(results, summaries).map { r, s -> [String: Any] in
        var a: [String: Any] = ["name": r.arm, "group": r.group, "label": r.label, "status": r.status,
                                "parameters": r.parameters, "settings": r.settings,
                                "compute_seconds": s.computeSeconds, "comm_seconds": s.commSeconds,
                                "world_size": r.rows.last?.world_size ?? 1]
        if let v = s.samplesPerSecond, v.isFinite { a["samples_per_second"] = v }
        if let v = s.epochsToTarget { a["epochs_to_target"] = v }
        if let v = s.secondsToTarget { a["seconds_to_target"] = v }
        if let v = s.secondsToAccuracy { a["seconds_to_accuracy"] = v }
        if let m = r.message { a["message"] = m }
        return a
    }
    let json = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
    try write("experiment.json", String(decoding: json, as: UTF8.self) + "\n")
}
