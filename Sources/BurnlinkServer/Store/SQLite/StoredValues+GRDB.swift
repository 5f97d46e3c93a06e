import BurnlinkCore
import BurnlinkProtocol
import Foundation
import GRDB

// The shared store vocabulary (StoredState.swift) as GRDB values: text and integers.

extension StoredState: DatabaseValueConvertible {}

extension EpochMilliseconds: DatabaseValueConvertible {}

extension StoredStatus {
    /// From a row of `secret` with the columns `state`, `expires_at` and `views_left`.
    init(row: Row) {
        self.init(state: row["state"], expiresAt: row["expires_at"], viewsLeft: row["views_left"])
    }
}

extension StoredReceipt {
    /// From a row of `secret` with the columns `state`, `created_at`, `expires_at`, `ended_at`,
    /// `max_views` and `views_left`.
    init(row: Row) {
        self.init(
            state: row["state"], createdAt: row["created_at"], expiresAt: row["expires_at"],
            endedAt: row["ended_at"], maxViews: row["max_views"], viewsLeft: row["views_left"])
    }
}

extension ReceiptView {
    /// From a row of `secret_view` with the columns `viewed_at`, `delivery`,
    /// `session_deadline` and `confirmed_at`.
    init(row: Row, at now: EpochMilliseconds) {
        self.init(
            viewedAt: row["viewed_at"], delivery: row["delivery"], deadline: row["session_deadline"],
            confirmedAt: row["confirmed_at"], at: now)
    }
}
