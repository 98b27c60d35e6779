// FuzzDriver: the entry point every fuzz harness shares (launch/fuzz.sh, docs/reliability.md).
//
// Built with `-sanitize=fuzzer,address -DFUZZING`, a harness hands its test function to
// libFuzzer's driver (LLVMFuzzerRunDriver), which takes libFuzzer's usual arguments
// (corpus directories, -max_total_time=…). SwiftPM links executables with `main` aliased to
// the module's own entry point, so libFuzzer's `main` is not the one that runs: this is.
//
// Built plainly (as `swift build` does for every target), a harness runs its test function
// once over each file named on the command line, or each file of each directory named: the
// way to replay a crash file under the debugger, or a corpus under the ordinary build.
import Foundation

/// libFuzzer's test-function type: one input of `size` bytes; returns 0.
public typealias FuzzTestFunction = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// The bytes of one fuzz input as an array.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: FuzzTestFunction) -> CInt

/// Runs libFuzzer with this process's arguments and `test`; exits with its status.
public func runFuzzer(_ test: FuzzTestFunction) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}
#else
/// Runs `test` once on each file named in the arguments (directories: each file in them).
public func runFuzzer(_ test: FuzzTestFunction) -> Never {
    var count = 0
    for arg in CommandLine.arguments.dropFirst() {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: arg, isDirectory: &isDir) else {
            FileHandle.standardError.write(Data("\(arg): not found\n".utf8)); exit(2)
        }
        let files = isDir.boolValue
            ? ((try? FileManager.default.contentsOfDirectory(atPath: arg)) ?? []).sorted().map { "\(arg)/\($0)" }
            : [arg]
        for f in files {
            let bytes = [UInt8](FileManager.default.contents(atPath: f) ?? Data())
            _ = bytes.withUnsafeBufferPointer { test($0.baseAddress, $0.count) }
            count += 1
        }
    }
    print("ran \(count) input(s) without a crash")
    exit(0)
}
#endif
