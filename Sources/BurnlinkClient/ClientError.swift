import BurnlinkCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Every way a client operation can fail, each with the exit code the CLI documents.
public enum ClientError: Error, Sendable, Equatable {
    /// The command line or an input is wrong (exit 2).
    case usage(String, hint: String? = nil)
    /// Read, expired, revoked, burned, never existed, or a wrong key: the server gives one
    /// answer for all of them (exit 3).
    case gone
    /// The request expired, never existed, or the request link is wrong (exit 3).
    case requestGone
    /// Someone answered the request first; a request takes one answer (exit 3).
    case alreadyAnswered
    /// The password was wrong; the secret is still there (exit 4).
    case wrongPassword(attemptsLeft: Int)
    /// Too many wrong passwords: the server destroyed the secret (exit 4).
    case passwordAttemptsExhausted
    /// The envelope failed to decrypt or verify, or arrived cut short (exit 5).
    case integrity(BurnlinkError)
    /// The server could not be reached, TLS failed, or it answered with an error (exit 6).
    case network(String, hint: String? = nil)
    /// No connection to the server could be made: refused, no route, no such host, the
    /// connect or the TLS handshake failed or timed out (exit 6). The request almost surely
    /// never reached the server, so `open` does not wait to resume a claim that failed so.
    case unreachable(String, hint: String? = nil)
    /// The server refused the request as invalid (exit 6): a limit, a bad header.
    case server(status: Int, code: String, message: String)
    /// `status --wait` ended without the state changing (exit 7).
    case waitTimedOut
    /// Waiting for a request's answer reached its limit; the request stays open (exit 7).
    case noAnswerYet(requestExpires: Date)
    /// Anything else (exit 1).
    case other(String, hint: String? = nil)
    /// `open` failed after its claim, but the claim session is still open: running the same
    /// command again before `until` resumes. The exit code is the failure's own.
    indirect case held(ClientError, until: Date)

    public var exitCode: Int32 {
        switch self {
        case .usage: 2
        case .gone, .requestGone, .alreadyAnswered: 3
        case .wrongPassword, .passwordAttemptsExhausted: 4
        case .integrity: 5
        case .network, .unreachable, .server: 6
        case .waitTimedOut, .noAnswerYet: 7
        case .other: 1
        case .held(let error, _): error.exitCode
        }
    }

    public var message: String {
        switch self {
        case .usage(let message, _): message
        case .gone: "this secret is gone: it was already opened, it expired or was revoked, or the link is wrong"
        case .requestGone: "this request is gone: it expired, or the request link is wrong"
        case .alreadyAnswered: "this request was already answered: a request takes one answer"
        case .wrongPassword(let left):
            "wrong password (\(left) attempt\(left == 1 ? "" : "s") left before the secret is destroyed)"
        case .passwordAttemptsExhausted: "wrong password, and that was the last attempt: the secret has been destroyed"
        case .integrity(let error): "\(error)"
        case .network(let message, _), .unreachable(let message, _): message
        case .server(let status, _, let message): "the server refused the request (\(status)): \(message)"
        case .waitTimedOut: "timed out waiting for the secret's state to change"
        case .noAnswerYet: "no answer yet: the request is still open"
        case .other(let message, _): message
        case .held(let error, _): error.message
        }
    }

    public var hint: String? {
        switch self {
        case .usage(_, let hint), .network(_, let hint), .unreachable(_, let hint), .other(_, let hint): hint
        case .gone: "a burnlink link works once; ask the sender for a new one"
        case .requestGone: "ask the requester for a new request link"
        case .alreadyAnswered:
            "if you did not answer it, someone else did: tell the requester through the channel they asked on"
        case .wrongPassword: "nothing was revealed; try again with the right password"
        case .passwordAttemptsExhausted: "ask the sender to send the secret again"
        case .integrity(.truncated): "the transfer was cut short; what was received cannot be trusted"
        case .integrity(.unsupportedVersion), .integrity(.unsupportedParameters):
            "the secret was made by a newer version of burnlink; update this one to read it"
        case .integrity(.notAnEnvelope): "the server answered with something that is not a burnlink secret"
        case .integrity(.invalidMetadata):
            "the secret's own description (kind, name or size) is not acceptable; nothing of it was kept"
        case .integrity(.passwordRequired), .integrity(.noPasswordExpected):
            "the server's word on the password does not match the secret itself; nothing was revealed"
        case .integrity: "the data was altered or the link is damaged; nothing unverified was kept"
        case .server(413, _, _): "send something smaller, or use a server whose operator set a higher --max-size"
        case .server(401, "creator_token_required", _):
            "this server lets only token holders create secrets: set BURNLINK_TOKEN, or 'token = ...' in the config file"
        case .server(507, _, _): "the server is full; retry later, or ask its operator"
        case .server: nil
        case .waitTimedOut: nil
        case .noAnswerYet(let expires):
            "the request can be answered until \(Self.dateAndTime(expires)); open its link again (on this machine) to wait more"
        case .held(let error, let until):
            switch error {
            case .other(_, let hint):
                // The output's own hint first (a file written in place that a crash may lose).
                (hint.map { $0 + "; " } ?? "")
                    + "the secret is held for you until \(Self.clock(until)); run the same command again, with another --output if this one cannot be written"
            default:
                "the secret is held for you until \(Self.clock(until)); run the same command again"
            }
        }
    }

    /// A date and time on this machine's clock, for moments that may be days away.
    public static func dateAndTime(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return clock(date) }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) " + clock(date)
    }

    /// A time of day on this machine's clock, for telling the user when a window ends.
    public static func clock(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil else { return "\(Int(date.timeIntervalSinceNow)) s from now" }
        let zone = parts.tm_zone.map { String(cString: $0) } ?? ""
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))" + (zone.isEmpty ? "" : " \(zone)")
    }
}
