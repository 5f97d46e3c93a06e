import BurnlinkCore
import BurnlinkProtocol
import Foundation
import NIOCore

// The vocabulary both stores share: how a secret's row is kept (its state, its times),
// the rule that says whether it can be read, and the constants both stores work with.
// Each store adds the conversions of its database library (SQLite/StoredValues+GRDB.swift,
// Postgres/StoredValues+PostgresNIO.swift).

/// The `state` column of a secret's row, as both stores keep it (text).
enum StoredState: String, Sendable, CaseIterable {
    /// Chunks are arriving; not readable, no receipt yet.
    case uploading
    /// Readable while it is not expired and has a view left (`StoredStatus.isReadable`).
    case active
    /// Its last view was claimed.
    case exhausted
    /// The sender revoked it.
    case revoked
    /// The last wrong password destroyed it.
    case burned
    /// A sweep found it past its expiry.
    case expired

    /// States a secret does not leave: its ciphertext goes once no reader holds it, and its
    /// row stays as a receipt (tombstone) until the retention ends.
    static let ended: Set<StoredState> = [.exhausted, .revoked, .burned, .expired]

    var isEnded: Bool { Self.ended.contains(self) }

    /// The state as an SQL string literal. Statements name states in their text, not as
    /// bound values, so that the planner can use the partial indexes whose predicates
    /// name them (`secret_active_expiry`, `secret_lingering`, ...).
    var sql: String { "'\(rawValue)'" }

    /// `('exhausted', 'revoked', 'burned', 'expired')`, for `state IN ...`.
    static let endedSQL = "(" + allCases.filter(\.isEnded).map(\.sql).joined(separator: ", ") + ")"
}

/// The columns of a secret's row that decide whether it can be read (claimed, its
/// metadata shown, revoked).
struct StoredStatus: Sendable {
    var state: StoredState
    var expiresAt: EpochMilliseconds
    var viewsLeft: Int

    /// The rule, in Swift: active, not yet expired, a view left. Expiry holds at read time,
    /// whether or not a sweep has run.
    func isReadable(at now: EpochMilliseconds) -> Bool {
        state == .active && now < expiresAt && viewsLeft > 0
    }

    /// The same rule in SQL, over the `secret` row in scope, judged at `now`: a placeholder
    /// (`?`) or nothing, for a store that binds the instant right after this text.
    static func readableSQL(now: String = "") -> String {
        "state = \(StoredState.active.sql) AND views_left > 0 AND expires_at > \(now)"
    }
}

/// An instant as both stores keep it: whole milliseconds since 1970, so that both share one
/// notion of time and no time zone setting can change a comparison.
struct EpochMilliseconds: RawRepresentable, Hashable, Comparable, Sendable {
    var rawValue: Int64

    init(rawValue: Int64) { self.rawValue = rawValue }

    /// Rounded, so any date on a millisecond round-trips exactly.
    init(_ date: Date) {
        rawValue = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    var date: Date { Date(timeIntervalSince1970: Double(rawValue) / 1000) }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The instant `interval` earlier (a cut-off: now minus a retention or a lease). An
    /// infinite or huge interval goes far into the past without overflowing.
    static func - (lhs: Self, interval: TimeInterval) -> Self {
        let milliseconds: Int64
        if !interval.isFinite {
            milliseconds = interval > 0 ? Int64.max / 2 : 0
        } else {
            milliseconds = Int64(max(0, min(interval * 1000, Double(Int64.max / 2))).rounded())
        }
        return Self(rawValue: lhs.rawValue - milliseconds)
    }
}

/// Token checks against the verifiers stored in a row.
enum StoredVerifier {
    /// Compared against when a row or a verifier is missing, so that a missing id costs
    /// what a wrong token does.
    static let absent = [UInt8](repeating: 0, count: 32)

