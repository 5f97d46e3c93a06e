import BurnlinkCore
import FuzzSupport

/// Link parsing (docs/format.md section 1): any text a user may paste or pipe in.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLink(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: Fuzz.bytes(data, size), as: UTF8.self)
    guard let link = try? Link(parsing: text) else { return 0 }
    // The parser is strict, so an accepted link is already in its one canonical form.
    Fuzz.check(link.formatted == text, "an accepted link does not format back to itself")
    Fuzz.check(link.key.count == Link.keyByteCount && link.id.bytes.count == SecretID.byteCount,
               "an accepted link has a key or id of the wrong size")
    let again = try? Link(parsing: link.formatted)
    Fuzz.check(again?.id == link.id && again?.serverURL == link.serverURL, "a formatted link does not parse back")
    return 0
}

@main
struct Main {
    static func main() {
        Fuzz.main(fuzzLink)
    }
}
