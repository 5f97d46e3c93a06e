/// How long the checkpointer waits after a commit before it checkpoints.
///
/// A checkpoint writes every page changed since the last one into the database file and
/// then syncs that file. The commits' syncs go to the same disk, so a commit that syncs
/// meanwhile waits behind the whole checkpoint. Under a light load the changed pages are
/// few and a checkpoint is short, whatever the wait. At a million secrets, each claim and
/// each create changes pages all over the file; 50 ms of them took up to 60 ms to write and
/// sync, and the commits behind those checkpoints made the tail (creates p99 23 to 64 ms,
/// under 9 ms with this pacing; docs/benchmarks.md, "checkpoints kept short").
///
/// So the wait follows how long the checkpoints take: after one slower than `slow`, it
/// halves (to `shortest` at least), which makes the next checkpoint smaller; after one
/// under half of `slow`, it grows by a quarter, back to `longest`.
struct CheckpointPacing: Sendable {
    let longest: Duration
    let shortest: Duration
    let slow: Duration
    private(set) var wait: Duration

    init(longest: Duration, shortest: Duration = .milliseconds(2), slow: Duration = .milliseconds(2)) {
        precondition(shortest > .zero && shortest <= longest && slow > .zero)
        self.longest = longest
        self.shortest = shortest
        self.slow = slow
        wait = longest
    }

    /// Adjusts the wait to a checkpoint that took `took`.
    mutating func checkpointTook(_ took: Duration) {
        if took > slow {
            wait = max(shortest, wait / 2)
        } else if took * 2 < slow {
            wait = min(longest, wait * 5 / 4)
        }
    }
}
