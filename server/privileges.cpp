#include "server/privileges.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include "base/unique_fd.hpp"
#include "server/listeners.hpp"

namespace pfd::server {

namespace {

std::string who(const config& cfg) {
    std::string s = "user \"" + cfg.user + "\" (uid " + std::to_string(cfg.worker_uid) + ", gid " +
                    std::to_string(cfg.worker_gid);
    if (!cfg.group.empty()) {
        s += " of group \"" + cfg.group + "\"";
    }
    return s + ")";
}

std::string failed(const char* call, int code) { return std::string{call} + ": " + std::strerror(code); }

}  // namespace

// Asked of the kernel rather than inferred from uid 0: a root master in a container
// without CAP_SETUID cannot drop either, and a non-root one given the capabilities
// (systemd's AmbientCapabilities=) can.
bool has_capability(unsigned cap) noexcept {
    __user_cap_header_struct header{};
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
    if (cap >= 32 * data.size() || ::syscall(SYS_capget, &header, data.data()) != 0) {
        return ::geteuid() == 0;
    }
    return (data[cap / 32].effective & (1U << (cap % 32))) != 0;
}

bool needs_drop(const config& cfg) noexcept {
    return cfg.drop_privileges && (cfg.worker_uid != ::geteuid() || cfg.worker_gid != ::getegid());
}

namespace {

// Forks a child that drops as a worker would, and returns what it reports: what the
// capabilities do not show (a user namespace that denies setgroups or does not map the
// uid, a security module) is then an error at start, not a worker that exits in a loop.
tl::expected<void, std::string> try_drop_in_child(const config& cfg) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return tl::unexpected("cannot check the drop to " + who(cfg) + ": " + failed("pipe2", errno));
    }
    unique_fd in{fds[0]};
    unique_fd out{fds[1]};
    const pid_t pid = ::fork();
    if (pid < 0) {
        return tl::unexpected("cannot check the drop to " + who(cfg) + ": " + failed("fork", errno));
    }
    if (pid == 0) {
        in.reset();
        auto dropped = drop_privileges(cfg);
        const std::string report = dropped ? std::string{} : dropped.error();
        [[maybe_unused]] const ssize_t n = ::write(out.get(), report.data(), report.size());
        ::_exit(0);
    }
    out.reset();
    std::string report;
    char buf[512];
    for (;;) {
        const ssize_t n = ::read(in.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        report.append(buf, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!report.empty()) {
        return tl::unexpected(std::move(report));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return tl::unexpected("cannot check the drop to " + who(cfg) + ": its trial process failed");
    }
    return {};
}

}  // namespace

tl::expected<void, std::string> prepare_workers(const config& cfg) noexcept {
    try {
        if (needs_drop(cfg) && !(has_capability(CAP_SETUID) && has_capability(CAP_SETGID))) {
            const bool other_user = cfg.worker_uid != ::geteuid();
            const std::string key = other_user ? "server.user = \"" + cfg.user + "\""
                                               : "server.group = \"" + cfg.group + "\"";
            std::string why = key + " needs the master to run as root (it runs as uid " +
                              std::to_string(::geteuid());
            if (!other_user) {
                why += ", gid " + std::to_string(::getegid());
            }
            why += ::geteuid() == 0 ? ", without CAP_SETUID and CAP_SETGID)" : ")";
            return tl::unexpected(std::move(why));
        }
        if (needs_drop(cfg)) {
            if (auto tried = try_drop_in_child(cfg); !tried) {
                return tl::unexpected(std::move(tried.error()));
            }
        }
        if (auto limit = apply_fd_limit(cfg.rlimit_nofile); !limit) {
            return tl::unexpected(std::move(limit.error()));
        }
        return {};
    } catch (...) {
        return tl::unexpected(std::string{"out of memory"});
    }
}

tl::expected<void, std::string> drop_privileges(const config& cfg) noexcept {
    try {
        if (!cfg.drop_privileges) {
            return {};
        }
        const uid_t uid = cfg.worker_uid;
        const gid_t gid = cfg.worker_gid;
        if (needs_drop(cfg)) {
            const auto fail_with = [&cfg](const char* call, int code) {
                return tl::unexpected("cannot drop privileges to " + who(cfg) + ": " + failed(call, code));
            };
            // Groups first, then the gid, then the uid: each step needs the privilege the
            // next one gives up. Cleared, not initgroups(): the user's other groups would
            // hand the workers access the configuration never named.
            if (::setgroups(0, nullptr) != 0) {
                return fail_with("setgroups", errno);
            }
            if (::setresgid(gid, gid, gid) != 0) {
                return fail_with("setresgid", errno);
            }
            if (::setresuid(uid, uid, uid) != 0) {
                return fail_with("setresuid", errno);
            }
            // Trust, but verify: a drop that half worked (a saved uid still 0) could be undone
            // by any code running in the worker, a module included.
            uid_t ru = 0;
            uid_t eu = 0;
            uid_t su = 0;
            gid_t rg = 0;
            gid_t eg = 0;
            gid_t sg = 0;
            if (::getresuid(&ru, &eu, &su) != 0 || ::getresgid(&rg, &eg, &sg) != 0) {
                return fail_with("getresuid", errno);
            }
            if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
                return tl::unexpected("cannot drop privileges to " + who(cfg) + ": ids still uid " + std::to_string(ru) +
                                      "/" + std::to_string(eu) + "/" + std::to_string(su) + ", gid " +
                                      std::to_string(rg) + "/" + std::to_string(eg) + "/" + std::to_string(sg));
            }
            if (::getgroups(0, nullptr) != 0) {
                return tl::unexpected("cannot drop privileges to " + who(cfg) + ": supplementary groups remain");
            }
            if (uid != 0 && ::setuid(0) == 0) {
                return tl::unexpected("cannot drop privileges to " + who(cfg) + ": setuid(0) still succeeds");
            }
            // A change of credentials makes the kernel forget the parent-death signal
            // (commit_creds): set it again, so the worker still dies with its master.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            // Not dumpable: the worker's memory was copied from a root master, and other
            // processes of this user ("nobody" is shared by many daemons) must not ptrace it
            // or read its /proc/PID/mem. The kernel would leave it as fs.suid_dumpable says;
            // this does not depend on that sysctl. (LeakSanitizer makes itself dumpable for
            // its own check.)
            if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
                return tl::unexpected(failed("prctl(PR_SET_DUMPABLE)", errno));
            }
        }
        // Nothing the worker executes gains privileges (setuid binaries, file capabilities).
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
            return tl::unexpected(failed("prctl(PR_SET_NO_NEW_PRIVS)", errno));
        }
        return {};
    } catch (...) {
        return tl::unexpected(std::string{"out of memory"});
    }
}

}  // namespace pfd::server
