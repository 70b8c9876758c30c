#include "server/pid_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "base/error_text.hpp"
#include "base/small_file.hpp"
#include "server/runtime_dir.hpp"

namespace pfd::server {

namespace {

// Up to `limit` bytes of a /proc file (they are not seekable files with a size).
tl::expected<std::string, int> read_proc(const std::string& path, std::size_t limit) {
    auto text = read_small_file(path, limit);
    if (!text) {
        return tl::unexpected(text.error().code);
    }
    return std::move(*text);
}

// The real and effective uid from /proc/<pid>/status ("Uid:\treal\teffective\tsaved\tfs").
tl::expected<std::pair<uid_t, uid_t>, int> process_uids(int pid) {
    auto text = read_proc("/proc/" + std::to_string(pid) + "/status", 4096);
    if (!text) {
        return tl::unexpected(text.error());
    }
    const auto at = text->find("\nUid:");
    if (at == std::string::npos) {
        return tl::unexpected(EINVAL);
    }
    unsigned long real = 0;
    unsigned long effective = 0;
    if (std::sscanf(text->c_str() + at + 5, "%lu %lu", &real, &effective) != 2) {
        return tl::unexpected(EINVAL);
    }
    return std::pair{static_cast<uid_t>(real), static_cast<uid_t>(effective)};
}

// What ps would show, for messages: NULs as spaces, at most 80 characters.
std::string printable_cmdline(std::string raw) {
    for (char& c : raw) {
        if (c == '\0') {
            c = ' ';
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            c = '?';
        }
    }
    while (!raw.empty() && raw.back() == ' ') {
        raw.pop_back();
    }
    if (raw.size() > 80) {
        raw.resize(77);
        raw += "...";
    }
    return raw;
}

bool same_file(const char* a, const char* b) {
    struct stat sa {};
    struct stat sb {};
    return ::stat(a, &sa) == 0 && ::stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string stale_message(int pid, const std::string& pid_path) {
    return "not running (pid " + std::to_string(pid) + " from " + pid_path + " is gone; a stale pid file)";
}

}  // namespace

tl::expected<pid_file, std::string> pid_file::write(const std::string& path) {
    const auto parts = split_path(path);
    if (parts.name.empty() || parts.name == "." || parts.name == "..") {
        return tl::unexpected(path + " does not name a file");
    }
    auto dir = open_runtime_dir(parts.dir, current_runtime_user());
    if (!dir) {
        return tl::unexpected("not writing " + path + ": " + dir.error());
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    if (auto ok = replace_file(dir->get(), parts.name, text, 0644, path); !ok) {
        return tl::unexpected(ok.error());
    }
    return pid_file{path};
}

bool pid_file::move_to(const std::string& path) noexcept {
    if (::rename(path_.c_str(), path.c_str()) < 0) {
        return false;
    }
    path_ = path;
    return true;
}

pid_file::~pid_file() {
    if (!path_.empty()) {
        ::unlink(path_.c_str());
    }
}

tl::expected<uid_t, std::string> check_master_process(int pid, uid_t caller, uid_t file_owner,
                                                      const std::string& pid_path) {
    const std::string proc = "/proc/" + std::to_string(pid);
    const std::string named = "pid " + std::to_string(pid) + " (named in " + pid_path + ")";
    auto uids = process_uids(pid);
    if (!uids) {
        if (uids.error() == ENOENT || uids.error() == ESRCH) {
            return tl::unexpected(stale_message(pid, pid_path));
        }
        return tl::unexpected("cannot inspect " + proc + ": " + std::strerror(uids.error()));
    }
    const auto [real, effective] = *uids;
    if (caller != 0 && (real != caller || effective != caller)) {
        return tl::unexpected(named + " is run by " + uid_text(effective) + ", not by you (" + uid_text(caller) +
                              "); not touching it");
    }
    auto raw = read_proc(proc + "/cmdline", 256);
    if (!raw) {
        return tl::unexpected(raw.error() == ENOENT || raw.error() == ESRCH
                                  ? stale_message(pid, pid_path)
                                  : "cannot inspect " + proc + ": " + std::strerror(raw.error()));
    }
    const std::string_view title{*raw};
    bool master = title.starts_with("preforkd: master process");
    if (!master && !title.starts_with("preforkd: worker process")) {
        // A master sets its title once its sockets are bound, after writing the pid file;
        // in between it is recognised by its executable (also readable only for our own
        // processes or as root, which the check above ensured).
        master = same_file((proc + "/exe").c_str(), "/proc/self/exe");
    }
    if (!master) {
        return tl::unexpected(named + " is not a preforkd master (it is \"" + printable_cmdline(*raw) +
                              "\"); not touching it");
    }
    if (file_owner != effective) {
        return tl::unexpected(pid_path + " belongs to " + uid_text(file_owner) + " but pid " + std::to_string(pid) +
                              " runs as " + uid_text(effective) +
                              ": a master writes its own pid file; not trusting this one");
    }
    return effective;
}

tl::expected<master_process, std::string> find_master(const std::string& pid_path, uid_t caller) {
    // O_NONBLOCK: a FIFO planted at the path must not hang us.
    unique_fd fd{::open(pid_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
    if (!fd.valid()) {
        if (errno == ENOENT) {
            return tl::unexpected("not running (no pid file at " + pid_path + ")");
        }
        if (errno == ELOOP) {
            return tl::unexpected(pid_path + " is a symbolic link, not a pid file a master wrote; not trusting it");
        }
        return tl::unexpected(errno_text("cannot read " + pid_path));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) {
        return tl::unexpected(errno_text("cannot stat " + pid_path));
    }
    if (!S_ISREG(st.st_mode)) {
        return tl::unexpected(pid_path + " is not a regular file; not trusting it");
    }
    char buf[32] = {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    long long pid = 0;
    bool digits = n > 0;
    for (ssize_t i = 0; digits && i < n; ++i) {
        const char c = buf[i];
        if (c >= '0' && c <= '9' && pid <= INT_MAX) {
            pid = pid * 10 + (c - '0');
        } else if (c == '\n' && i == n - 1 && i > 0) {
            break;
        } else {
            digits = false;
        }
    }
    if (!digits || pid <= 0 || pid > INT_MAX) {
        return tl::unexpected(pid_path + " does not hold a pid");
    }
    const int p = static_cast<int>(pid);
    // Held from before the checks: if the process exits and its pid is reused meanwhile,
    // the signal goes to the exited one (ESRCH), never to the newcomer.
    unique_fd pidfd{static_cast<int>(::syscall(SYS_pidfd_open, p, 0))};
    if (!pidfd.valid() && errno == ESRCH) {
        return tl::unexpected(stale_message(p, pid_path));
    }
    auto uid = check_master_process(p, caller, st.st_uid, pid_path);
    if (!uid) {
        return tl::unexpected(uid.error());
    }
    return master_process{p, *uid, std::move(pidfd)};
}

tl::expected<int, std::string> running_master(const std::string& pid_path) {
    return find_master(pid_path, ::geteuid()).map([](const master_process& m) { return m.pid; });
}

tl::expected<int, std::string> signal_master(const std::string& pid_path, int signo) {
    auto m = find_master(pid_path, ::geteuid());
    if (!m) {
        return tl::unexpected(m.error());
    }
    const long rc = m->pidfd.valid() ? ::syscall(SYS_pidfd_send_signal, m->pidfd.get(), signo, nullptr, 0)
                                     : ::kill(m->pid, signo);
    if (rc < 0) {
        if (errno == ESRCH) {
            return tl::unexpected("not running (pid " + std::to_string(m->pid) + " from " + pid_path +
                                  " exited meanwhile)");
        }
        return tl::unexpected(errno_text("cannot signal pid " + std::to_string(m->pid)));
    }
    return m->pid;
}

}  // namespace pfd::server
