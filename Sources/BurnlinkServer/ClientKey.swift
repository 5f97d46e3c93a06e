#if canImport(Glibc)
import Glibc
#endif

/// Who a rate limit or upload cap counts against: a client's IP address, reduced to what
/// one client controls. An IPv4 address is one client; an IPv6 client usually holds a whole
/// /64, so its first 64 bits are the key. Fixed size, so a table of keys costs the same
/// whatever a client sends, and only a real address can become a key.
struct ClientKey: Hashable, Sendable {
    private let high: UInt64
    private let low: UInt64

    /// Every client whose address could not be read shares this key.
    static let unknown = ClientKey(high: 0, low: 0)

    private init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An IPv4 address in dotted-decimal form or an IPv6 address (brackets allowed); nil
    /// for anything else: a name, a port, garbage.
    init?(address text: some StringProtocol) {
        var text = String(text)
        if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        guard text.utf8.count <= 45 else { return nil }  // INET6_ADDRSTRLEN - 1
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(UInt32(bigEndian: v4.s_addr)))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        let high = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that IPv4 client.
        if high == 0 && low >> 32 == 0xFFFF {
            self.init(high: 0, low: low)
        } else {
            self.init(high: high, low: 0)
        }
    }
}
