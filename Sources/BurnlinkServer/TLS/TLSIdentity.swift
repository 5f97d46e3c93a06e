import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import X509

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

/// A certificate chain and its private key, checked before any handshake uses them: the
/// key goes with the leaf, the leaf is valid now, and each certificate is signed by the one
/// after it. A renewal caught half-written (a leaf without its intermediate yet, an old key)
/// is refused instead of served.
struct TLSKeyPair: Sendable {
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    /// For the log: what is being served.
    let summary: String

    init(files: TLSFiles, now: Date = Date()) throws(TLSLoadError) {
        try Self.checkRegularFile(files.certificatePath, what: "certificate chain")
        try Self.checkRegularFile(files.keyPath, what: "private key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(files.certificatePath)
        } catch {
            throw TLSLoadError("cannot read a PEM certificate chain from \(files.certificatePath) (\(error))")
        }
        guard !chain.isEmpty else { throw TLSLoadError("\(files.certificatePath) holds no PEM certificate") }
        do {
            key = try NIOSSLPrivateKey(file: files.keyPath, format: .pem)
        } catch {
            throw TLSLoadError("cannot read a PEM private key from \(files.keyPath) (\(error))")
        }
        self.chain = chain
        summary = try Self.checkChain(chain, file: files.certificatePath, now: now)
        // BoringSSL refuses a key that does not match the leaf certificate when both go into
        // one context: a mismatched pair is found here, not at the first handshake.
        do {
            _ = try NIOSSLContext(configuration: Self.serverConfiguration(chain: chain, key: key))
        } catch {
            throw TLSLoadError("the key in \(files.keyPath) does not go with the first certificate in \(files.certificatePath)")
        }
    }

    /// TLS 1.2 with forward-secret AEAD suites only, and TLS 1.3.
    static func serverConfiguration(chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuites = "ECDHE+AESGCM:ECDHE+CHACHA20"
        return configuration
    }

    /// A FIFO or a device would block the read (and every later reload) or never end.
    private static func checkRegularFile(_ path: String, what: String) throws(TLSLoadError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw TLSLoadError("cannot read the \(what) \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw TLSLoadError("the \(what) \(path) is not a regular file") }
    }

    /// The leaf's subject, serial and expiry; throws when the chain cannot be served.
    private static func checkChain(_ chain: [NIOSSLCertificate], file: String, now: Date) throws(TLSLoadError) -> String {
        let certificates: [Certificate]
        do {
            certificates = try chain.map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            throw TLSLoadError("\(file) holds a certificate that cannot be parsed (\(error))")
        }
        let leaf = certificates[0]
        guard leaf.notValidBefore <= now else {
            throw TLSLoadError("the certificate in \(file) is not valid before \(leaf.notValidBefore)")
        }
        guard now <= leaf.notValidAfter else {
            throw TLSLoadError("the certificate in \(file) expired at \(leaf.notValidAfter)")
        }
        for (position, (certificate, issuer)) in zip(certificates, certificates.dropFirst()).enumerated() {
            guard certificate.issuer == issuer.subject, issuer.publicKey.isValidSignature(certificate.signature, for: certificate)
            else {
                throw TLSLoadError(
                    "in \(file), certificate \(position + 2) did not sign certificate \(position + 1): the chain must go from the server's certificate up to its CA, in order"
                )
            }
        }
        return "\(leaf.subject), serial \(leaf.serialNumber), valid until \(leaf.notValidAfter)"
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

    /// What is served now, for the log.
    public var summary: String { replacement.withLockedValue { $0 }?.summary ?? initial.summary }

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
