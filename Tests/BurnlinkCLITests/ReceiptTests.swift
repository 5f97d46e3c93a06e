import BurnlinkTestSupport
import Foundation
import Testing

/// The sender's side: receipts, `status` (with `--wait`) and `revoke`.
@Suite("receipts, status and revoke")
struct ReceiptTests {
    @Test("send --receipt-file writes the receipt (mode 0600); --json carries link, receipt, id and expiry")
    func receipts() async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            let link = try await server.send("for the receipt", ["--receipt-file", receiptFile])
            #expect(Files.mode(receiptFile) == 0o600)
            let receipt = try #require(Files.contents(receiptFile).map { String(decoding: $0, as: UTF8.self) })
            #expect(receipt.hasPrefix("burnlink-receipt.v1."))
            #expect(receipt.hasSuffix("\n") && receipt.split(separator: "\n").count == 1)
            #expect(!receipt.contains(try ParsedLink(link).key), "the receipt must not carry the link key")

            let status = try await CLI.run(["status", "--receipt-file", receiptFile], environment: server.environment)
            #expect(status.status == 0, "\(status)")
            #expect(status.out.contains("state:      waiting"), "\(status)")

            let json = try await CLI.run(
                ["send", "--json", "--recipients", "2"], stdin: "json please", environment: server.environment)
            #expect(json.status == 0, "\(json)")
            #expect(json.out.split(separator: "\n").count == 1, "\(json)")
            let entries = try #require(try JSONSerialization.jsonObject(with: json.stdout) as? [[String: Any]], "\(json)")
            #expect(entries.count == 2)
            for entry in entries {
                #expect(Set(entry.keys) == ["link", "receipt", "id", "expires_at", "max_views"])
                let entryLink = try #require(entry["link"] as? String)
                let entryReceipt = try #require(entry["receipt"] as? String)
                #expect(entryLink.wholeMatch(of: linkPattern) != nil)
                #expect(entryReceipt.hasPrefix("burnlink-receipt.v1.") && entryReceipt != entryLink)
                #expect(entry["id"] as? String == (try ParsedLink(entryLink).id))
                let expiresAt = try #require((entry["expires_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
                #expect(abs(expiresAt.timeIntervalSinceNow - 24 * 3600) < 300, "the default expiry is 24 hours")
                #expect(entry["max_views"] as? Int == 1)
                // The JSON receipt works for status (given on stdin), and the link opens.
                let status = try await CLI.run(["status", "--json"], stdin: entryReceipt + "\n", environment: server.environment)
                let object = try #require(try JSONSerialization.jsonObject(with: status.stdout) as? [String: Any], "\(status)")
                #expect(object["state"] as? String == "waiting")
                let opened = try await server.open(entryLink)
                #expect(opened.status == 0 && opened.out == "json please", "\(opened)")
            }
        }
    }

    @Test("status --wait returns as soon as another process opens the link, and says viewed")
    func statusWaitReturnsOnOpen() async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            let link = try await server.send("pick me up", ["--receipt-file", receiptFile])
            let waiting = try CLI.start(
                ["status", "--wait", "--receipt-file", receiptFile],
                environment: server.environment, timeout: .seconds(40))
            // It blocks: still running well after a plain status would have answered.
            try await Task.sleep(for: .milliseconds(800))
            #expect(waiting.isRunning, "status --wait returned before anything happened")

            let openedAt = ContinuousClock.now
            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == "pick me up", "\(opened)")
            let status = await waiting.finish()
            #expect(status.status == 0, "\(status)")
            #expect(status.out.contains("state:      viewed"), "\(status)")
            #expect(status.out.contains("viewed at:"), "\(status)")
            #expect(
                ContinuousClock.now - openedAt < .seconds(10),
                "status --wait took \(ContinuousClock.now - openedAt) after the open")
        }
    }

    @Test(
        "status --wait --timeout 2 on an unopened secret times out with exit 7; --timeout alone waits too; --wait 2 says what to write instead"
    )
    func statusWaitTimesOut() async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            _ = try await server.send("nobody comes", ["--receipt-file", receiptFile])
            let status = try await CLI.run(
                ["status", "--wait", "--timeout", "2", "--receipt-file", receiptFile], environment: server.environment)
            #expect(status.status == 7, "\(status)")
            #expect(status.out.contains("state:      waiting"), "\(status)")
            #expect(status.err.hasPrefix("burnlink: error: timed out"), "\(status)")
            #expect(status.elapsed >= .seconds(1.5) && status.elapsed < .seconds(15), "\(status)")

            let alone = try await CLI.run(
                ["status", "--timeout", "1", "--receipt-file", receiptFile], environment: server.environment)
            #expect(alone.status == 7, "\(alone)")
            let receipt = try #require(String(data: try Data(contentsOf: URL(fileURLWithPath: receiptFile)), encoding: .utf8))
            let old = try await CLI.run(["status", "--wait", "2"], stdin: receipt, environment: server.environment)
            expectFailure(old, exit: 2, mentioning: ["--wait takes no value", "--timeout 2"])
        }
    }

    @Test("revoke with the receipt: exit 0, then open exits 3, status says revoked (3), revoke again exits 3")
    func revoke() async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            let link = try await server.send("revoke me", ["--receipt-file", receiptFile])
            let receipt = try #require(Files.contents(receiptFile).map { String(decoding: $0, as: UTF8.self) })

            // The receipt as an argument this time.
            let revoked = try await CLI.run(
                ["revoke", receipt.trimmingCharacters(in: .newlines)], environment: server.environment)
            #expect(revoked.status == 0, "\(revoked)")
            #expect(revoked.stdout.isEmpty)

            let opened = try await server.open(link)
            expectFailure(opened, exit: 3)

            let status = try await CLI.run(["status", "--receipt-file", receiptFile], environment: server.environment)
            #expect(status.status == 3, "\(status)")
            #expect(status.out.contains("state:      revoked"), "\(status)")

            let again = try await CLI.run(["revoke", "--receipt-file", receiptFile], environment: server.environment)
            expectFailure(again, exit: 3, mentioning: ["nothing to revoke"])
        }
    }

    @Test("a link is not a receipt, and a receipt is not a link (exit 2 both ways)")
    func receiptAndLinkAreDistinct() async throws {
        try await withServer { server in
            let receiptFile = server.directory.file("receipt")
            let link = try await server.send("distinct", ["--receipt-file", receiptFile])
            let receipt = try #require(Files.contents(receiptFile).map { String(decoding: $0, as: UTF8.self) })
            expectFailure(
                try await CLI.run(["status", link], environment: server.environment), exit: 2,
                mentioning: ["not a burnlink receipt"])
            expectFailure(try await CLI.run(["revoke"], stdin: link + "\n", environment: server.environment), exit: 2)
            expectFailure(try await server.open(receipt), exit: 2)
            let opened = try await server.open(link)
            #expect(opened.status == 0 && opened.out == "distinct", "\(opened)")
        }
    }

    @Test(
        "a --receipt-file that cannot be created is a usage error (exit 2) before anything is uploaded",
        .enabled(if: SQLite.path != nil, "sqlite3 is not installed"))
    func unwritableReceiptFile() async throws {
        try await withServer { server in
            for receiptFile in [server.directory.file("no/such/directory/receipt"), server.directory.path] {
                let sent = try await CLI.run(
                    ["send", "--receipt-file", receiptFile], stdin: "never sent", environment: server.environment)
                expectFailure(sent, exit: 2, mentioning: ["directory", "--receipt-file"])
            }
            #expect(try await SQLite.query(server.databasePath, "SELECT count(*) FROM secret") == "0")
        }
    }
}
