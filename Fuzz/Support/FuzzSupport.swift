#if BURNLINK_FUZZING
import CFuzzDriver
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared by the fuzz targets. Built with `-D BURNLINK_FUZZING` and `-sanitize=fuzzer,address`
/// (`make fuzz`), a target is a libFuzzer binary. Built plainly (`swift build`), the same
/// target is a replayer that runs the files named on its command line through its
/// `LLVMFuzzerTestOneInput`, so crash files and seed corpora stay runnable without the
/// sanitizer toolchain.
public enum Fuzz {
    public typealias Target = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32

    /// A fuzz target's main: libFuzzer's driver in fuzzing builds, else the replayer.
    public static func main(_ target: Target) -> Never {
        #if BURNLINK_FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, target))
        #else
        replay(target)
        #endif
    }

    /// A broken property: crash, so libFuzzer records the input. Works in release builds too.
    public static func check(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String,
                             file: StaticString = #fileID, line: UInt = #line) {
        if !condition() {
            fatalError("fuzz property failed: \(what())", file: file, line: line)
        }
    }

    /// The input as a byte array (libFuzzer may pass a null pointer for an empty input).
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// Every file named on the command line (or every file in a named directory) once
    /// through `target`; prints how many ran. Exits 2 when one cannot be read.
    private static func replay(_ target: Target) -> Never {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            let files = directoryEntries(path)?.map { path + "/" + $0 } ?? [path]
            for file in files {
                guard let input = readFile(file) else {
                    print("cannot read \(file)")
                    exit(2)
                }
                _ = input.withUnsafeBufferPointer { target($0.baseAddress, $0.count) }
                count += 1
            }
        }
        print("replayed \(count) input(s)")
        exit(0)
    }

    private static func directoryEntries(_ path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let read = fread(&buffer, 1, buffer.count, file)
            if read == 0 { break }
            bytes.append(contentsOf: buffer.prefix(read))
        }
        return ferror(file) == 0 ? bytes : nil
    }
}
