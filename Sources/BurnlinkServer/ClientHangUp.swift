import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes

/// Work that only matters while the client is there: a long-poll whose client went away
/// stops waiting for it (and gives its ticket back) instead of sleeping out its time.
///
/// Hummingbird keeps a connection open after the client closes its side (half-closure is
/// allowed), so the channel's close comes too late; `HangUpWatcher`, one per connection in
/// the pipeline, sees the end of the client's input as it arrives.
enum ClientHangUp {
    /// Runs `operation`, cancelling it if the client on `channel` hangs up first. A cancelled
    /// long-poll ends at once with the value as it stands (which nobody then reads).
    static func cancelling<T: Sendable>(
        on channel: any Channel, _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let watcher = try? await channel.pipeline.handler(type: HangUpWatcher.self).get()
        guard let watcher else { return try await operation() }
        return try await withThrowingTaskGroup(of: Outcome<T>.self) { group in
            group.addTask { .finished(try await operation()) }
            group.addTask {
                await watcher.waitForHangUp()
                return .hungUp
            }
            while let outcome = try await group.next() {
                group.cancelAll()
                if case .finished(let value) = outcome { return value }
            }
            preconditionFailure("the operation's child task always finishes")
        }
    }

    private enum Outcome<T: Sendable>: Sendable {
        case finished(T)
        case hungUp
    }
}

/// Notices, for one connection, that the client will send nothing more: its input ended
/// (a close, or a half-close) or the connection went down.
final class HangUpWatcher: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPRequestPart

    private struct State {
        var hungUp = false
        var waiters: [ObjectIdentifier: Resumption] = [:]
    }
    private let state = NIOLockedValueBox(State())

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { hangUp() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        hangUp()
        context.fireChannelInactive()
    }

    private func hangUp() {
        let waiters = state.withLockedValue { state in
            state.hungUp = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the client has hung up, or as soon as the task is cancelled.
    func waitForHangUp() async {
        let resumption = Resumption()
        let key = ObjectIdentifier(resumption)
        let already = state.withLockedValue { state in
            if !state.hungUp { state.waiters[key] = resumption }
            return state.hungUp
        }
        if already { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { resumption.wait($0) }
        } onCancel: {
            resumption.resume()
        }
        _ = state.withLockedValue { $0.waiters.removeValue(forKey: key) }
    }
}

/// A continuation resumed exactly once, by whichever comes first; a resume that comes
/// before the continuation exists is kept for it.
private final class Resumption: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Void, Never>)
        case resumed
    }
    private let state = NIOLockedValueBox(State.idle)

    func wait(_ continuation: CheckedContinuation<Void, Never>) {
        let resumeNow = state.withLockedValue { state -> Bool in
            guard case .idle = state else { return true }
            state = .waiting(continuation)
            return false
        }
        if resumeNow { continuation.resume() }
    }

    func resume() {
        let waiting = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            defer { state = .resumed }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiting?.resume()
    }
}
