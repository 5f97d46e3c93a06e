extension Duration {
    /// Whole nanoseconds, as swift-metrics' timers and NIO's `TimeAmount` take them.
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// "12.34": milliseconds with two decimals, for log lines, without `String(format:)`,
    /// which showed up in profiles of the server under load (docs/benchmarks.md, "Five more
    /// runs, and what did not help").
    var millisecondsText: String {
        let (seconds, attoseconds) = components
        let hundredths = seconds * 100_000 + (attoseconds + 5_000_000_000_000) / 10_000_000_000_000
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
