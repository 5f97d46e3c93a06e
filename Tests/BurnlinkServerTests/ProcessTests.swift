import AsyncHTTPClient
import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@Suite("burnlink-server process", .serialized)
struct ProcessTests {
    func send(
        _ client: HTTPClient, _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) async throws -> (status: Int, body: [UInt8]) {
        try await sendRequest(client, method, url, headers: headers, body: body)
    }

    func createHeaders(_ sender: TestSender) -> [(String, String)] {
        sender.createHeaderList()
    }

    @Test("a secret survives a restart of the server process; a burn stays burned")
    func restartBetweenCreateAndClaim() async throws {
        let database = temporaryDatabasePath()
        let client = HTTPClient.shared
        let sender = TestSender()
        let secret = randomBytes(5000)
        let burned = TestSender()

        let first = try await LaunchedServer(arguments: ["--database", database])
        let created = try await send(client, .POST, first.baseURL + API.secretsPath, headers: createHeaders(sender), body: secret)
        #expect(created.status == 201)
        let id = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id
        let other = try await send(
            client, .POST, first.baseURL + API.secretsPath, headers: createHeaders(burned), body: [1, 2, 3])
        let otherID = try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(other.body)).id
        let claimedBefore = try await send(
            client, .POST, first.baseURL + API.claimPath(otherID),
            headers: [("Authorization", "Bearer \(burned.claimToken.base64URL)")])
        #expect(claimedBefore.status == 200)
        #expect(await first.stop() == 0, "graceful shutdown on SIGTERM exits 0")

        let second = try await LaunchedServer(arguments: ["--database", database])
        let claimed = try await send(
            client, .POST, second.baseURL + API.claimPath(id),
            headers: [("Authorization", "Bearer \(sender.claimToken.base64URL)")])
        #expect(claimed.status == 200)
        #expect(claimed.body == secret)
        let again = try await send(
            client, .POST, second.baseURL + API.claimPath(otherID),
            headers: [("Authorization", "Bearer \(burned.claimToken.base64URL)")])
        #expect(again.status == 404)
        #expect(await second.stop() == 0)
    }

    @Test("a confirmed create survives SIGKILL")
    func createSurvivesKill() async throws {
        let database = temporaryDatabasePath()
        let client = HTTPClient.shared
        let senders = (0..<20).map { _ in TestSender() }

        let first = try await LaunchedServer(arguments: ["--database", database])
        var ids: [String] = []
        for sender in senders {
            let created = try await send(
                client, .POST, first.baseURL + API.secretsPath, headers: createHeaders(sender), body: [7, 7, 7])
            #expect(created.status == 201)
            ids.append(try APIJSON.decoder().decode(CreateSecretResponse.self, from: Data(created.body)).id)
        }
        await first.kill()

        let second = try await LaunchedServer(arguments: ["--database", database])
        for (sender, id) in zip(senders, ids) {
            let claimed = try await send(
                client, .POST, second.baseURL + API.claimPath(id),
                headers: [("Authorization", "Bearer \(sender.claimToken.base64URL)")])
            #expect(claimed.status == 200)
            #expect(claimed.body == [7, 7, 7])
        }
        #expect(await second.stop() == 0)
    }

    @Test("bad flags are refused with a clear message")
    func badFlags() async throws {
        for arguments in [
            ["--max-size", "lots"], ["--rate-limit", "fast"], ["--database", "postgres://db/x"], ["--port", "70000"],
        ] {
            let finished = try await ChildProcess.run(Binaries.server.path, arguments)
            let output = finished.out + finished.err
            #expect(finished.status != 0, "\(arguments)")
            #expect(output.contains("Error"), "\(arguments): \(output)")
        }
    }
}
