import BurnlinkProtocol
import HTTPTypes
import Hummingbird
import Synchronization

/// A request whose path has the shape of a route but whose method that route does not take
/// gets 405 with `Allow` (RFC 9110 15.5.6), not the 404 of an unknown path. Decided by the
/// path's shape alone, never by whether an id exists, and before any handler runs, so it
/// tells nothing about a secret and uses up no failure budget.
///
/// The table is read from the router once its routes are in (`load`); ErrorResponseMiddleware
/// consults it when the router finds no route for a request.
final class AllowedMethods: Sendable {
    private struct Route {
        let segments: [Substring]
        let methods: [HTTPRequest.Method]
    }

    private let routes = Mutex<[Route]>([])

    func load<Context>(_ descriptions: [Router<Context>.RouteDescription]) {
        var methods: [String: [HTTPRequest.Method]] = [:]
        for route in descriptions { methods[route.path.description, default: []].append(route.method) }
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .delete, .patch]
        let table = methods.map { path, methods in
            Route(segments: Self.segments(path), methods: order.filter(methods.contains) + methods.filter { !order.contains($0) })
        }
        routes.withLock { $0 = table }
    }

    /// The methods a route of this path's shape takes; nil when no route has its shape.
    func allowed(forPath path: String) -> [HTTPRequest.Method]? {
        let segments = Self.segments(path)
        return routes.withLock { routes in
            routes.first { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { pattern, segment in
                        pattern.hasPrefix("{") && pattern.hasSuffix("}") ? !segment.isEmpty : pattern == segment
                    }
            }?.methods
        }
    }

    func error(allowing methods: [HTTPRequest.Method]) -> APIError {
        let allow = methods.map(\.rawValue).joined(separator: ", ")
        return APIError(.methodNotAllowed, .methodNotAllowed, "this route takes \(allow) only", headers: [.allow: allow])
    }

    private static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }
}
