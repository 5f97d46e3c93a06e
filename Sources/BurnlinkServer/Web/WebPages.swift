import BurnlinkCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The browser pages: the reveal page `GET /s/{id}`, the request fill page `GET /r/{id}`,
/// the create page `GET /new`, and their assets under `GET /assets/{name}`.
///
/// Each page is the same bytes for every id. Serving it looks nothing up and changes
/// nothing, so link-preview bots that fetch a link burn nothing and learn nothing.
/// The pages encrypt and decrypt in the browser (Web/*.js); the server only answers the API.
public enum RevealPage {
    /// No inline script or style, no other origin, no framing, no forms, no plugins;
    /// `require-trusted-types-for` makes any HTML-string sink an error, so text from a
    /// secret can only ever reach the page as text.
    public static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'",
        "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ].joined(separator: "; ")

    static let assetsPath = "/assets/{name}"

    /// Registers the page routes. Assets that cannot be read do not stop the server (the
    /// API works without them): the page routes then answer 503 and the reason is logged once.
    public static func addRoutes(to router: Router<BurnlinkRequestContext>, configuration: ServerConfiguration) {
        let loaded: Result<WebAssets, WebAssetsError>
        do {
            loaded = .success(
                try WebAssets.load(directory: configuration.webDirectory, tweetnaclPath: configuration.tweetnaclPath))
        } catch {
            Logger(label: "burnlink-server").warning("the browser pages are unavailable", metadata: ["reason": "\(error)"])
            loaded = .failure(error)
        }

        for page in WebPage.allCases where page != .create || configuration.webCreate {
            router.get(RouterPath(page.path)) { _, _ -> Response in
                let assets = try available(loaded)
                guard let body = assets.pages[page] else { throw unavailable }
                return response(body, contentType: "text/html; charset=utf-8")
            }
        }
        router.get(RouterPath(assetsPath)) { _, context -> Response in
            let assets = try available(loaded)
            guard let name = context.parameters.get("name"), let asset = assets.assets[name] else { throw APIError.notFound }
            return response(asset.body, contentType: asset.contentType)
        }
    }

    private static let unavailable = APIError(
        .serviceUnavailable, .unavailable,
        "the browser page is not installed on this server; use the burnlink command-line tool (burnlink open, burnlink send)")

    private static func available(_ loaded: Result<WebAssets, WebAssetsError>) throws -> WebAssets {
        switch loaded {
        case .success(let assets): return assets
        case .failure: throw unavailable
        }
    }

