import BurnlinkCore
import BurnlinkProtocol
import Foundation
import Logging
import NIOCore
import PostgresNIO

// The shared store vocabulary (StoredState.swift) as postgres-nio values, and rows read by
// column name rather than by position.

extension StoredState: PostgresDecodable {}

/// A `bigint`, bound and read without a throwing conversion.
extension EpochMilliseconds: PostgresNonThrowingEncodable, PostgresDecodable {
    static var psqlType: PostgresDataType { Int64.psqlType }
    static var psqlFormat: PostgresFormat { Int64.psqlFormat }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into byteBuffer: inout ByteBuffer,
        context: PostgresEncodingContext<JSONEncoder>
    ) {
        rawValue.encode(into: &byteBuffer, context: context)
    }

    init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        self.init(rawValue: try Int64(from: &buffer, type: type, format: format, context: context))
    }
}

extension PostgresRandomAccessRow {
    /// The value of `column`, found by name.
    func value<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try self[column].decode(T.self)
    }
}

extension PostgresConnection {
    /// Every row of `query`, each read by column name.
    func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// The first row of `query`, read by column name; nil when there is none.
    func firstRow(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRandomAccessRow? {
        try await rows(query, logger: logger).first
    }
}

extension StoredStatus {
    /// From a row of `secret` with the columns `state`, `expires_at` and `views_left`.
    init(row: PostgresRandomAccessRow) throws {
        self.init(state: try row.value("state"), expiresAt: try row.value("expires_at"), viewsLeft: try row.value("views_left"))
    }
}

extension StoredReceipt {
    /// From a row of `secret` with the columns `state`, `created_at`, `expires_at`, `ended_at`,
    /// `max_views` and `views_left`.
    init(row: PostgresRandomAccessRow) throws {
        self.init(
            state: try row.value("state"), createdAt: try row.value("created_at"),
            expiresAt: try row.value("expires_at"), endedAt: try row.value("ended_at"),
            maxViews: try row.value("max_views"), viewsLeft: try row.value("views_left"))
    }
}

extension ReceiptView {
    /// From a row of `secret_view` with the columns `viewed_at`, `delivery`,
    /// `session_deadline` and `confirmed_at`.
    init(row: PostgresRandomAccessRow, at now: EpochMilliseconds) throws {
        self.init(
            viewedAt: try row.value("viewed_at"), delivery: try row.value("delivery"),
            deadline: try row.value("session_deadline"), confirmedAt: try row.value("confirmed_at"), at: now)
    }
}
