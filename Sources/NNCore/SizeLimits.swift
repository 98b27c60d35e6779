// SizeLimits: the overflow-checked size arithmetic that every size read from a file header,
// a model spec or a checkpoint goes through, and the memory budget it is compared with
// before anything is allocated.
import Foundation

/// Checked products and sums of sizes that come from input, and the memory budget.
public enum SizeLimits {
    /// ∏ `dims`, or nil when a factor is negative or the product overflows `Int`.
    /// A zero factor gives 0 whatever the others (so [2⁶², 2⁶², 0] is 0, not an overflow).
    public static func product(_ dims: [Int]) -> Int? {
        if dims.contains(where: { $0 < 0 }) { return nil }
        if dims.contains(0) { return 0 }
        var p = 1
        for d in dims {
            let (v, o) = p.multipliedReportingOverflow(by: d)
            if o { return nil }
            p = v
        }
        return p
    }

    /// a · b, or nil on overflow.
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (v, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : v
    }

    /// a + b, or nil on overflow.
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (v, o) = a.addingReportingOverflow(b)
        return o ? nil : v
    }

    /// Bytes one process may allocate for data and models: the machine's physical memory,
    /// or `NNTRAIN_MEMORY_BUDGET` (bytes) when set to a positive integer (tests use a small one).
    public static var memoryBudget: Int {
        if let s = ProcessInfo.processInfo.environment["NNTRAIN_MEMORY_BUDGET"], let v = Int(s), v > 0 { return v }
        return Int(clamping: ProcessInfo.processInfo.physicalMemory)
    }

    /// Checks that the file at `path`, read whole into memory, fits the memory budget.
    ///
    /// - Throws: UserError naming the file and its size.
    public static func checkFileFits(_ path: String) throws {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else { return }
        try checkAllocation(size.intValue, for: "\(path) (\(describe(bytes: size.intValue)) file)")
    }

    /// "1.6 TB"-style text for a byte count.
    public static func describe(bytes: Int) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var v = Double(bytes), u = 0
        while v >= 1000, u < units.count - 1 { v /= 1000; u += 1 }
        return u == 0 ? "\(bytes) bytes" : String(format: "%.1f %@", v, units[u])
    }

    /// Checks that `bytes` (nil: the size overflowed) fits the memory budget.
    ///
    /// - Parameter what: what would be allocated, with the file or spec it comes from.
    /// - Throws: UserError naming `what`, the size and the budget.
    public static func checkAllocation(_ bytes: Int?, for what: String) throws {
        let budget = memoryBudget
        guard let bytes else {
            throw UserError("\(what): its size overflows a 64-bit integer; the header or spec is corrupt or absurd")
        }
        guard bytes <= budget else {
            throw UserError("\(what): needs \(describe(bytes: bytes)), more than this machine's memory (\(describe(bytes: budget)))")
        }
    }
}
