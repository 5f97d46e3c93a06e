import ArgumentParser
import AsyncHTTPClient
import FloorRequests

#if canImport(Glibc)
import Glibc
#endif

// floor-parsed SECRET_URL --token TOKEN [--yes] [--confirm]: floor-claim's requests behind
// an ArgumentParser command with the property wrappers of `burnlink open` (an argument,
// two optional string options, three flags, an option group, an optional integer), parsed
// with the command as the root while the HTTP client is made on another thread, as
// burnlink parses `open` and prepares its client.

struct Connection: ParsableArguments {
    @Flag var insecure = false
    @Option(name: .customLong("cacert")) var certificateAuthorities: String?
}

struct OpenShaped: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "open", _superCommandName: "burnlink")
    @Argument var link: String?
    @Option(name: .shortAndLong) var output: String?
    @Flag var force = false
    @Option var passwordFile: String?
    @Flag(name: .shortAndLong) var yes = false
    @Flag var raw = false
    @OptionGroup var connection: Connection
    @Option var timeout: Int?
    @Option var token: String
    @Flag var confirm = false
}

let client = Task.detached(priority: .utility) { makeClient() }
let command: OpenShaped
do {
    command = try OpenShaped.parseAsRoot(Array(CommandLine.arguments.dropFirst())) as! OpenShaped
} catch {
    let message = OpenShaped.fullMessage(for: error) + "\n"
    _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    _exit(2)
}
_exit(await claim(with: client.value, secretURL: command.link ?? "", token: command.token, confirm: command.confirm))
