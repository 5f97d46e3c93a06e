import NIOCore
import NIOEmbedded
import NIOHTTP1

/// The Swift runtime looks up a generic type's metadata and a type's conformances the
/// first time a process uses them, each lookup a walk over every conformance record in
/// the binary. AsyncHTTPClient does many of those for its first connection, after the
/// connect and before the request can go: it adds NIO's HTTP/1 encoder and decoder to the
/// channel, and wraps the request's parts for the pipeline. Doing the same once on a
/// channel of its own, in the background start-up, takes them off that path
/// (docs/benchmarks.md, "Issue 18: the subcommand parsed as the root").
enum ConnectionWarmUp {
    static func run() {
        let channel = EmbeddedChannel()
        let pipeline = channel.pipeline.syncOperations
        // The handlers and settings of AsyncHTTPClient's HTTP1Connection.start.
        try? pipeline.addHandler(HTTPRequestEncoder())
        try? pipeline.addHandler(
            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .forward)))
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        head.headers.add(name: "Content-Length", value: "0")
        try? channel.writeOutbound(HTTPClientRequestPart.head(head))
        try? channel.writeOutbound(HTTPClientRequestPart.end(nil))
        _ = try? channel.finish()
    }
}
