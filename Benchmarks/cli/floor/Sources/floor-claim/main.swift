import FloorRequests

#if canImport(Glibc)
import Glibc
#endif

// floor-claim SECRET_URL TOKEN [confirm]
let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    _ = "usage: floor-claim SECRET_URL TOKEN [confirm]\n".withCString { write(STDERR_FILENO, $0, strlen($0)) }
    _exit(2)
}
_exit(await claim(with: makeClient(), secretURL: arguments[1], token: arguments[2], confirm: arguments.count > 3))
