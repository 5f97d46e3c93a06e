import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// Where the server's certificate chain and private key are read from (`--tls-cert`,
/// `--tls-key`): PEM files, read at start and again on SIGHUP.
public struct TLSFiles: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }
}

/// A certificate chain and its private key, checked to belong together.
struct TLSKeyPair: Sendable {
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey

    init(files: TLSFiles) throws(TLSLoadError) {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw TLSLoadError("cannot read a PEM certificate chain from \(files.certificatePath): \(error)")
        }
        guard !chain.isEmpty else { throw TLSLoadError("\(files.certificatePath) holds no PEM certificate") }
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            throw TLSLoadError("cannot read a PEM private key from \(files.keyPath): \(error)")
        }
        self.chain = chain
        // BoringSSL refuses a key that does not match the leaf certificate when both go into
        // one context: a mismatched pair is found here, not at the first handshake.
        do {
            _ = try NIOSSLContext(configuration: Self.serverConfiguration(chain: chain, key: key))
        } catch {
            throw TLSLoadError("the key in \(files.keyPath) does not go with the certificate in \(files.certificatePath): \(error)")
        }
    }

    static func serverConfiguration(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

public struct TLSLoadError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The server's TLS identity, replaceable while the server runs: every new handshake uses
/// the pair loaded last; connections already open keep theirs. A reload that fails (a
/// missing file, a key that does not match) keeps the pair in use.
public final class ReloadableTLSIdentity: Sendable {
    public let files: TLSFiles
    private let initial: TLSKeyPair
    /// nil while the pair loaded at start is the one in use: handshakes then need no override.
    private let replacement = NIOLockedValueBox<TLSKeyPair?>(nil)

    public init(files: TLSFiles) throws(TLSLoadError) {
        self.files = files
        initial = try TLSKeyPair(files: files)
    }

    /// Reads both files again; the new pair serves the next handshakes.
    public func reload() throws(TLSLoadError) {
        let pair = try TLSKeyPair(files: files)
        replacement.withLockedValue { $0 = pair }
    }

    /// TLS 1.2 and later, with the current pair chosen as each handshake begins.
    public var serverConfiguration: TLSConfiguration {
        var configuration = TLSKeyPair.serverConfiguration(chain: initial.chain, key: initial.key)
        configuration.sslContextCallback = { [replacement] _, promise in
            guard let pair = replacement.withLockedValue({ $0 }) else {
                promise.succeed(.noChanges)
                return
            }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }
}
