import BurnlinkProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Headers every response carries, errors included: nothing is cached, nothing leaks
/// through the referrer, nothing is sniffed or indexed.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        var response = try await next(request, context)
        response.headers[.cacheControl] = "no-store"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xRobotsTag] = "noindex, nofollow"
        return response
    }
}

/// Turns every error into the JSON error body of the API (APIError, an HTTPResponseError),
/// so no framework text, stack or input ever reaches a client.
struct ErrorResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics
    let allowedMethods: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // No route for this method and path: 405 when another method has one.
            let apiError = allowedMethods.allowed(forPath: request.uri.path).map(allowedMethods.error(allowing:)) ?? .notFound
            metrics.rejected(apiError.body.error)
            return try apiError.response(from: request, context: context)
        } catch {
            let apiError = Self.apiError(for: error, logger: context.logger)
            metrics.rejected(apiError.body.error)
            return try apiError.response(from: request, context: context)
        }
    }

    static func apiError(for error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as StoreError:
            switch error {
            case .unavailable(let detail), .storageFull(let detail):
                // A full disk under a create is 507 (SecretsController.receiveBody); anywhere
                // else the storage failed, as for any other storage error.
                logger.error("storage unavailable", metadata: ["error": "\(detail)"])
            default:
                break
            }
            return .unavailable
        case let error as HTTPError:
            return switch error.status {
            case .notFound: .notFound
            case .methodNotAllowed: APIError(.methodNotAllowed, .methodNotAllowed, "method not allowed on this route")
            case .contentTooLarge: APIError(.contentTooLarge, .payloadTooLarge, "request body too large")
            case .badRequest: APIError(.badRequest, .badRequest, "malformed request")
            default: APIError(error.status, .internalError, error.status.reasonPhrase)
            }
        default:
            // The type only: an error's text could carry request data.
            logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            return .internalError
        }
    }
}

/// One log line and one latency sample per request: method, route pattern (never the
/// concrete path, which holds an id), status, duration. No header, id, token or body.
/// For a streamed envelope the clock stops once its body is written, so a claim of a large
/// secret counts the whole transfer; a body cut off by the client is logged as such.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
    {
        let start = ContinuousClock.now
        var response = try await next(request, context)
        let route = context.endpointPath ?? "NotFound"
        let status = response.status.code
        let logger = context.logger
        let metrics = self.metrics
        let method = request.method.rawValue
        @Sendable func record(complete: Bool) {
            let elapsed = ContinuousClock.now - start
            metrics.request(method: method, route: route, status: status, duration: elapsed)
            var metadata: Logger.Metadata = [
                "method": "\(method)", "route": "\(route)", "status": "\(status)",
                "duration_ms": .string(elapsed.millisecondsText),
            ]
            if !complete { metadata["body"] = "cut" }
            logger.info("request", metadata: metadata)
        }
        // Only envelopes (claim, /envelope) stream. Every other body is one buffer that
        // Hummingbird writes together with the head; wrapping it would split that write.
        guard response.headers[.contentType] == "application/octet-stream" else {
            record(complete: true)
            return response
        }
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            do {
                try await body.write(writer)
                record(complete: true)
            } catch {
                record(complete: false)
                throw error
            }
        }
        return response
    }
}
