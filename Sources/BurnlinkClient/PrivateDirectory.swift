#if canImport(Glibc)
import Glibc
#endif

/// A directory of this user's state (claim sessions, pending requests): created with its
/// parents as needed, each owner-only (0700). One found there already must be a real
/// directory (not a link to one), owned by this user and closed to others: what it holds
/// opens secrets.
enum PrivateDirectory {
    static func make(_ directory: String) throws(ClientError) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            var built = ""
            for component in directory.split(separator: "/") {
                built += "/" + component
                if mkdir(built, 0o700) != 0 && errno != EEXIST {
                    throw .other("cannot create \(built): \(String(cString: strerror(errno)))")
                }
            }
        }
        try check(directory)
    }

    static func check(_ directory: String) throws(ClientError) {
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw .other("cannot use \(directory): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw .other("\(directory) is not a directory (a symbolic link?)", hint: "remove it; burnlink makes its own")
        }
        guard info.st_uid == getuid(), info.st_mode & 0o077 == 0 else {
            throw .other(
                "\(directory) is open to other users or not yours",
                hint: "chmod 700 it (and check who made it), or remove it; burnlink makes its own")
        }
    }
}
