import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Headers every response carries, errors included: nothing is cached, nothing leaks
/// through the referrer, nothing is sniffed or indexed.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.cacheControl] = "no-store"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xRobotsTag] = "noindex, nofollow"
        return response
    }
}

/// Turns every error into the JSON error body of the API, so no framework text, stack
/// or input ever reaches a client.
struct ErrorResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            metrics.rejected(error.body.error)
            return error.response()
        } catch let error as StoreError {
            if case .unavailable(let detail) = error {
                context.logger.error("storage unavailable", metadata: ["error": "\(detail)"])
            }
            metrics.rejected(.unavailable)
            return APIError.unavailable.response()
        } catch let error as HTTPError {
            let apiError: APIError = switch error.status {
            case .notFound: .notFound
            case .methodNotAllowed: APIError(.methodNotAllowed, .methodNotAllowed, "method not allowed on this route")
            case .contentTooLarge: APIError(.contentTooLarge, .payloadTooLarge, "request body too large")
            case .badRequest: APIError(.badRequest, .badRequest, "malformed request")
            default: APIError(error.status, .internalError, error.status.reasonPhrase)
            }
            metrics.rejected(apiError.body.error)
            return apiError.response()
        } catch {
            // The type only: an error's text could carry request data.
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            metrics.rejected(.internalError)
            return APIError.internalError.response()
        }
    }
}

/// One log line and one latency sample per request: method, route pattern (never the
/// concrete path, which holds an id), status, duration. No header, id, token or body.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "NotFound"
        metrics.request(method: request.method.rawValue, route: route, status: response.status.code, duration: elapsed)
        context.logger.info("request", metadata: [
            "method": "\(request.method.rawValue)",
            "route": "\(route)",
            "status": "\(response.status.code)",
            "duration_ms": "\(Self.milliseconds(elapsed))",
        ])
        return response
    }

    /// "12.34": milliseconds with two decimals, without `String(format:)`, which cost about
    /// 2 % of the server's CPU under load (perf, 1 KiB creates).
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let hundredths = seconds * 100_000 + (attoseconds + 5_000_000_000_000) / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
