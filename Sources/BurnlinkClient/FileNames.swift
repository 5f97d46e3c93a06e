import BurnlinkCore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// File names from a sender are untrusted: make them safe to create in a directory, and
/// short enough that every name built from them (numbered, temporary) fits the
/// filesystem. A name that does not fit would fail only after the view is spent.
public enum FileNames {
    /// What `FileSink` adds to a name for its temporary file: `.NAME.burnlink-XXXXXXXX.part`.
    public static let temporaryOverhead = ".".utf8.count + FileSink.temporarySuffixLength

    /// The longest name, in bytes, that `directory` accepts (`NAME_MAX`; 255 if it cannot say).
    public static func maximumLength(in directory: String) -> Int {
        let limit = pathconf(directory, Int32(_PC_NAME_MAX))
        return limit > 0 ? limit : 255
    }

    /// The sender's name made safe, at most `maximumBytes` UTF-8 bytes, extension kept.
    public static func sanitised(_ name: String, maximumBytes: Int) -> String {
        var cleaned = String(
            name.unicodeScalars.filter { scalar in
                !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "/" || scalar == "\\")
            })
        while cleaned.hasPrefix(".") || cleaned.hasPrefix("-") { cleaned.removeFirst() }
        cleaned = cleaned.trimmingWhitespace()
        if cleaned.isEmpty { cleaned = "burnlink-secret" }
        return shortened(cleaned, maximumBytes: maximumBytes)
    }

    /// `stem (N).ext`, the stem cut so that the whole stays within `maximumBytes`.
    public static func numbered(_ name: String, _ number: Int, maximumBytes: Int) -> String {
        let (stem, dotExtension) = split(name)
        let mark = " (\(number))"
        return prefix(stem, maximumBytes: maximumBytes - mark.utf8.count - dotExtension.utf8.count) + mark + dotExtension
    }

    /// `name` itself if it fits, else its stem cut at a character boundary before the extension.
    static func shortened(_ name: String, maximumBytes: Int) -> String {
        guard name.utf8.count > maximumBytes else { return name }
        let (stem, dotExtension) = split(name)
        return prefix(stem, maximumBytes: maximumBytes - dotExtension.utf8.count) + dotExtension
    }

    /// The stem and the extension with its dot (`""` if none). An extension longer than
    /// `longestExtension` bytes is no extension worth keeping: it stays in the stem.
    static func split(_ name: String) -> (stem: String, dotExtension: String) {
        guard let component = FilePath.Component(name), let ext = component.extension, !ext.isEmpty,
            ext.utf8.count < longestExtension
        else {
            return (name, "")
        }
        return (component.stem, "." + ext)
    }

    static let longestExtension = 32

    /// The longest prefix of `text` within `maximumBytes`: whole characters (grapheme
    /// clusters) where that leaves something, whole scalars otherwise (a single cluster
    /// can be hundreds of bytes of combining marks). Never empty.
    static func prefix(_ text: String, maximumBytes: Int) -> String {
        var result = ""
        var count = 0
        for character in text {
            count += character.utf8.count
            guard count <= maximumBytes else { break }
            result.append(character)
        }
        if result.isEmpty {
            var scalars = String.UnicodeScalarView()
            count = 0
            for scalar in text.unicodeScalars {
                count += String(scalar).utf8.count
                guard count <= maximumBytes else { break }
                scalars.append(scalar)
            }
            result = String(scalars)
        }
        return result.isEmpty ? "burnlink-secret" : result
    }
}
