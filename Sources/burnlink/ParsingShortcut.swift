import ArgumentParser

/// ArgumentParser looks for `--generate-completion-script` in every parse, by reflecting
/// two pseudo-commands before the real one: about 2.4 ms of a 14 ms `burnlink open`
/// (hyperfine, docs/benchmarks.md), for a flag that only packaging uses. It skips that
/// look when the root command names a super command, which otherwise only changes the
/// tool name in help text. So the root names one only for a plain run of a subcommand:
/// never when help, a completion script or a shell completion may be printed, so that
/// those are exactly what they were.
enum ParsingShortcut {
    /// Whether `arguments` (without the program's name) run subcommand `subcommands` with
    /// nothing that asks ArgumentParser to print help or completions.
    static func applies(to arguments: [String], subcommands: Set<String>) -> Bool {
        guard let first = arguments.first, subcommands.contains(first) else { return false }
        return !arguments.contains { argument in
            // Short flags combine ("-yh", "-help" is -h among others): any group with an h.
            let shortFlags = argument.hasPrefix("-") && !argument.hasPrefix("--")
            return argument == "help" || (shortFlags && argument.contains("h"))
                || argument.hasPrefix("--help") || argument.hasPrefix("--generate-completion-script")
                || argument.hasPrefix("--experimental-dump-help") || argument.hasPrefix("---")
        }
    }

    /// `configuration`, with the look for a completion-script request turned off when
    /// `applies` to this process's arguments.
    static func configure(_ configuration: CommandConfiguration) -> CommandConfiguration {
        let subcommands = Set(configuration.subcommands.map { $0._commandName })
        guard applies(to: Array(CommandLine.arguments.dropFirst()), subcommands: subcommands) else {
            return configuration
        }
        var configured = configuration
        configured._superCommandName = configuration.commandName
        return configured
    }
}
