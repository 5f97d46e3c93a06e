import Foundation
import Synchronization

/// Token buckets keyed by client: `capacity` tokens, refilled at `perSecond`.
///
/// The table is bounded: at `maximumClients` entries, buckets that have refilled (they
/// carry no information) are dropped, at most once per `pruneInterval` so that a flood of
/// new clients cannot make every request rescan the table. While it is still full, new
/// clients share one overflow bucket: a flood of addresses is limited as one client, and
/// the clients already known keep their own buckets.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: Date
    }

    private struct Table {
        var buckets: [ClientKey: Bucket] = [:]
        var overflow: Bucket?
        var lastPrune = Date.distantPast
        var prunes = 0
    }

    private let capacity: Double
    private let perSecond: Double
    private let clock: any ServerClock
    private let table = Mutex(Table())
    let maximumClients: Int
    static let pruneInterval: TimeInterval = 1

    init(perMinute: Double, clock: any ServerClock, maximumClients: Int = 100_000) {
        capacity = max(1, perMinute)
        perSecond = perMinute / 60
        self.clock = clock
        self.maximumClients = maximumClients
    }

    /// Takes a token for `client`; returns nil when allowed, else the seconds to wait.
    func take(_ client: ClientKey) -> Int? {
        let now = clock.now()
        return table.withLock { table in
            let known = table.buckets[client] != nil
            if !known && table.buckets.count >= maximumClients { prune(&table, now: now) }
            let sharesOverflow = !known && table.buckets.count >= maximumClients
            var bucket = (sharesOverflow ? table.overflow : table.buckets[client]) ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = tokens(in: bucket, at: now)
            bucket.updated = now
            let wait: Int?
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                wait = nil
            } else {
                wait = secondsUntilOneToken(from: bucket.tokens)
            }
            if sharesOverflow { table.overflow = bucket } else { table.buckets[client] = bucket }
            return wait
        }
    }

    /// Whether `client` has a token left, without taking it.
    func allows(_ client: ClientKey) -> Int? {
        let now = clock.now()
        return table.withLock { table in
            guard let bucket = table.buckets[client] ?? (table.buckets.count >= maximumClients ? table.overflow : nil) else {
                return nil
            }
            let tokens = tokens(in: bucket, at: now)
            return tokens >= 1 ? nil : secondsUntilOneToken(from: tokens)
        }
    }

    /// Entries in the table, and how often it was pruned (for tests).
    var clientCount: Int { table.withLock { $0.buckets.count } }
    var pruneCount: Int { table.withLock { $0.prunes } }

    /// The bucket's tokens after refilling since its last update, capped at capacity.
    private func tokens(in bucket: Bucket, at now: Date) -> Double {
        min(capacity, bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * perSecond)
    }

    private func secondsUntilOneToken(from tokens: Double) -> Int {
        Int(((1 - tokens) / perSecond).rounded(.up))
    }

    /// Drops buckets that have refilled completely, at most once per `pruneInterval`.
    private func prune(_ table: inout Table, now: Date) {
        guard now.timeIntervalSince(table.lastPrune) >= Self.pruneInterval || now < table.lastPrune else { return }
        table.lastPrune = now
        table.prunes += 1
        table.buckets = table.buckets.filter { _, bucket in tokens(in: bucket, at: now) < capacity }
    }
}
