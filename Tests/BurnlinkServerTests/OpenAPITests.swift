import Foundation
import Hummingbird
import Testing

@testable import BurnlinkServer

/// docs/openapi.yaml must list exactly the routes the router registers: every registered
/// path and method is documented, and nothing is documented that the server does not serve.
@Suite("OpenAPI document")
struct OpenAPITests {
    /// The repository's docs/openapi.yaml, found from this file's location.
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // BurnlinkServerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root
        .appendingPathComponent("docs/openapi.yaml")

    static let httpMethods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// One "METHOD path" string per operation, e.g. "post /api/v1/secrets/{id}/claim".
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method.uppercased()) \(path)" }
    }

    /// The operations under `paths:`, read by indentation alone: a path is a key at two
    /// spaces, a method a key at four spaces under it. Enough for this file's plain layout,
    /// and no YAML dependency.
    static func documentedOperations(in text: String) -> [Operation] {
        var operations: [Operation] = []
        var inPaths = false
        var currentPath: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let indent = line.prefix { $0 == " " }.count
            if indent == 0 {
                inPaths = trimmed == "paths:"
                currentPath = nil
                continue
            }
            guard inPaths, trimmed.hasSuffix(":") else { continue }
            let key = unquoted(String(trimmed.dropLast()))
            if indent == 2 {
                currentPath = key
            } else if indent == 4, let path = currentPath, httpMethods.contains(key) {
                operations.append(Operation(method: key, path: path))
            }
        }
        return operations
    }

    private static func unquoted(_ key: String) -> String {
        for quote in ["\"", "'"] where key.count >= 2 && key.hasPrefix(quote) && key.hasSuffix(quote) {
            return String(key.dropFirst().dropLast())
        }
        return key
    }

    static func registeredOperations() throws -> [Operation] {
        let store = try SQLiteStore(path: temporaryDatabasePath())
        let router = buildRouter(configuration: ServerConfiguration(), store: store)
        return router.routes.map { Operation(method: $0.method.rawValue.lowercased(), path: $0.path.description) }
    }

    @Test("every route the router registers is in docs/openapi.yaml, and nothing else")
    func routesMatchDocument() throws {
        let text = try String(contentsOf: Self.documentURL, encoding: .utf8)
        let documented = Self.documentedOperations(in: text)
        let registered = try Self.registeredOperations()

        // An empty parse or an empty router must not pass by default.
        #expect(registered.count >= 7, "router routes: \(registered)")
        #expect(documented.count >= 7, "operations parsed from openapi.yaml: \(documented)")
        #expect(Set(documented).count == documented.count, "an operation is listed twice: \(documented)")

        let documentedSet = Set(documented)
        let registeredSet = Set(registered)
        for operation in registered {
            #expect(documentedSet.contains(operation), "\(operation) is served but not in docs/openapi.yaml")
        }
        for operation in documented {
            #expect(registeredSet.contains(operation), "\(operation) is in docs/openapi.yaml but not served")
        }
    }

    @Test("the indentation parser reads paths and methods and skips path-level parameters")
    func parserReadsLayout() {
        let text = """
            openapi: 3.1.0
            paths:
              /a:
                get:
                  responses: {}
              "/b/{id}":
                parameters:
                  - name: id
                post:
                  summary: x
                delete:
                  summary: y
            components:
              schemas:
                get:
                  type: string
            """
        let operations = Self.documentedOperations(in: text)
        #expect(
            operations == [
                Operation(method: "get", path: "/a"),
                Operation(method: "post", path: "/b/{id}"),
                Operation(method: "delete", path: "/b/{id}"),
            ])
    }
}
