import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Random test data in one read of /dev/urandom. Tests run on the few cooperative threads
/// they share with in-process servers: generating megabytes a word at a time (a system
/// call per eight bytes) held those threads for seconds, and every timeout beside it fired.
public func randomBytes(_ count: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { fillRandom($0) }
    return bytes
}

public func randomData(count: Int) -> Data {
    var data = Data(count: count)
    data.withUnsafeMutableBytes { fillRandom($0) }
    return data
}

private func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
    precondition(descriptor >= 0, "cannot open /dev/urandom: \(String(cString: strerror(errno)))")
    defer { close(descriptor) }
    var offset = 0
    while offset < buffer.count {
        let count = read(descriptor, base + offset, buffer.count - offset)
        if count < 0 && errno == EINTR { continue }
        precondition(count > 0, "reading /dev/urandom failed: \(String(cString: strerror(errno)))")
        offset += count
    }
}
