import Foundation

/// Where the server reads the time. Expiry is decided against it, so tests can move time
/// forward instead of sleeping.
public protocol ServerClock: Sendable {
    func now() -> Date
}

public struct SystemServerClock: ServerClock {
    public init() {}
    public func now() -> Date { Date() }
}
