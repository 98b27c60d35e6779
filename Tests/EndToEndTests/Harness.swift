// Runs the built `nntrain` (and mpirun) as a user would, with a time limit so that a hang
// fails the test instead of stalling the suite.
import Foundation

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
}

/// The nntrain binary next to the test bundle (or $NNTRAIN_BIN).
var nntrainBinary: String {
    if let b = ProcessInfo.processInfo.environment["NNTRAIN_BIN"] { return b }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("nntrain").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    return ".build/debug/nntrain"
}

/// Runs `executable` with `arguments`; kills it after `timeout` seconds.
func run(_ executable: String, _ arguments: [String], timeout: Double = 120, environment: [String: String] = [:]) throws -> RunResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    let outData = DataBox(), errData = DataBox()
    out.fileHandleForReading.readabilityHandler = { h in outData.append(h.availableData) }
    err.fileHandleForReading.readabilityHandler = { h in errData.append(h.availableData) }
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while p.isRunning {
        if Date() > deadline { timedOut = true; p.terminate(); usleep(500_000); if p.isRunning { kill(p.processIdentifier, SIGKILL) }; break }
        usleep(20_000)
    }
    p.waitUntilExit()
    out.fileHandleForReading.readabilityHandler = nil
    err.fileHandleForReading.readabilityHandler = nil
    outData.append(out.fileHandleForReading.readDataToEndOfFile())
    errData.append(err.fileHandleForReading.readDataToEndOfFile())
    return RunResult(status: p.terminationStatus, stdout: outData.string, stderr: errData.string, timedOut: timedOut)
}

func nntrain(_ arguments: [String], timeout: Double = 120) throws -> RunResult {
    try run(nntrainBinary, arguments, timeout: timeout)
}

final class DataBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ d: Data) { lock.lock(); data.append(d); lock.unlock() }
    var string: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}

func temporaryDirectory() -> String {
    let d = NSTemporaryDirectory() + "nntrain-e2e-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// The JSON objects of a metrics file.
func metricsLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
}

/// Where mpirun is, or nil.
var mpirunPath: String? {
    for p in ["/usr/bin/mpirun", "/usr/local/bin/mpirun"] where FileManager.default.isExecutableFile(atPath: p) { return p }
    return nil
}

/// Runs `mpirun` as root on this machine (oversubscribing the 2 cores is allowed).
func mpirun(_ arguments: [String], timeout: Double = 180) throws -> RunResult {
    guard let m = mpirunPath else { throw HarnessError("mpirun not found: install openmpi-bin (the CI script does)") }
    return try run(m, ["--oversubscribe", "--bind-to", "none"] + arguments, timeout: timeout,
                   environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                                 "OMPI_MCA_rmaps_base_oversubscribe": "1"])
}

struct HarnessError: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }
