// FileErrorText: Foundation's file errors as words. On Linux, FileManager's errors print as
// "The operation could not be completed. (NSCocoaErrorDomain error 512.)"; the system error
// under them (EACCES, EROFS, ENOTDIR…) is what a user can act on.
import Foundation
import NNCore

/// The reason a FileManager call failed, in words: the underlying POSIX error when there is
/// one, else the Cocoa file error's meaning.
public func fileErrorReason(_ error: Error) -> String {
    let ns = error as NSError
    if let under = ns.userInfo[NSUnderlyingErrorKey] as? NSError, under.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(under.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    if ns.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
        case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
        case .fileWriteFileExists: return "a file of that name already exists"
        case .fileWriteOutOfSpace: return "no space left on the device"
        case .fileWriteVolumeReadOnly: return "read-only file system"
        case .fileWriteInvalidFileName: return "invalid file name"
        case .fileWriteUnknown: return "cannot write there (a path component is a file, or the file system refuses it)"
        default: break
        }
    }
    return ns.localizedDescription
}

/// Creates `dir` (and its parents) if needed and checks that a file can be created in it,
/// by creating and removing one: permission bits alone do not say (root ignores them; a
/// read-only mount does not).
///
/// - Parameter what: how the directory was named, e.g. "--checkpoint-dir /x".
/// - Throws: UserError naming `what` and the system's reason.
public func prepareWritableDirectory(_ dir: String, what: String) throws {
    do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
        throw UserError("\(what): cannot create the directory (\(fileErrorReason(error)))")
    }
    let probe = (dir as NSString).appendingPathComponent(".nntrain-write-test.\(getpid())")
    let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else {
        throw UserError("\(what): the directory is not writable (\(String(cString: strerror(errno)))); choose a directory this user can write to")
    }
    close(fd)
    unlink(probe)
}
