import BurnlinkClient

#if canImport(Glibc)
import Glibc
#endif

/// The standard descriptors as the process found them. A closed one is held on /dev/null
/// (read-only) from the first line of `main`: otherwise the next descriptor opened (the
/// HTTP client's event loop starts at once) takes its number, and plaintext meant for
/// standard output would be written there after the view is spent.
enum StandardStreams {
    /// Call first in `main`, before anything opens a descriptor.
    static func holdClosedDescriptors() { _ = outputWasClosed }

    private static let outputWasClosed: Bool = {
        var outputClosed = false
        for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(descriptor, F_GETFL) < 0 {
            let placeholder = Glibc.open("/dev/null", O_RDONLY)
            if placeholder >= 0 && placeholder != descriptor {
                dup2(placeholder, descriptor)
                Glibc.close(placeholder)
            }
            if descriptor == STDOUT_FILENO { outputClosed = true }
        }
        return outputClosed
    }()

    /// Standard output can take the secret: open, and open for writing. (A full device
    /// such as /dev/full cannot be told from here; that shows only when writing.)
    static func checkOutput() throws(ClientError) {
        let hint = "give --output PATH, or send standard output to a file or a pipe"
        guard !outputWasClosed else { throw .usage("standard output is closed", hint: hint) }
        let mode = fcntl(STDOUT_FILENO, F_GETFL) & O_ACCMODE
        guard mode == O_WRONLY || mode == O_RDWR else { throw .usage("standard output is not open for writing", hint: hint) }
    }
}
