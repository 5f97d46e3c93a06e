import ArgumentParser

/// A plain run of a subcommand (`burnlink send -q FILE`) is parsed with the subcommand as
/// the root command. Parsed from `burnlink` itself, ArgumentParser reflects the root, then
/// reflects the subcommand twice more just to ask whether it takes pass-through arguments,
/// and, unless the root names a super command, two pseudo-commands to look for
/// `--generate-completion-script`: 41 % of a 1 KiB `send`'s instructions were the parse
/// (callgrind; docs/benchmarks.md, "Issue 18: the subcommand parsed as the root").
///
/// Only help, version and completion output would differ between the two parses, so any
/// argument that may ask for them takes the full parse, and prints exactly what it did.
enum ParsingShortcut {
    /// The root's name, which each subcommand's configuration names as its super command:
    /// parsed as the root, a subcommand then skips the look for a completion-script
    /// request, and its usage still reads "burnlink send". ArgumentParser reads a super
    /// command's name only from the root of a parse, so a full parse from `burnlink` is
    /// unchanged by it.
    static let rootName = "burnlink"

    /// The subcommand that `arguments` (without the program's name) run plainly: the first
    /// argument names it, and nothing asks ArgumentParser to print help, a version or
    /// completions. Nil means the full parse from the root.
    static func plainSubcommand(
        of arguments: [String], among subcommands: [any ParsableCommand.Type]
    ) -> (any ParsableCommand.Type)? {
        guard let first = arguments.first,
            let subcommand = subcommands.first(where: { $0._commandName == first })
        else { return nil }
        let asksForOutput = arguments.contains { argument in
            // Short flags combine ("-yh", "-help" is -h among others): any group with an h.
            let shortFlags = argument.hasPrefix("-") && !argument.hasPrefix("--")
            return argument == "help" || (shortFlags && argument.contains("h"))
                || argument.hasPrefix("--help") || argument.hasPrefix("--version")
                || argument.hasPrefix("--generate-completion-script")
                || argument.hasPrefix("--experimental-dump-help") || argument.hasPrefix("---")
        }
        return asksForOutput ? nil : subcommand
    }
}
