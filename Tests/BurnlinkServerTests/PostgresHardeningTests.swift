import BurnlinkCore
import BurnlinkProtocol
@testable import BurnlinkServer
import Foundation
import Testing

// Findings of the review (issue 16): a connection to a database on another host without
// verified TLS must be pointed out at start.

@Suite("PostgreSQL transport warning")
struct PostgresTransportWarningTests {
    @Test("no warning for a database on this machine, whatever the sslmode", arguments: [
        "postgres://burnlink@localhost/burnlink?sslmode=disable",
        "postgres://burnlink@LOCALHOST/burnlink?sslmode=prefer",
        "postgres://burnlink@127.0.0.1/burnlink",
        "postgres://burnlink@127.8.9.10:5433/burnlink?sslmode=require",
        "postgres://burnlink@[::1]/burnlink?sslmode=allow",
        "postgres://burnlink@/burnlink?host=/run/postgresql",
        "postgres://burnlink@%2Frun%2Fpostgresql/burnlink?sslmode=disable",
    ])
    func local(text: String) throws {
        #expect(try PostgresURL(text, environment: [:]).transportWarning == nil)
    }

    @Test("a database on another host without verified TLS is warned about", arguments: [
        ("postgres://burnlink@db.example.com/burnlink", "prefer"),
        ("postgres://burnlink@db.example.com/burnlink?sslmode=prefer", "prefer"),
        ("postgres://burnlink@db.example.com/burnlink?sslmode=allow", "allow"),
        ("postgres://burnlink@10.1.2.3/burnlink?sslmode=disable", "disable"),
        ("postgres://burnlink@[2001:db8::5]/burnlink?sslmode=require", "require"),
        // Names that only look local are resolved elsewhere.
        ("postgres://burnlink@127.example.com/burnlink?sslmode=require", "require"),
        ("postgres://burnlink@localhost.example.com/burnlink?sslmode=disable", "disable"),
        ("postgres://burnlink@127.0.0.1.example.com/burnlink", "prefer"),
    ])
    func remoteUnverified(text: String, mode: String) throws {
        let warning = try #require(try PostgresURL(text, environment: [:]).transportWarning)
        #expect(warning.contains("sslmode=\(mode)"))
        #expect(warning.contains("verify-full"))
    }

    @Test("no warning once the server's certificate is verified", arguments: ["verify-full", "verify-ca"])
    func remoteVerified(mode: String) throws {
        let url = try PostgresURL("postgres://burnlink@db.example.com/burnlink?sslmode=\(mode)", environment: [:])
        #expect(url.transportWarning == nil)
    }
}
