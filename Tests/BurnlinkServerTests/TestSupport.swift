import BurnlinkCore
import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization

@testable import BurnlinkServer

/// A clock the test moves by hand, so expiry is tested without sleeping.
final class ManualClock: ServerClock {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// What a real sender holds: the link key and receipt token, and the headers derived from them.
struct TestSender {
    let linkKey = KeySchedule.newLinkKey()
    let receiptToken = KeySchedule.newReceiptToken()

    var claimToken: SecretBytes { KeySchedule.claimToken(linkKey: linkKey) }

    func createHeaders(expiresIn: Int? = nil, maxViews: Int? = nil, password: (kdf: KDFParameters, key: SecretBytes)? = nil)
        -> HTTPFields
    {
        var headers = HTTPFields()
        headers[.init(API.Header.claimVerifier)!] = Base64URL.encode(KeySchedule.verifier(of: claimToken))
        headers[.init(API.Header.receiptVerifier)!] = Base64URL.encode(KeySchedule.verifier(of: receiptToken))
        headers[.contentType] = "application/octet-stream"
        if let expiresIn { headers[.init(API.Header.expiresIn)!] = String(expiresIn) }
        if let maxViews { headers[.init(API.Header.maxViews)!] = String(maxViews) }
        if let password {
            let proof = KeySchedule.passwordProof(linkKey: linkKey, passwordKey: password.key)
            headers[.init(API.Header.passwordVerifier)!] = Base64URL.encode(KeySchedule.verifier(of: proof))
            headers[.init(API.Header.passwordKDF)!] = password.kdf.encoded
        }
        return headers
    }

    var claimHeaders: HTTPFields { [.authorization: "Bearer \(claimToken.base64URL)"] }
    var receiptHeaders: HTTPFields { [.authorization: "Bearer \(receiptToken.base64URL)"] }

    func claimHeaders(passwordKey: SecretBytes) -> HTTPFields {
        var headers = claimHeaders
        headers[.init(API.Header.passwordProof)!] =
            KeySchedule.passwordProof(linkKey: linkKey, passwordKey: passwordKey).base64URL
        return headers
    }
}

/// Small, fast Argon2id parameters for tests.
func testPassword(_ password: String) throws -> (kdf: KDFParameters, key: SecretBytes) {
    let kdf = try KDFParameters(ops: 1, memory: 8192, salt: [UInt8](repeating: 3, count: 16))
    return (kdf, try kdf.deriveKey(password: KDFParameters.passwordBytes(password)))
}

func temporaryDatabasePath() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-test-\(UUID().uuidString)")
    return directory.appendingPathComponent("burnlink.sqlite").path
}

/// A server over a fresh SQLite file, with a manual clock and no rate limits unless asked.
struct TestServer {
    var configuration = ServerConfiguration()
    let clock = ManualClock()
    let store: SQLiteStore
    let metrics = ServerMetrics()

    init(configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        configuration.rateLimit = nil
        configuration.port = 0
        configuration.sweepInterval = .seconds(3600)
        configure(&configuration)
        store = try SQLiteStore(path: temporaryDatabasePath())
    }

    func application(
        logger: Logger? = nil, eventLoopGroupProvider: EventLoopGroupProvider = .singleton
    ) throws -> some ApplicationProtocol {
        try buildApplication(
            configuration: configuration, store: store, clock: clock, metrics: metrics, logger: logger,
            eventLoopGroupProvider: eventLoopGroupProvider)
    }
}

/// An unlabelled series' value in a Prometheus text exposition, read as a scraper would.
func metricValue(_ name: String, in exposition: String) -> Double? {
    for line in exposition.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

extension TestClientProtocol {
    /// Creates a secret and returns its id.
    func createSecret(_ body: [UInt8], sender: TestSender, headers: HTTPFields? = nil) async throws -> String {
        try await execute(
            uri: API.secretsPath, method: .post, headers: headers ?? sender.createHeaders(),
            body: ByteBuffer(bytes: body)
        ) { response in
            guard response.status == .created else {
                throw TestFailure("create answered \(response.status): \(String(buffer: response.body))")
            }
            return try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(buffer: response.body)).id
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Collects every log line (message and metadata) so tests can search them.
final class CapturedLog: Sendable {
    let lines = Mutex<[String]>([])

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "test") { _ in CapturingHandler(log: self) }
        logger.logLevel = level
        return logger
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
        line: UInt
    ) {
        let all = self.metadata.merging(metadata ?? [:]) { $1 }
        log.lines.withLock { $0.append("\(level) \(message) \(all)") }
    }
}

/// A one-way flag that tasks on any thread set and read.
final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var isSet: Bool { state.withLock { $0 } }
}