    private static func response(_ body: ByteBuffer, contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[HTTPField.Name("Content-Security-Policy")!] = contentSecurityPolicy
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin"
        headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "same-origin"
        // Cache-Control: no-store and Referrer-Policy: no-referrer come from SecurityHeadersMiddleware.
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

/// The HTML pages the server serves, each from a template in the web directory.
public enum WebPage: String, CaseIterable, Sendable {
    /// Opens a secret link (`/s/<id>#<key>`); required: without it no page is served.
    case reveal
    /// Fills a request link (`/r/<id>#<public key>`).
    case fill
    /// Creates a secret; an operator can turn it off (`--web-create off`).
    case create

    public var template: String {
        switch self {
        case .reveal: "reveal.html"
        case .fill: "fill.html"
        case .create: "new.html"
        }
    }

    var path: String {
        switch self {
        case .reveal: "/s/{id}"
        case .fill: "/r/{id}"
        case .create: "/new"
        }
    }
}

public struct WebAssetsError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The page and its assets, read once and served from memory.
///
/// The Subresource Integrity values in the page are computed here, from the bytes that
/// are served, rather than written into the HTML by hand or by a build step: they can
/// never drift from the files (a Debian update of tweetnacl included), and a page whose
/// placeholders cannot all be filled is refused instead of served.
public struct WebAssets: Sendable {
    public struct Asset: Sendable {
        public let body: ByteBuffer
        public let contentType: String
        /// `sha256-<base64>`, for the `integrity` attribute.
        public let integrity: String
    }

    public let pages: [WebPage: ByteBuffer]
    public let assets: [String: Asset]

    /// The assets served from the web directory, by extension: every such file in it.
    static let contentTypes: [String: String] = [
        "js": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml",
    ]
    /// tweetnacl-js is served under this name from its installed path.
    static let tweetnaclName = "nacl-fast.min.js"

    /// Where the page is looked for when no directory is configured: beside an installed
    /// binary (`make install` puts it in <prefix>/share/burnlink/web), then the source tree
    /// this server was built from (`swift build`, `make run`, the tests).
    static func defaultDirectories() -> [String] {
        var candidates: [String] = []
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(
                executable.deletingLastPathComponent()
                    .appendingPathComponent("../share/burnlink/web").standardizedFileURL.path)
        }
        let sourceTree = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Web
            .deletingLastPathComponent()  // BurnlinkServer
            .deletingLastPathComponent()  // Sources
            .deletingLastPathComponent()  // repository root
            .appendingPathComponent("Web")
        candidates.append(sourceTree.path)
        return candidates
    }

    public static func load(directory: String?, tweetnaclPath: String) throws(WebAssetsError) -> WebAssets {
        let candidates = directory.map { [$0] } ?? defaultDirectories()
        guard let root = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/reveal.html") }) else {
            throw WebAssetsError(description: "reveal.html not found in \(candidates.joined(separator: " or "))")
        }

        var assets: [String: Asset] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for name in names.sorted() {
            let type = (name as NSString).pathExtension
            guard let contentType = contentTypes[type], name.first != "." else { continue }
            assets[name] = try asset(at: root + "/" + name, contentType: contentType)
        }
        assets[tweetnaclName] = try asset(
            at: tweetnaclPath, contentType: "text/javascript; charset=utf-8",
            hint: " (install Debian's node-tweetnacl)")

        var pages: [WebPage: ByteBuffer] = [:]
        for page in WebPage.allCases {
            let path = root + "/" + page.template
            guard page == .reveal || FileManager.default.fileExists(atPath: path) else { continue }
            pages[page] = ByteBuffer(string: try fill(template: path, named: page.template, with: assets))
        }
        return WebAssets(pages: pages, assets: assets)
    }

    /// The template with every `{{include FRAGMENT.html}}` replaced by that file of the web
    /// directory (the fields the create and fill pages share), then every
    /// `{{integrity NAME}}` by that asset's digest; a placeholder left unfilled refuses the page.
    private static func fill(template path: String, named name: String, with assets: [String: Asset])
        throws(WebAssetsError) -> String
    {
        var template = String(decoding: try read(path), as: UTF8.self)
        let directory = (path as NSString).deletingLastPathComponent
        while let open = template.range(of: "{{include ") {
            guard let close = template.range(of: "}}", range: open.upperBound..<template.endIndex) else { break }
            let fragment = String(template[open.upperBound..<close.lowerBound])
            guard fragment.hasSuffix(".html"), !fragment.contains("/"), !fragment.hasPrefix("."),
                !WebPage.allCases.map(\.template).contains(fragment)
            else {
                throw WebAssetsError(description: "\(name): cannot include '\(fragment)'")
            }
            // Indented as the placeholder is, without the fragment's leading comment.
            var text = String(decoding: try read(directory + "/" + fragment), as: UTF8.self)
            if text.hasPrefix("<!--"), let end = text.range(of: "-->\n") { text = String(text[end.upperBound...]) }
            if text.hasSuffix("\n") { text.removeLast() }
            template.replaceSubrange(
                open.lowerBound..<close.upperBound, with: text.trimmingCharacters(in: .whitespaces))
        }
        for (asset, value) in assets {
            template = template.replacingOccurrences(of: "{{integrity \(asset)}}", with: value.integrity)
        }
        if let open = template.range(of: "{{") {
            let placeholder = template[open.lowerBound...].prefix { $0 != "}" }
            throw WebAssetsError(description: "\(name): no asset for the placeholder \(placeholder)}}")
        }
        return template
    }

    private static func asset(at path: String, contentType: String, hint: String = "") throws(WebAssetsError) -> Asset {
        let bytes = try read(path, hint: hint)
        return Asset(
            body: ByteBuffer(bytes: bytes), contentType: contentType,
            integrity: "sha256-" + Data(BurnlinkCrypto.SHA256.hash(bytes)).base64EncodedString())
    }

    private static func read(_ path: String, hint: String = "") throws(WebAssetsError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WebAssetsError(description: "cannot read \(path)\(hint)")
        }
        return [UInt8](data)
    }
}
