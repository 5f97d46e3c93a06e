import BurnlinkCore
import BurnlinkProtocol
import BurnlinkTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import BurnlinkServer

/// The browser reveal page routes, without a browser (Tests/browser drives a real one).
@Suite("reveal page")
struct RevealPageTests {
    static let csp = HTTPField.Name("Content-Security-Policy")!

    @Test("GET /s/{id} is one page for every id, looks nothing up and uses no view")
    func pageIsStatic() async throws {
        let server = try TestServer()
        let sender = TestSender()
        try await server.application().test(.router) { client in
            let id = try await client.createSecret(randomBytes(100), sender: sender)
            var pages: Set<String> = []
            for path in ["/s/\(id)", "/s/AAAAAAAAAAAAAAAAAAAAAA", "/s/anything"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                    #expect(response.headers[Self.csp] == RevealPage.contentSecurityPolicy)
                    #expect(response.headers[.cacheControl] == "no-store")
                    #expect(response.headers[.referrerPolicy] == "no-referrer")
                    pages.insert(String(buffer: response.body))
                }
            }
            #expect(pages.count == 1)
            let page = try #require(pages.first)
            #expect(!page.contains("{{"), "every integrity placeholder is filled")
            #expect(page.components(separatedBy: "integrity=\"sha256-").count - 1 == 5)

            try await client.execute(uri: API.secretPath(id), method: .get, headers: sender.claimHeaders) { response in
                #expect(response.status == .ok)
                let metadata = try APIJSON.decoder().decode(SecretMetadataResponse.self, from: Data(buffer: response.body))
                #expect(metadata.viewsLeft == 1)
            }
        }
    }

    @Test("each integrity value in the page is the SHA-256 of the asset as served")
    func integrityMatchesServedBytes() async throws {
        let server = try TestServer()
        try await server.application().test(.router) { client in
            let page = try await client.execute(uri: "/s/x", method: .get) { String(buffer: $0.body) }
            let regex = /(?:src|href)="(\/assets\/[^"]+)" integrity="(sha256-[^"]+)"/
            let references = page.matches(of: regex).map { (String($0.output.1), String($0.output.2)) }
            #expect(
                Set(references.map(\.0)) == [
                    "/assets/reveal.css", "/assets/nacl-fast.min.js", "/assets/argon2id.js",
                    "/assets/burnlink-common.js", "/assets/reveal.js",
                ])
            for (path, integrity) in references {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[Self.csp] == RevealPage.contentSecurityPolicy)
                    let digest = Data(BurnlinkCrypto.SHA256.hash(Array(buffer: response.body))).base64EncodedString()
                    #expect(integrity == "sha256-" + digest, "\(path)")
                }
            }
            try await client.execute(uri: "/assets/reveal.html", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/assets/..%2F..%2FPackage.swift", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("without tweetnacl the page answers 503 and the API still works")
    func missingAssetIsUnavailable() async throws {
        let server = try TestServer { $0.tweetnaclPath = "/nonexistent/nacl-fast.min.js" }
        let sender = TestSender()
        try await server.application().test(.router) { client in
            try await client.execute(uri: "/s/x", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("burnlink open"))
            }
            let id = try await client.createSecret(randomBytes(10), sender: sender)
            try await client.execute(uri: API.claimPath(id), method: .post, headers: sender.claimHeaders) {
                #expect($0.status == .ok)
            }
        }
    }

    @Test("the create and fill pages carry the form fields they share; a fragment is never served on its own")
    func sharedFormFields() async throws {
        let server = try TestServer()
        try await server.application().test(.router) { client in
            for path in ["/new", "/r/anything"] {
                let page = try await client.execute(uri: path, method: .get) { String(buffer: $0.body) }
                #expect(!page.contains("{{"), "\(path): every placeholder is filled")
                for field in ["id=\"secret-text\"", "id=\"secret-file\"", "id=\"expires\"", "id=\"views\"", "id=\"password\""] {
                    #expect(page.components(separatedBy: field).count == 2, "\(path) has \(field) once")
                }
            }
            try await client.execute(uri: "/assets/compose-form.html", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("a page template that includes anything but a fragment of its own directory is refused")
    func includesAreConfined() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for include in ["../Package.swift", "reveal.html", "missing.html"] {
            try Data("<p>{{include \(include)}}</p>".utf8).write(to: directory.appendingPathComponent("reveal.html"))
            #expect(throws: WebAssetsError.self, "\(include)") {
                try WebAssets.load(directory: directory.path, tweetnaclPath: "/usr/share/nodejs/tweetnacl/nacl-fast.min.js")
            }
        }
    }

    @Test("a page template with a placeholder no asset fills is refused")
    func unknownPlaceholderIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("burnlink-web-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["reveal.js", "argon2id.js", "reveal.css", "icon.svg"] {
            try Data("x".utf8).write(to: directory.appendingPathComponent(name))
        }
        try Data(#"<script src="/assets/extra.js" integrity="{{integrity extra.js}}"></script>"#.utf8)
            .write(to: directory.appendingPathComponent("reveal.html"))
        #expect(throws: WebAssetsError.self) {
            try WebAssets.load(directory: directory.path, tweetnaclPath: "/usr/share/nodejs/tweetnacl/nacl-fast.min.js")
        }
    }
}
