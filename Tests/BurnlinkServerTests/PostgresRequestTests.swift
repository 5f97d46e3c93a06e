import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import Testing

extension PostgresReplicaTests {
    @Test("burnlink request --wait held on one replica returns the answer filled through the other")
    func requestAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let a = try await LaunchedServer(arguments: ["--database", databaseURL])
        let b = try await LaunchedServer(arguments: ["--database", databaseURL])

        // --wait keeps the key in memory: nothing is written under the test runner's HOME.
        let waiting = try CLIProcess.start(["request", "--wait", "--server", a.baseURL, "--note", "across replicas"])
        var link: String?
        for _ in 0..<200 where link == nil {
            try await Task.sleep(for: .milliseconds(100))
            link = waiting.errorsSoFar.split(separator: "\n").first { $0.contains("/r/") }.map(String.init)
        }
        let requestLink = try #require(link, "no request link on stderr: \(waiting.errorsSoFar)")
        #expect(requestLink.hasPrefix(a.baseURL + "/r/"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(waiting.isRunning, "request --wait returns only once the answer comes")

        // The filler reaches the other replica: only the address in the link changes.
        let throughB = requestLink.replacingOccurrences(of: a.baseURL, with: b.baseURL)
        let filled = try await CLIProcess.run(["send", "-q", "--to", throughB], input: "the answer\n")
        #expect(filled.status == 0, "\(filled.err)")
        let started = ContinuousClock.now
        let result = await waiting.finish()
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == "the answer\n")
        #expect(started.duration(to: .now) < .seconds(3), "released by the fill's notification, not by the 5 s re-read")

        // A second fill, through either replica, is refused.
        let second = try await CLIProcess.run(["send", "-q", "--to", requestLink], input: "too late\n")
        #expect(second.status == 3, "\(second.err)")
        #expect(await a.stop() == 0)
        #expect(await b.stop() == 0)
        await TestPostgres.dropDatabase(databaseURL)
    }

    @Test("300 concurrent fills of one request spread over two replicas: exactly one 201, every other 409")
    func concurrentFillsAcrossReplicas() async throws {
        let databaseURL = try await TestPostgres.createDatabase()
        let replicas = [
            try await LaunchedServer(arguments: ["--database", databaseURL, "--max-concurrent-uploads", "off"]),
            try await LaunchedServer(arguments: ["--database", databaseURL, "--max-concurrent-uploads", "off"]),
        ]
        let requester = TestRequester()
        let created = try await sendRequest(
            client, .POST, replicas[0].baseURL + API.requestsPath,
            headers: requester.createHeaders.map { ($0.name.rawName, $0.value) })
        #expect(created.status == 201)
        let id = try APIJSON.decoder().decode(CreateRequestResponse.self, from: Data(created.body)).id
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for attempt in 0..<300 {
                let replica = replicas[attempt % 2]
                let headers = try requester.fillHeaders(TestSender()).map { ($0.name.rawName, $0.value) }
                group.addTask {
                    try await sendRequest(
                        client, .POST, replica.baseURL + API.fillPath(id), headers: headers, body: randomBytes(200)
                    ).status
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 201 }.count == 1, "\(Dictionary(grouping: statuses) { $0 }.mapValues(\.count))")
        #expect(statuses.filter { $0 == 409 }.count == 299)
        // Nothing of the 299 losers is kept.
        #expect(try await TestPostgres.psql(databaseURL, "SELECT count(*) FROM secret") == "1")
        for replica in replicas { #expect(await replica.stop() == 0) }
        await TestPostgres.dropDatabase(databaseURL)
    }
}