    /// Whether `given` is the stored verifier, compared in constant time; nil (no row, or no
    /// verifier in it) costs one comparison too and never matches.
    static func matches(_ stored: Data?, _ given: [UInt8]) -> Bool {
        guard let stored else {
            _ = ConstantTime.equal(absent, given)
            return false
        }
        return ConstantTime.equal(stored, given)
    }
}

extension StoreLimits {
    /// Rows handled per step of a sweep, so that a sweep never holds the writer (SQLite) or
    /// many row locks (PostgreSQL) for long.
    static let sweepBatch = 256

    /// Cuts a whole ciphertext into chunk rows: one unless it exceeds `chunkSize`.
    static func chunks(of buffer: ByteBuffer) -> [ByteBuffer] {
        guard buffer.readableBytes > chunkSize else { return [buffer] }
        var rest = buffer
        var chunks: [ByteBuffer] = []
        while rest.readableBytes > 0, let slice = rest.readSlice(length: min(chunkSize, rest.readableBytes)) {
            chunks.append(slice)
        }
        return chunks
    }
}

/// A secret's row as its receipt reads it.
struct StoredReceipt: Sendable {
    var state: StoredState
    var createdAt: EpochMilliseconds
    var expiresAt: EpochMilliseconds
    var endedAt: EpochMilliseconds?
    var maxViews: Int
    var viewsLeft: Int

    /// Whether there is a receipt at all: an upload has none until the secret exists.
    var exists: Bool { state != .uploading }

    /// The receipt with these views, as it reads at `now`. An active secret past its expiry
    /// reads as expired at once, whether or not a sweep has run.
    func receipt(views: [ReceiptView], at now: EpochMilliseconds) -> Receipt {
        var endedAt = endedAt
        let shown: ReceiptState
        switch state {
        case .uploading, .active:  // (an upload has no receipt: callers check `exists` first)
            if now >= expiresAt {
                (shown, endedAt) = (.expired, expiresAt)
            } else {
                shown = viewsLeft < maxViews ? .viewed : .waiting
            }
        case .exhausted: shown = .viewed
        case .expired: shown = .expired
        case .revoked: shown = .revoked
        case .burned: shown = .burned
        }
        return Receipt(
            state: shown, createdAt: createdAt.date, expiresAt: expiresAt.date, maxViews: maxViews,
            viewsLeft: viewsLeft, views: views, endedAt: endedAt?.date)
    }
}

extension ReceiptView {
    /// A stored view as it reads at `now`: a pending session past its deadline reads as
    /// unconfirmed at once, whether or not a sweep has run. Unknown delivery text (never
    /// written) reads as sent.
    init(
        viewedAt: EpochMilliseconds, delivery text: String, deadline: EpochMilliseconds?,
        confirmedAt: EpochMilliseconds?, at now: EpochMilliseconds
    ) {
        var delivery = Delivery(rawValue: text) ?? .sent
        if delivery == .pending, let deadline, now >= deadline { delivery = .unconfirmed }
        self.init(viewedAt: viewedAt.date, delivery: delivery, confirmedAt: confirmedAt?.date)
    }
}

extension Delivery {
    /// The delivery as an SQL string literal (see `StoredState.sql`).
    var sql: String { "'\(rawValue)'" }
}

/// A claim session as both stores keep it: its view's number, its delivery as stored, and
/// its deadline.
struct StoredClaimSession: Sendable {
    var number: Int
    var delivery: Delivery
    var deadline: EpochMilliseconds

    var isOpen: Bool { delivery == .pending }

    /// Unknown delivery text (never written) reads as sent, like `Delivery.from`.
    init(number: Int, delivery: String, deadline: EpochMilliseconds) {
        self.number = number
        self.delivery = Delivery(rawValue: delivery) ?? .sent
        self.deadline = deadline
    }
}

extension StoreLimits {
    /// Repeats `step`, which handles at most `sweepBatch` rows, until a step handles fewer;
    /// returns the sum of what the steps counted.
    static func inSweepBatches(_ step: () async throws -> (rows: Int, counted: Int)) async throws -> Int {
        var total = 0
        while true {
            let (rows, counted) = try await step()
            total += counted
            if rows < sweepBatch { return total }
        }
    }
}
