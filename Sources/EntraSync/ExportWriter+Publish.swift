import EntraJournal
import Foundation
import Glibc

/// How a written set becomes the one readers see, and what a killed writer leaves behind.
///
/// Under the profile's directory:
/// ```
/// export -> .export-sets/RUN      the current set (a relative link)
/// .export-sets/RUN/               users.json, groups.json, users.csv, groups.csv, .state
/// .export.swap -> .export-sets/NEXT   only between its creation and its rename over `export`
/// ```
/// Every step leaves a whole set at `export`: a kill while a set is written leaves an unpublished
/// directory in `.export-sets`, one before the rename a stray `.export.swap`, one after it the
/// previous set. `recover()` removes them at the next start; `write` removes them too.
extension ExportWriter {
    /// At start: removes what a killed writer left and takes over an older version's `export`
    /// directory (its files are linked into a set, not rewritten).
    /// - Throws: only when an older version's directory cannot be taken over; it then stays in use
    ///   until the next export replaces it.
    public func recover() throws(Failure) {
        for leftover in [swapPath, asidePath] where Self.exists(leftover) {
            Self.removeTree(leftover)
        }
        if Self.isDirectory(directory) {
            try adoptDirectory()
        } else {
            let current = currentSet()
            removeRetiredSets(keeping: current)
            if let current { unlink(setsDirectory + "/" + current + "/.state.tmp") }  // a killed markCurrent
        }
    }

    /// The name of the set `export` points at; nil when it is missing or an older version's directory.
    func currentSet() -> String? {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory),
              target.hasPrefix(".export-sets/") else { return nil }
        return String(target.dropFirst(".export-sets/".count))
    }

    /// Makes `.export-sets` and removes every set in it but the current one (a failed or killed
    /// write's); returns the current set.
    func prepareSets() throws(Failure) -> String? {
        if mkdir(setsDirectory, 0o755) != 0 && errno != EEXIST { throw Failure(path: setsDirectory, errno: errno) }
        let current = currentSet()
        removeRetiredSets(keeping: current)
        return current
    }

    func removeRetiredSets(keeping current: String?) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: setsDirectory)) ?? [] where name != current {
            Self.removeTree(setsDirectory + "/" + name)
        }
    }

    /// A set's name: the run id (hex), made unique against the current set (`markCurrent` lets a
    /// set show a later run than its name).
    static func setName(for runId: String, current: String?) -> String {
        let safe = runId.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") } && !runId.isEmpty
        var name = safe ? runId : "set"
        var n = 1
        while name == current {
            name = (safe ? runId : "set") + "-\(n)"
            n += 1
        }
        return name
    }

    /// Points `export` at the fsynced set `name`: a new link renamed over the old one, then the
    /// directory fsynced; then the previous set goes.
    func publish(_ name: String, replacing current: String?) throws(Failure) {
        let parent = (directory as NSString).deletingLastPathComponent
        if unlink(swapPath) != 0 && errno != ENOENT { throw Failure(path: swapPath, errno: errno) }
        guard symlink(".export-sets/" + name, swapPath) == 0 else { throw Failure(path: swapPath, errno: errno) }
        CrashPoint.hit("export.link")
        let replacedDirectory = Self.isDirectory(directory)
        if replacedDirectory {
            try exchangeDirectory()
        } else if rename(swapPath, directory) != 0 {
            let code = errno
            unlink(swapPath)
            throw Failure(path: directory, errno: code)
        }
        try? Self.syncDirectory(parent)
        CrashPoint.hit("export.swap")
        if replacedDirectory {
            Self.removeTree(swapPath)
            Self.removeTree(asidePath)
        } else if let current {
            Self.removeTree(setsDirectory + "/" + current)
        }
    }

    /// Replaces an older version's `export` directory with the link at `.export.swap`. A rename
    /// cannot put a link over a directory, but `renameat2(RENAME_EXCHANGE)` swaps the two in one
    /// step (the directory ends up at `.export.swap`). Where the file system cannot exchange, the
    /// directory is moved aside first: `export` is missing for that moment.
    private func exchangeDirectory() throws(Failure) {
        if let exchange = Self.renameat2, exchange(AT_FDCWD, swapPath, AT_FDCWD, directory, Self.renameExchange) == 0 { return }
        guard rename(directory, asidePath) == 0 else { throw Failure(path: directory, errno: errno) }
        guard rename(swapPath, directory) == 0 else {
            let code = errno
            rename(asidePath, directory)
            throw Failure(path: directory, errno: code)
        }
    }

    /// Turns an older version's `export` directory into a set: its files are hard-linked into
    /// `.export-sets/RUN` (the same inodes, nothing rewritten), then published.
    private func adoptDirectory() throws(Failure) {
        if mkdir(setsDirectory, 0o755) != 0 && errno != EEXIST { throw Failure(path: setsDirectory, errno: errno) }
        removeRetiredSets(keeping: nil)
        let name = Self.setName(for: exportedRunId() ?? "adopted", current: nil)
        let set = setsDirectory + "/" + name
        if mkdir(set, 0o755) != 0 { throw Failure(path: set, errno: errno) }
        do throws(Failure) {
            for file in Self.setFiles where link(directory + "/" + file, set + "/" + file) != 0 && errno != ENOENT {
                throw Failure(path: set + "/" + file, errno: errno)
            }
            try Self.syncDirectory(set)
            try publish(name, replacing: nil)
        } catch {
            Self.removeTree(set)
            throw error
        }
    }

    // MARK: - File system helpers

    typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32

    /// glibc's `renameat2` (2.28+); Swift's Glibc module does not declare it.
    static let renameat2: RenameAt2? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }
    static let renameExchange: UInt32 = 1 << 1  // RENAME_EXCHANGE, <linux/fs.h>

    static func syncDirectory(_ path: String) throws(Failure) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(path: path, errno: errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw Failure(path: path, errno: errno) }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Whether `path` itself (not a link to one) is a directory.
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Removes a file, a link (not what it points at) or a directory tree; best effort.
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
