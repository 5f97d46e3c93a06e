#if canImport(Glibc)
import Glibc
#endif

/// The server's soft limit on open descriptors, raised to its hard limit at start.
///
/// Every connection holds a descriptor, and a large upload a second one: its chunk file,
/// open from its first chunk to its commit (`ChunkFiles`). The soft limit a service gets by
/// default (1,024 under systemd) would refuse connections, and fail uploads with EMFILE,
/// long before memory or the hard limit (524,288 under systemd) run short. The server
/// waits with epoll, never `select`, so descriptor numbers past 1,024 are safe; raising the
/// soft limit up to the hard one is what the hard limit exists to allow.
public enum DescriptorLimit {
    /// The most the soft limit is raised to when the hard limit is unlimited (the kernel's
    /// default `fs.nr_open`).
    static let ceiling: rlim_t = 1 << 20

    /// Raises the soft limit to the hard limit (at most `ceiling`); never lowers it. A
    /// limit that cannot be read or raised is left as it is.
    public static func raise() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        // RLIM_INFINITY is all ones; Swift cannot import the C macro's `-1` as unsigned.
        let unlimited = rlim_t.max
        let wanted = limit.rlim_max == unlimited ? max(limit.rlim_cur, ceiling) : limit.rlim_max
        guard wanted > limit.rlim_cur else { return }
        limit.rlim_cur = wanted
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
