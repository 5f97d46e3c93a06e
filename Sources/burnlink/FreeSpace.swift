import BurnlinkClient

#if canImport(Glibc)
import Glibc
#endif

/// Free space against a secret's size, before the claim. The envelope's size bounds the
/// content from above (it adds a header, a tag per 64 KiB and the inner metadata), so a
/// refusal here is never wrong by more than that overhead.
enum FreeSpace {
    /// Room for `bytes` in the filesystem that holds `directory`.
    static func check(_ bytes: Int, in directory: String, hint: String) throws(ClientError) {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return }  // Cannot tell: writing will.
        try compare(bytes, available(info), place: directory, hint: hint)
    }

    static func standardOutputIsFile() -> Bool {
        var status = stat()
        return fstat(STDOUT_FILENO, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// Room for `bytes` when standard output is a regular file; pipes and terminals have
    /// no size to compare.
    static func checkStandardOutput(_ bytes: Int) throws(ClientError) {
        guard standardOutputIsFile() else { return }
        var info = statvfs()
        guard fstatvfs(STDOUT_FILENO, &info) == 0 else { return }
        try compare(
            bytes, available(info), place: "standard output's filesystem",
            hint: "free some space, or send standard output elsewhere")
    }

    /// What an unprivileged write may use: f_bavail, not f_bfree (root's reserve).
    private static func available(_ info: statvfs) -> UInt64 {
        UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    private static func compare(_ bytes: Int, _ available: UInt64, place: String, hint: String) throws(ClientError) {
        guard UInt64(max(bytes, 0)) > available else { return }
        throw .usage(
            "not enough space in \(place): the secret needs up to \(ProgressBar.size(bytes)), "
                + "and \(ProgressBar.size(Int(clamping: available))) is free", hint: hint)
    }
}
