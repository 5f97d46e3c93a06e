/// The one grammar for the sizes and durations people type, in the CLI's flags and config
/// file and in the server's flags and environment: ASCII digits (no sign, no fraction),
/// then at most one unit, with white space allowed around the whole. Each parser answers
/// nil for anything else, including values that overflow.
public enum Quantity {
    /// Bytes, with an optional unit: B, KiB, MiB, GiB (binary) or KB, MB, GB (decimal).
    public static func bytes(_ text: some StringProtocol) -> Int? {
        scaled(
            text,
            units: [
                ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
                ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1),
            ])
    }

    /// Whole seconds, with an optional unit: s, m, h, d, w (seconds without one).
    public static func seconds(_ text: some StringProtocol) -> Int? {
        scaled(text, units: secondUnits)
    }

    /// A duration: like `seconds`, or milliseconds with the unit ms.
    public static func duration(_ text: some StringProtocol) -> Duration? {
        if let milliseconds = scaled(text, units: [("ms", 1)]), text.trimmingWhitespace().hasSuffix("ms") {
            return .milliseconds(milliseconds)
        }
        return seconds(text).map { .seconds($0) }
    }

    /// `bytes` in the largest binary unit that divides it: 104857600 as "100MiB".
    public static func text(bytes: Int) -> String {
        for (unit, factor) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= factor && bytes % factor == 0
        {
            return "\(bytes / factor)\(unit)"
        }
        return "\(bytes)B"
    }

    /// `duration` in the largest unit up to days that divides it: 120 seconds as "2m", 0.5 s
    /// as "500ms".
    public static func text(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0 else { return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000)ms" }
        for (unit, factor) in secondUnits.dropLast().reversed() where seconds >= factor && seconds % Int64(factor) == 0 {
            return "\(seconds / Int64(factor))\(unit)"
        }
        return "\(seconds)s"
    }

    private static let secondUnits = [("s", 1), ("m", 60), ("h", 3600), ("d", 86_400), ("w", 604_800)]

    private static func scaled(_ text: some StringProtocol, units: [(String, Int)]) -> Int? {
        let trimmed = text.trimmingWhitespace()
        var digits = Substring(trimmed)
        var factor = 1
        if let (suffix, value) = units.first(where: { trimmed.hasSuffix($0.0) }) {
            digits = digits.dropLast(suffix.count)
            factor = value
        }
        // At most 18 digits, so the number itself always fits an Int.
        guard (1...18).contains(digits.utf8.count), digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let number = Int(digits)
        else { return nil }
        let (product, overflow) = number.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }
}
