// SupportFile: where the files nntrain runs but does not compile (the Python plot scripts of
// launch/) are found at run time, installed or in a checkout. One lookup for every command
// that runs one (`nntrain plot`, `nntrain experiment`).
import Foundation

enum SupportFile {
    /// The path of `name` (e.g. "plot_metrics.py"): `$environment` if that variable names an
    /// existing file; else the first that exists of
    /// 1. next to the executable, and `../share/nntrain/` beside it (an installed nntrain:
    ///    PREFIX/nntrain with PREFIX/../share/nntrain/NAME);
    /// 2. `launch/NAME` under the working directory;
    /// 3. `launch/NAME` in up to four directories above the executable (a checkout's
    ///    .build/<triple>/release/nntrain → the package root).
    ///
    /// The executable is the running file itself (Bundle.main.executableURL, /proc/self/exe on
    /// Linux) with symlinks resolved, not argv[0], which is the bare name when run from PATH.
    static func locate(_ name: String, environment: String? = nil) -> String? {
        let fm = FileManager.default
        if let v = environment, let e = ProcessInfo.processInfo.environment[v], fm.fileExists(atPath: e) { return e }
        let exe = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        let dir = exe.deletingLastPathComponent()
        var candidates = [
            dir.appendingPathComponent(name).path,
            dir.deletingLastPathComponent().appendingPathComponent("share/nntrain/\(name)").path,
            fm.currentDirectoryPath + "/launch/\(name)",
        ]
        var url = dir
        for _ in 0..<4 {
            candidates.append(url.appendingPathComponent("launch/\(name)").path)
            url = url.deletingLastPathComponent()
        }
        return candidates.first { fm.fileExists(atPath: $0) }
    }
}
