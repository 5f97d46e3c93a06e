import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What can be known about an output before a secret is claimed. A failure here is a
/// usage error (exit 2) while nothing is spent; the same failure after the claim would
/// cost the view.
public enum OutputChecks {
    /// `directory` exists, is a directory, and this user may create files in it.
    /// (`access` also reports a read-only filesystem, even to root.)
    public static func writableDirectory(_ directory: String, hint: String) throws(ClientError) {
        var info = stat()
        guard stat(directory, &info) == 0 else {
            if errno == ENOENT { throw .usage("no such directory: \(directory)", hint: "create it first, or " + hint) }
            throw .usage("cannot use \(directory): \(String(cString: strerror(errno)))", hint: hint)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .usage("\(directory) is not a directory", hint: hint) }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw .usage("cannot write in \(directory): \(String(cString: strerror(errno)))", hint: hint)
        }
    }

    /// The directory a `--output PATH` lands in ("." for a bare name).
    public static func directory(of path: String) -> String {
        let parent = FilePath(path).removingLastComponent().string
        return parent.isEmpty ? "." : parent
    }

    /// `--output PATH` names a file that may be created (or, with `overwrite`, replaced)
    /// in a writable directory, under a name the filesystem accepts.
    public static func fileTarget(_ path: String, overwrite: Bool) throws(ClientError) {
        let anotherName = "choose another --output"
        let name = FilePath(path).lastComponent?.string ?? ""
        guard !path.isEmpty else {
            throw .usage("--output needs a file name", hint: "use --output . to keep the sender's file name")
        }
        if path.hasSuffix("/") || name == "." || name == ".." || isDirectory(path) {
            guard isDirectory(path) else {
                throw .usage("no such directory: \(path)", hint: "create it first, or " + anotherName)
            }
            throw .usage(
                "\(path) is a directory",
                hint: "give a file name in it (--output \(path.hasSuffix("/") ? path : path + "/")NAME), "
                    + "or run open from inside it with --output . to keep the sender's file name")
        }
        let directory = directory(of: path)
        try writableDirectory(directory, hint: anotherName)
        let limit = FileNames.maximumLength(in: directory)
        guard name.utf8.count <= limit else {
            throw .usage(
                "the file name is too long: \(name.utf8.count) bytes, and \(directory) takes at most \(limit)",
                hint: "choose a shorter --output")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        // lstat, not stat: a symbolic link, even a dangling one, is something that exists,
        // and a file is never written through one.
        let kind = info.st_mode & S_IFMT
        let what = kind == S_IFLNK ? "a symbolic link" : "not a regular file"
        if !overwrite {
            throw .usage(
                kind == S_IFREG ? "\(path) already exists" : "\(path) already exists (\(what))",
                hint: kind == S_IFREG
                    ? anotherName + ", or add --force to replace it"
                    : anotherName + "; --force replaces only a regular file")
        }
        guard kind == S_IFREG else {
            throw .usage("\(path) is \(what); --force replaces only a regular file", hint: anotherName)
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}
