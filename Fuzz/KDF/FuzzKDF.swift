import BurnlinkCore
import FuzzSupport

/// The `Burnlink-Password-KDF` text (docs/format.md section 2.1): the server parses it from
/// senders, and the client parses what a possibly hostile server returns.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKDF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
    guard let parameters = try? KDFParameters(encoded: text) else { return 0 }
    Fuzz.check(parameters.encoded == text, "accepted KDF parameters are not in canonical form")
    Fuzz.check(KDFParameters.opsRange.contains(parameters.ops), "ops outside the client's cap accepted")
    Fuzz.check(KDFParameters.memoryRange.contains(parameters.memory) && parameters.memory % 1024 == 0,
               "mem outside the client's cap accepted")
    Fuzz.check(parameters.salt.count == KDFParameters.saltByteCount, "salt of the wrong size accepted")
    return 0
}

@main
struct Main {
    static func main() {
        Fuzz.main(fuzzKDF)
    }
}
