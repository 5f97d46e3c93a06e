#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps glibc from reading the time zone again for every log line.
///
/// The log handler stamps each line with the local time through `strftime`, which calls
/// `tzset`. With `TZ` unset, glibc then checks `/etc/localtime` again each time: one `stat`
/// per line, so one per request (docs/benchmarks.md, "Issue 18: the PostgreSQL pool's
/// timers, and the time zone"). Naming that same file in `TZ` gives the same times, and
/// glibc keeps what it read while `TZ` is unchanged. A time zone changed on the host is
/// seen at the next start.
public enum LocalTimeZone {
    static let systemZone = ":/etc/localtime"

    /// The `TZ` to set, given the current one: none when the operator chose theirs.
    static func zoneToSet(current: String?) -> String? {
        current == nil ? systemZone : nil
    }

    /// Sets `TZ` to the system's zone file unless it is set. Call before anything logs or
    /// starts threads (`setenv` is not safe beside concurrent `getenv`).
    public static func keepLoaded() {
        guard let zone = zoneToSet(current: getenv("TZ").map { String(cString: $0) }) else { return }
        setenv("TZ", zone, 0)
    }
}
