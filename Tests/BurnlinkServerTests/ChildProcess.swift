import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a child process wrote, collected from its pipe's reader thread.
final class OutputBuffer: Sendable {
    private let storage = Mutex("")
    var text: String { storage.withLock { $0 } }
    func append(_ data: Data) { storage.withLock { $0 += String(decoding: data, as: UTF8.self) } }
}

/// A child process that ran to its end.
struct FinishedProcess {
    let status: Int32
    let output: String
    let errors: String
}

/// Runs a program to its end, `input` (if any) on its standard input. Waits by polling,
/// never by blocking a thread of the concurrency pool (`waitUntilExit` there was seen to
/// hang with the pool's two threads busy).
func runToEnd(_ executable: URL, _ arguments: [String], input: String? = nil,
              timeout: Duration = .seconds(120)) async throws -> FinishedProcess {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let output = OutputBuffer()
    let errors = OutputBuffer()
    let outputPipe = Pipe()
    let errorPipe = Pipe()
    outputPipe.fileHandleForReading.readabilityHandler = { output.append($0.availableData) }
    errorPipe.fileHandleForReading.readabilityHandler = { errors.append($0.availableData) }
    process.standardOutput = outputPipe
    process.standardError = errorPipe
    let inputPipe = input.map { _ in Pipe() }
    if let inputPipe { process.standardInput = inputPipe }
    try process.run()
    if let input, let inputPipe {
        inputPipe.fileHandleForWriting.write(Data(input.utf8))
        try inputPipe.fileHandleForWriting.close()
    }
    let deadline = ContinuousClock.now + timeout
    var exitStatus: Int32?
    while exitStatus == nil {
        if !process.isRunning {
            exitStatus = process.terminationStatus
            break
        }
        // Foundation sometimes misses a child's exit when several children end close
        // together (the child stays a zombie): reap it here in that case.
        var status: Int32 = 0
        if waitpid(process.processIdentifier, &status, WNOHANG) == process.processIdentifier {
            exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            break
        }
        guard ContinuousClock.now < deadline else {
            process.terminate()
            throw TestFailure("\(executable.path) did not finish in \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    // Let the pipe readers drain what the process wrote last.
    try await Task.sleep(for: .milliseconds(20))
    outputPipe.fileHandleForReading.readabilityHandler = nil
    errorPipe.fileHandleForReading.readabilityHandler = nil
    output.append(outputPipe.fileHandleForReading.readDataToEndOfFile())
    errors.append(errorPipe.fileHandleForReading.readDataToEndOfFile())
    return FinishedProcess(status: exitStatus!, output: output.text, errors: errors.text)
}
