/// The version of burnlink, for both programs (`--version`) and the server's start-up log.
/// This is the one place it is written: CHANGELOG.md's newest entry must name it (a test
/// checks), and packaging reads it from the built binaries.
public enum BurnlinkVersion {
    public static let current = "0.2.0"
}
