import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The real `burnlink-server` binary, started as a child process on a free port.
final class ServerProcess: Sendable {
    static let binary = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/burnlink-server")

    let process: Process
    let port: Int
    private let errorOutput: OutputBuffer

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var log: String { errorOutput.text }

    /// Starts the server and waits until it reports the port it listens on.
    init(arguments: [String]) async throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["--port", "0", "--rate-limit", "off"] + arguments
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        let output = OutputBuffer()
        errorPipe.fileHandleForReading.readabilityHandler = { handle in
            output.append(handle.availableData)
        }
        try process.run()
        self.process = process
        self.errorOutput = output

        var port: Int?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            let text = output.text
            if let range = text.range(of: "listening on http://127.0.0.1:") {
                port = Int(text[range.upperBound...].prefix { $0.isNumber })
            }
            if !process.isRunning { break }
        }
        guard let port else {
            process.terminate()
            throw TestFailure("burnlink-server did not start: \(output.text)")
        }
        self.port = port
    }

    /// A test that failed before stopping its server must not leave the process behind.
    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    /// SIGTERM, then waits for the exit; returns the exit status.
    func stop() async -> Int32 {
        process.terminate()
        for _ in 0..<200 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return process.terminationStatus
    }

    /// SIGKILL: no chance to clean up.
    func kill() async {
        Foundation.kill(process.processIdentifier, SIGKILL)
        for _ in 0..<200 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// One request to a server process; the whole response body (up to 64 MiB).
func sendRequest(_ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [],
                 body: [UInt8]? = nil) async throws -> (status: Int, body: [UInt8]) {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let response = try await client.execute(request, timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 64 << 20)
    return (Int(response.status.code), Array(buffer: bytes))
}

extension TestSender {
    func createHeaderList(expiresIn: Int? = nil, maxViews: Int? = nil) -> [(String, String)] {
        createHeaders(expiresIn: expiresIn, maxViews: maxViews).map { ($0.name.rawName, $0.value) }
    }

    var claimHeaderList: [(String, String)] { [("Authorization", "Bearer \(claimToken.base64URL)")] }
    var receiptHeaderList: [(String, String)] { [("Authorization", "Bearer \(receiptToken.base64URL)")] }
}

