import BurnlinkCore
import BurnlinkProtocol
import Foundation
import FuzzSupport

/// The server's readers of request header values (Sources/BurnlinkServer/RequestParsing.swift
/// calls them). The first byte picks the reader, the rest is the header value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHeaders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    guard let selector = bytes.first else { return 0 }
    // Header values reach the server as Swift strings; invalid UTF-8 arrives repaired.
    let value = String(decoding: bytes.dropFirst(), as: UTF8.self)
    switch selector % 4 {
    case 0:
        if let digest = API.HeaderValue.digest(value) {
            Fuzz.check(digest.count == 32, "a digest of the wrong size accepted")
            Fuzz.check(Base64URL.encode(digest) == value, "a non-canonical digest accepted")
        }
    case 1:
        // Burnlink-Max-Views and Burnlink-Expires-In with the default limits.
        for range in [API.maxViewsRange, 60...604_800, 0...Int(Int32.max)] {
            if let number = API.HeaderValue.decimal(value, in: range) {
                Fuzz.check(range.contains(number), "a number outside its range accepted")
                Fuzz.check(String(number) == value, "a non-canonical number accepted")
            }
        }
    case 2:
        if let token = API.HeaderValue.bearerToken(value) {
            Fuzz.check(token.count == 32, "a bearer token of the wrong size accepted")
            let utf8 = Array(value.utf8)
            Fuzz.check(String(decoding: utf8.prefix(7), as: UTF8.self).lowercased() == "bearer ",
                       "a token without the Bearer scheme accepted")
            Fuzz.check(Base64URL.encode(token) == String(decoding: utf8.dropFirst(7), as: UTF8.self),
                       "a non-canonical bearer token accepted")
        }
    default:
        if let address = API.HeaderValue.lastForwardedAddress(value) {
            Fuzz.check(!address.isEmpty && !address.contains(","), "a forwarded address with a comma")
            let edges = [address.unicodeScalars.first!, address.unicodeScalars.last!]
            Fuzz.check(!edges.contains(where: CharacterSet.whitespaces.contains),
                       "a forwarded address with surrounding white space")
        }
    }
    return 0
}

@main
struct Main {
    static func main() {
        Fuzz.main(fuzzHeaders)
    }
}
