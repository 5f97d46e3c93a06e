import Foundation
import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the peer address for rate limits.
public struct BurnlinkRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The client's connection: a long-poll ends when it closes.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Only for bodies Hummingbird collects itself; secret uploads are streamed and
    /// limited by the controller.
    public var maxUploadSize: Int { 64 * 1024 }

    /// JSON as docs/http-api.md writes it (APIJSON), with `application/json; charset=utf-8`.
    public var responseEncoder: JSONEncoder { APIEncoding.encoder }
}
