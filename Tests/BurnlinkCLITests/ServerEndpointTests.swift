import BurnlinkClient
import Testing

/// Plain http:// carries the creator, claim and receipt tokens in the clear: it is allowed
/// only to hosts that cannot be anywhere but this machine.
@Suite("server URLs: plain http only to loopback")
struct ServerEndpointTests {
    @Test(
        "loopback literals and the name localhost are accepted over http",
        arguments: [
            "http://127.0.0.1:8080", "http://127.255.1.2", "http://localhost:9", "http://LOCALHOST",
            "http://[::1]:8080", "http://[0:0:0:0:0:0:0:1]",
        ])
    func loopbackAccepted(_ url: String) throws {
        #expect(try ServerEndpoint(url).baseURL == url)
    }

    @Test(
        "names and addresses that only look local are refused over http",
        arguments: [
            "http://127.example.com", "http://127.0.0.1.nip.example", "http://foo.localhost", "http://localhost.",
            "http://0127.0.0.1", "http://127.1", "http://127.0.0.256", "http://128.0.0.1", "http://[::2]",
            "http://[::ffff:127.0.0.1]", "http://10.0.0.1",
        ])
    func lookalikesRefused(_ url: String) throws {
        #expect(throws: ClientError.self) { try ServerEndpoint(url) }
        // The user may still say so explicitly.
        #expect(try ServerEndpoint(url, insecure: true).baseURL == url)
    }

    @Test("the scheme is kept in lower case, and a host no link can carry is refused")
    func linkableBase() throws {
        #expect(try ServerEndpoint("HTTPS://burn.example.com").baseURL == "https://burn.example.com")
        #expect(try ServerEndpoint("Http://127.0.0.1:8080/").baseURL == "http://127.0.0.1:8080")
        for bad in ["https://my_host", "https://burn.example.com/prefix", "https://user@burn.example.com", "https://"] {
            #expect(throws: ClientError.self, "\(bad)") { try ServerEndpoint(bad) }
        }
    }
}
