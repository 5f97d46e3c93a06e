#if canImport(Glibc)
import Glibc
#endif

/// What Ctrl-C, SIGTERM or SIGHUP must undo before the process dies: a password prompt's
/// echo, a temporary file of plaintext. The handler runs only async-signal-safe calls on
/// state prepared beforehand (`tcsetattr`, `unlink`, `write`, `_exit`), so it can never
/// deadlock in an allocator or a lock the interrupted code held.
///
/// Exit codes: 128 plus the signal's number (130 for Ctrl-C), as shells report it.
public enum Interruption {
    /// Installs the handler for SIGINT, SIGTERM and SIGHUP (once; idempotent).
    public static func install() {
        guard !installed else { return }
        installed = true
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { signal in Interruption.handle(signal) }
        sigemptyset(&action.sa_mask)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            // A signal ignored on entry (a background job, nohup) stays ignored, by convention.
            var current = sigaction()
            sigaction(signal, nil, &current)
            let handler = unsafeBitCast(current.__sigaction_handler.sa_handler, to: UnsafeRawPointer?.self)
            if handler == unsafeBitCast(SIG_IGN, to: UnsafeRawPointer?.self) { continue }
            sigaction(signal, &action, nil)
        }
        // Past a file size limit (`ulimit -f`) a write must fail with EFBIG, which `open`
        // reports and recovers from, rather than kill the process mid-file.
        signal(SIGXFSZ, SIG_IGN)
        // A reader that went away (`| head`) must fail a write with EPIPE too: `send` then
        // revokes the secret whose link nobody got, `open` keeps its claim for a re-run.
        signal(SIGPIPE, SIG_IGN)
    }

    /// The terminal whose settings to restore, while a password prompt has echo off.
    public static func restoringTerminal(_ descriptor: Int32, to settings: termios) {
        terminalSettings = settings
        terminal = descriptor
    }

    public static func terminalRestored() { terminal = -1 }

    /// The plaintext file to remove if the process is interrupted now (nil: none).
    /// Strings handed to the handler are never freed: it may be reading an old one.
    public static func removing(_ path: String?) {
        temporaryFile = path.map { strdup($0) } ?? nil
    }

    /// What to say on stderr when interrupted (nil: nothing).
    public static func saying(_ text: String?) {
        message = text.map { strdup($0) } ?? nil
    }

    private static func handle(_ signal: Int32) {
        if terminal >= 0 { tcsetattr(terminal, TCSAFLUSH, &terminalSettings) }
        if let temporaryFile { unlink(temporaryFile) }
        if let message { _ = write(STDERR_FILENO, message, strlen(message)) }
        _exit(128 + signal)
    }

    nonisolated(unsafe) private static var installed = false
    nonisolated(unsafe) private static var terminal: Int32 = -1
    nonisolated(unsafe) private static var terminalSettings = termios()
    nonisolated(unsafe) private static var temporaryFile: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var message: UnsafeMutablePointer<CChar>?
}
