/// Base-16 text of bytes: written in lower case; read in either case unless told otherwise.
enum Hex {
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var text = ""
        for byte in bytes {
            text.append(Self.digits[Int(byte >> 4)])
            text.append(Self.digits[Int(byte & 0x0F)])
        }
        return text
    }

    /// The `count` bytes `text` spells, or nil unless it is exactly that many pairs of hex
    /// digits (`upperCase`: A to F allowed too).
    static func decode(_ text: some StringProtocol, count: Int, upperCase: Bool = true) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count == 2 * count else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index], upperCase: upperCase),
                let low = value(digits[index + 1], upperCase: upperCase)
            else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static let digits = Array("0123456789abcdef")

    private static func value(_ digit: UInt8, upperCase: Bool) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F") where upperCase: digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
