import ArgumentParser
import BurnlinkProtocol
import BurnlinkServer
import Foundation
import Logging

/// The server's option values, each parsed by one rule whether it comes from a flag or
/// from its BURNLINK_* variable (`Fallback`).

/// Bytes, or a size such as 100MiB.
struct ByteCount: ExpressibleByArgument {
    let bytes: Int
    init?(argument: String) {
        guard let bytes = Quantity.bytes(argument) else { return nil }
        self.bytes = bytes
    }
    static let expected = "bytes or a size such as 100MiB"
}

/// Seconds, or a duration such as 7d or 500ms.
struct TimeSpan: ExpressibleByArgument {
    let duration: Duration
    init?(argument: String) {
        guard let duration = Quantity.duration(argument) else { return nil }
        self.duration = duration
    }
    var seconds: TimeInterval { Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 }
    static let expected = "seconds or a duration such as 30s, 10m, 7d or 500ms"
}

/// A whole number.
struct Count: ExpressibleByArgument {
    let value: Int
    init?(argument: String) {
        guard let value = API.HeaderValue.decimal(argument.trimmingCharacters(in: .whitespaces), in: 0...Int(Int32.max)) else {
            return nil
        }
        self.value = value
    }
    static let expected = "a whole number"
}

/// A limit that an operator may also switch off.
enum Limit<Value: ExpressibleByArgument>: ExpressibleByArgument {
    case off
    case on(Value)
    init?(argument: String) {
        if argument == "off" {
            self = .off
        } else if let value = Value(argument: argument) {
            self = .on(value)
        } else {
            return nil
        }
    }
    var value: Value? {
        if case .on(let value) = self { return value }
        return nil
    }
}

/// An origin that every link is built on (ServerConfiguration.validPublicURL).
struct PublicURL: ExpressibleByArgument {
    let url: String
    init?(argument: String) {
        guard let url = ServerConfiguration.validPublicURL(argument) else { return nil }
        self.url = url
    }
    static let expected = "an origin, https://host[:port], with nothing after it (no path, query, fragment or user name)"
}

/// 'N/min' for creates, or 'N/min,M/min' for creates and failed lookups.
struct RateLimit: ExpressibleByArgument {
    let configuration: RateLimitConfiguration
    init?(argument: String) {
        guard let configuration = RateLimitConfiguration(parsing: argument) else { return nil }
        self.configuration = configuration
    }
    static let expected = "'off', 'N/min' or 'N/min,M/min'"
}

/// A feature an operator turns on or off.
enum Switch: String, ExpressibleByArgument {
    case on, off
    static let expected = "'on' or 'off'"
}

/// A swift-log level by name.
struct LogLevel: ExpressibleByArgument {
    let level: Logger.Level
    init?(argument: String) {
        guard let level = Logger.Level(rawValue: argument) else { return nil }
        self.level = level
    }
    static let expected = "trace, debug, info, notice, warning, error or critical"
}

/// A path or URL, as given.
struct Verbatim: ExpressibleByArgument {
    let text: String
    init?(argument: String) { text = argument }
}

/// An option's value: its flag when given, else its environment variable, read by the same
/// parser; a variable that does not parse stops the start with a message naming it.
struct Fallback {
    let environment: [String: String]

    func callAsFunction<Value: ExpressibleByArgument>(_ flag: Value?, _ variables: String..., expected: String) throws -> Value? {
        if let flag { return flag }
        for variable in variables {
            guard let text = environment[variable] else { continue }
            guard let value = Value(argument: text) else {
                throw ValidationError("\(variable): '\(text)' is not valid; expected \(expected)")
            }
            return value
        }
        return nil
    }
}

/// How defaults read in --help: from `ServerConfiguration()`, never repeated by hand.
enum Defaults {
    static let configuration = ServerConfiguration()

    static func help(_ text: String, _ variable: String, default value: String? = nil, valueName: String? = nil) -> ArgumentHelp {
        ArgumentHelp(text + " [\(variable)]" + (value.map { " (default: \($0))" } ?? ""), valueName: valueName)
    }

    static func seconds(_ interval: TimeInterval) -> String { Quantity.text(.seconds(Int(interval))) }
}
