#if canImport(Glibc)
import Glibc
#endif

/// A directory of this user's state (claim sessions, pending requests): created with its
/// parents as needed, each owner-only (0700).
enum PrivateDirectory {
    static func make(_ directory: String) throws(ClientError) {
        if mkdir(directory, 0o700) == 0 || errno == EEXIST { return }
        var built = ""
        for component in directory.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o700) != 0 && errno != EEXIST {
                throw .other("cannot create \(built): \(String(cString: strerror(errno)))")
            }
        }
    }
}
