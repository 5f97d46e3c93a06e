import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Tells a service manager (systemd with `Type=notify`) what the server is doing, as
/// sd_notify(3) does: one datagram to the socket named by `NOTIFY_SOCKET`, without linking
/// libsystemd. Without that variable it does nothing. Best effort: a message that cannot
/// be sent is dropped (systemd then times the start out, which says enough).
public enum ServiceManager {
    /// `READY=1` once the server listens, with a status line for `systemctl status`.
    public static func ready(status: String) {
        notify("READY=1\nSTATUS=\(status)")
    }

    /// `STOPPING=1` as a graceful shutdown begins.
    public static func stopping() {
        notify("STOPPING=1\nSTATUS=stopping")
    }

    static func notify(_ message: String) {
        guard let raw = getenv("NOTIFY_SOCKET") else { return }
        var path = Array(String(cString: raw).utf8)
        // A name starting with '@' is in the abstract namespace: a NUL byte instead.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !path.isEmpty, path.count < capacity, path.first == 0 || path.first == UInt8(ascii: "/") else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        _ = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(descriptor, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
    }
}

/// Sends `STOPPING=1` when the service group begins its graceful shutdown. Added last, it
/// is told first.
struct ShutdownAnnouncer: Service {
    func run() async throws {
        try? await gracefulShutdown()
        ServiceManager.stopping()
    }
}
