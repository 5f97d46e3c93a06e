import NIOSSL

#if canImport(Glibc)
import Glibc
#endif

/// Which certificate authorities vouch for an https:// server: the system's store, or only
/// those in one PEM file (`--cacert`, the config file's `cacert`, `SSL_CERT_FILE`), as
/// curl's `--cacert` does. The file is read only when an https:// server is used, so a stale
/// setting does not stop a command on plain http:// to loopback. Either way TLS 1.2 is the
/// oldest version spoken.
public struct ServerTrust: Sendable, Equatable {
    /// The PEM file of the authorities; nil for the system store.
    public let file: String?

    public static let system = ServerTrust(file: nil)

    /// The authorities in the PEM file at `path`, read when first needed.
    public static func certificateFile(_ path: String) -> ServerTrust { ServerTrust(file: path) }

    private init(file: String?) {
        self.file = file
    }

    /// What a connection to an https:// server uses; nil for the shared client's defaults (the
    /// system store). A file that cannot be read or holds no certificate is a usage error,
    /// found before any secret is read or sent.
    func tlsConfiguration() throws(ClientError) -> TLSConfiguration? {
        guard let path = file else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw .usage(
                "cannot read certificate authorities from \(path): \(String(cString: strerror(errno)))",
                hint: "--cacert, the config file's cacert or SSL_CERT_FILE names it")
        }
        let certificates: [NIOSSLCertificate]
        do {
            guard info.st_mode & S_IFMT == S_IFREG else { throw NIOSSLError.failedToLoadCertificate }
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .usage(
                "cannot read certificate authorities from \(path)",
                hint: "expected a PEM file of one or more CA certificates (-----BEGIN CERTIFICATE-----)")
        }
        guard !certificates.isEmpty else {
            throw .usage("\(path) holds no PEM certificate", hint: "expected -----BEGIN CERTIFICATE----- blocks")
        }
        var configuration = Self.clientConfiguration
        configuration.trustRoots = .certificates(certificates)
        return configuration
    }

    /// What every connection starts from: the platform defaults, TLS 1.2 and later.
    static var clientConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}
