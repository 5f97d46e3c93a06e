#if canImport(Glibc)
import Glibc
#endif

/// A link or receipt given as an argument is readable by every local user in
/// /proc/PID/cmdline (and `ps`) for as long as the process runs: through a password prompt,
/// a confirmation, a long download or `status --wait`. Once Swift has copied the arguments,
/// their bytes in the process's own argument area are overwritten, so only the command's
/// name and subcommand stay visible. The copy is still exposed between exec and this point
/// (microseconds), which is why reading the link from standard input remains the better way.
enum ArgumentHiding {
    static func hideArguments(keepingSubcommands subcommands: Set<String>) {
        let argv = CommandLine.unsafeArgv
        for index in 1..<Int(CommandLine.argc) {
            guard let argument = argv[index] else { continue }
            if index == 1, subcommands.contains(String(cString: argument)) { continue }
            memset(argument, 0, strlen(argument))
        }
    }
}
