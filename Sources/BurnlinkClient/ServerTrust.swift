import NIOSSL

/// Which certificate authorities vouch for an https:// server: the system's store, or only
/// those in one PEM file (`--cacert`, the config file's `cacert`, `SSL_CERT_FILE`), as
/// curl's `--cacert` does. Either way TLS 1.2 is the oldest version spoken.
public struct ServerTrust: Sendable, Equatable {
    /// The PEM file the authorities came from; nil for the system store.
    public let file: String?
    let tlsConfiguration: TLSConfiguration?

    public static let system = ServerTrust(file: nil, tlsConfiguration: nil)

    private init(file: String?, tlsConfiguration: TLSConfiguration?) {
        self.file = file
        self.tlsConfiguration = tlsConfiguration
    }

    /// The authorities in `path`; a file that holds none is a usage error, found before any
    /// secret is read or sent.
    public init(certificateFile path: String) throws(ClientError) {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw .usage(
                "cannot read certificate authorities from \(path): \(error)",
                hint: "expected a PEM file of one or more CA certificates (-----BEGIN CERTIFICATE-----)")
        }
        guard !certificates.isEmpty else {
            throw .usage("\(path) holds no PEM certificate", hint: "expected -----BEGIN CERTIFICATE----- blocks")
        }
        var configuration = Self.clientConfiguration
        configuration.trustRoots = .certificates(certificates)
        self.init(file: path, tlsConfiguration: configuration)
    }

    /// What every connection starts from: the platform defaults, TLS 1.2 and later.
    static var clientConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    public static func == (lhs: ServerTrust, rhs: ServerTrust) -> Bool { lhs.file == rhs.file }
}
