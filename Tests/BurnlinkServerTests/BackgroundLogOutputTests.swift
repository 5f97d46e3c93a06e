import Foundation
import Synchronization
import Testing

@testable import BurnlinkServer

#if canImport(Glibc)
import Glibc
#endif

/// The log output on a real pipe, read by a thread of the test's own (or, to stall the
/// sink, not read yet).
@Suite("log lines written from a thread of their own")
struct BackgroundLogOutputTests {
    @Test("lines from many writers arrive whole, each writer's in order, none lost")
    func wholeAndOrdered() async throws {
        let pipe = try LogPipe()
        let output = BackgroundLogOutput(descriptor: pipe.writeEnd, limit: 8 << 10)
        let reading = pipe.readAll()
        let writers = (0..<8).map { writer in
            OnThread {
                for line in 0..<2_000 {
                    output.write("writer=\(writer) line=\(line) \(String(repeating: "x", count: line % 97))\n")
                }
                return true
            }
        }
        for writer in writers { _ = try await writer.value() }
        output.flush()
        pipe.closeWriteEnd()
        let lines = String(decoding: try await reading.value() ?? [], as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 8 * 2_000)
        var next = [Int](repeating: 0, count: 8)
        for text in lines {
            let fields = text.split(separator: " ")
            let writer = try #require(fields.first.flatMap { Int($0.dropFirst("writer=".count)) }, "garbled: \(text)")
            let line = try #require(fields.dropFirst().first.flatMap { Int($0.dropFirst("line=".count)) }, "garbled: \(text)")
            try #require((0..<8).contains(writer), "garbled: \(text)")
            #expect(line == next[writer], "writer \(writer) out of order")
            #expect(fields.count == (line % 97 == 0 ? 2 : 3))
            #expect(fields.count == 2 || fields[2].count == line % 97)
            next[writer] = line + 1
        }
        #expect(next == [Int](repeating: 2_000, count: 8))
    }

    @Test("a stalled sink does not hold up a writer until its limit is reached")
    func stalledSinkAbsorbed() async throws {
        let pipe = try LogPipe()
        let output = BackgroundLogOutput(descriptor: pipe.writeEnd, limit: 1 << 20)
        // Four times what the pipe holds, with nobody reading: a direct write would block.
        let writes = Self.write256KiB(to: output)
        #expect(try await writes.value() == true)
        let reading = pipe.readAll()
        output.flush()
        pipe.closeWriteEnd()
        #expect(try await reading.value()?.count == 256 * 1024)
    }

    @Test("past its limit a writer waits for the sink; nothing is dropped")
    func fullWaitsInsteadOfDropping() async throws {
        let pipe = try LogPipe()
        let output = BackgroundLogOutput(descriptor: pipe.writeEnd, limit: 4 << 10)
        // More than the pipe and the limit together hold: cannot finish while nobody reads.
        let writes = Self.write256KiB(to: output)
        try await Task.sleep(for: .milliseconds(300))
        #expect(!writes.isFinished)
        let reading = pipe.readAll()
        #expect(try await writes.value() == true)
        output.flush()
        pipe.closeWriteEnd()
        #expect(try await reading.value()?.count == 256 * 1024)
    }

    /// 256 lines of 1 KiB each, written on a thread of their own; true once all returned.
    static func write256KiB(to output: BackgroundLogOutput) -> OnThread<Bool> {
        let line = String(repeating: "y", count: 1023) + "\n"
        return OnThread {
            for _ in 0..<256 { output.write(line) }
            return true
        }
    }
}

/// A pipe whose read end a thread of its own reads to the end, on request.
private final class LogPipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        (readEnd, writeEnd) = (ends[0], ends[1])
    }

    /// Everything until the write end is closed (then closes the read end).
    func readAll() -> OnThread<[UInt8]> {
        let readEnd = self.readEnd
        return OnThread {
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = buffer.withUnsafeMutableBytes { Glibc.read(readEnd, $0.baseAddress, $0.count) }
                if count > 0 {
                    all += buffer[0..<count]
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(readEnd)
            return all
        }
    }

    func closeWriteEnd() { close(writeEnd) }
}

/// Work that blocks (reads and writes of a pipe), run on a thread of its own rather than
/// on one of the few threads that run the tests' tasks.
final class OnThread<Value: Sendable>: Sendable {
    private let result = Mutex<Value?>(nil)

    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [self] in
            let value = body()
            result.withLock { $0 = value }
        }.start()
    }

    var isFinished: Bool { result.withLock { $0 != nil } }

    /// The value, once the work has returned; nil (and a recorded issue) after `seconds`.
    func value(within seconds: Int = 20) async throws -> Value? {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let value = result.withLock({ $0 }) { return value }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("not done in \(seconds) s")
        return nil
    }
}
