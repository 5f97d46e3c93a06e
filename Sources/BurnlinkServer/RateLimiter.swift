import Foundation
import Synchronization

/// Token buckets keyed by client address: `capacity` tokens, refilled at `perSecond`.
/// Idle buckets are dropped so the table cannot grow without bound.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private let capacity: Double
    private let perSecond: Double
    private let buckets = Mutex<[String: Bucket]>([:])
    private let maximumClients = 100_000

    init(perMinute: Double) {
        capacity = max(1, perMinute)
        perSecond = perMinute / 60
    }

    /// Takes a token for `client`; returns nil when allowed, else the seconds to wait.
    func take(_ client: String, now: Date = Date()) -> Int? {
        buckets.withLock { buckets in
            var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = tokens(in: bucket, at: now)
            bucket.updated = now
            defer {
                buckets[client] = bucket
                if buckets.count > maximumClients { prune(&buckets, now: now) }
            }
            guard bucket.tokens >= 1 else { return secondsUntilOneToken(from: bucket.tokens) }
            bucket.tokens -= 1
            return nil
        }
    }

    /// Whether `client` has a token left, without taking it.
    func allows(_ client: String, now: Date = Date()) -> Int? {
        buckets.withLock { buckets in
            guard let bucket = buckets[client] else { return nil }
            let tokens = tokens(in: bucket, at: now)
            return tokens >= 1 ? nil : secondsUntilOneToken(from: tokens)
        }
    }

    /// The bucket's tokens after refilling since its last update, capped at capacity.
    private func tokens(in bucket: Bucket, at now: Date) -> Double {
        min(capacity, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * perSecond)
    }

    private func secondsUntilOneToken(from tokens: Double) -> Int {
        Int(((1 - tokens) / perSecond).rounded(.up))
    }

    /// Drops buckets that have refilled completely: they carry no information.
    private func prune(_ buckets: inout [String: Bucket], now: Date) {
        buckets = buckets.filter { _, bucket in tokens(in: bucket, at: now) < capacity }
    }
}
