#include "server/runtime_dir.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/clock.hpp"
#include "base/error_text.hpp"
#include "proto/http_chars.hpp"

namespace pfd::server {

namespace {

std::string octal_mode(mode_t m) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
    return buf;
}

bool writable_by_others(const struct stat& st) { return (st.st_mode & (S_IWGRP | S_IWOTH)) != 0; }

std::string without_trailing_slashes(std::string s) {
    while (s.size() > 1 && s.back() == '/') {
        s.pop_back();
    }
    return s;
}

}  // namespace

runtime_user current_runtime_user() {
    runtime_user who;
    who.uid = ::geteuid();
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR")) {
        who.xdg_runtime_dir = xdg;
    }
    return who;
}

std::string default_runtime_dir(const runtime_user& who) {
    if (who.uid == 0) {
        return without_trailing_slashes(who.run_base) + "/preforkd";
    }
    // The spec promises a directory of the user's with mode 0700; an inherited one (su,
    // sudo -E) belongs to someone else and must not be used.
    const std::string xdg = without_trailing_slashes(who.xdg_runtime_dir);
    struct stat st {};
    if (!xdg.empty() && xdg.front() == '/' && ::stat(xdg.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == who.uid && (st.st_mode & 077) == 0) {
        return (xdg == "/" ? "" : xdg) + "/preforkd";
    }
    return without_trailing_slashes(who.tmp_base) + "/preforkd-" + std::to_string(who.uid);
}

std::string default_runtime_path(const runtime_user& who, std::string_view port, std::string_view extension) {
    std::string path = default_runtime_dir(who) + "/preforkd-";
    path += port;
    path += '.';
    path += extension;
    return path;
}

std::string default_runtime_path(std::string_view port, std::string_view extension) {
    return default_runtime_path(current_runtime_user(), port, extension);
}

path_parts split_path(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return {".", path};
    }
    return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

tl::expected<void, std::string> check_ancestor(const std::string& dir, const struct stat& st, uid_t uid) {
    if (st.st_uid != 0 && st.st_uid != uid) {
        return tl::unexpected(dir + " belongs to " + uid_text(st.st_uid) + ", who could replace what is in it (it must be " +
                              uid_text(uid) + "'s or root's)");
    }
    if (writable_by_others(st) && (st.st_mode & S_ISVTX) == 0) {
        return tl::unexpected(dir + " is writable by other users (mode " + octal_mode(st.st_mode) +
                              ") and not sticky: they could replace what is in it");
    }
    return {};
}

tl::expected<void, std::string> check_directory(const std::string& dir, const struct stat& st, uid_t uid) {
    if (!S_ISDIR(st.st_mode)) {
        return tl::unexpected(dir + " is not a directory");
    }
    if (st.st_uid != 0 && st.st_uid != uid) {
        return tl::unexpected(dir + " belongs to " + uid_text(st.st_uid) + ", not to " + uid_text(uid) + " or root");
    }
    if (writable_by_others(st)) {
        if ((st.st_mode & S_ISVTX) == 0) {
            return tl::unexpected(dir + " is writable by other users (mode " + octal_mode(st.st_mode) +
                                  ") and not sticky: any of them could plant or replace files in it");
        }
        if (st.st_uid != uid) {
            return tl::unexpected(dir + " is writable by other users (mode " + octal_mode(st.st_mode) + ") and is " +
                                  uid_text(st.st_uid) + "'s, not " + uid_text(uid) +
                                  "'s: use a directory of your own (the default needs no setting)");
        }
    }
    return {};
}

tl::expected<void, std::string> check_private_directory(const std::string& dir, const struct stat& st, uid_t uid) {
    if (S_ISLNK(st.st_mode)) {
        return tl::unexpected(dir + " is a symbolic link, not a directory of " + uid_text(uid) + "'s: remove it");
    }
    if (!S_ISDIR(st.st_mode)) {
        return tl::unexpected(dir + " is not a directory: remove it");
    }
    if (st.st_uid != uid) {
        return tl::unexpected(dir + " belongs to " + uid_text(st.st_uid) + ", not to " + uid_text(uid) +
                              ": remove it (or set pid_file and control_socket)");
    }
    const mode_t others = uid == 0 ? (S_IWGRP | S_IWOTH) : (S_IRWXG | S_IRWXO);
    if ((st.st_mode & others) != 0) {
        return tl::unexpected(dir + " has mode " + octal_mode(st.st_mode) + "; it must be " +
                              (uid == 0 ? "0755 or stricter" : "0700") + ": remove it or chmod it");
    }
    return {};
}

namespace {
using directory_rule = tl::expected<void, std::string> (*)(const std::string&, const struct stat&, uid_t);

// What a stat call (its result `rc`, filling `st`) found at `path`, judged by `rule`.
tl::expected<void, std::string> judge(const std::string& path, int rc, const struct stat& st, directory_rule rule,
                                      uid_t uid) {
    if (rc < 0) {
        return tl::unexpected(errno_text("cannot stat " + path));
    }
    return rule(path, st, uid);
}
}  // namespace

tl::expected<unique_fd, std::string> open_runtime_dir(const std::string& dir, const runtime_user& who) {
    const bool is_default = dir == default_runtime_dir(who);
    if (is_default) {
        if (::mkdir(dir.c_str(), who.uid == 0 ? 0755 : 0700) < 0 && errno != EEXIST) {
            return tl::unexpected(errno_text("cannot create " + dir));
        }
        struct stat st {};
        if (auto ok = judge(dir, ::lstat(dir.c_str(), &st), st, check_private_directory, who.uid); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    // Every directory on the way: whoever may rename one of them controls what is below.
    char* resolved = ::realpath(dir.c_str(), nullptr);
    if (resolved == nullptr) {
        return tl::unexpected(errno_text("cannot resolve the directory " + dir));
    }
    const std::string canonical{resolved};
    std::free(resolved);
    std::vector<std::string> above{"/"};
    for (std::size_t i = canonical.find('/', 1); i != std::string::npos && canonical != "/";
         i = canonical.find('/', i + 1)) {
        above.push_back(canonical.substr(0, i));
    }
    for (const auto& a : above) {
        if (a == canonical) {
            break;
        }
        struct stat st {};
        if (auto ok = judge(a, ::stat(a.c_str(), &st), st, check_ancestor, who.uid); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    unique_fd fd{::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (!fd.valid()) {
        return tl::unexpected(errno_text("cannot open the directory " + canonical));
    }
    struct stat st {};
    if (auto ok = judge(canonical, ::fstat(fd.get(), &st), st, check_directory, who.uid); !ok) {
        return tl::unexpected(ok.error());
    }
    if (is_default) {
        if (auto ok = check_private_directory(canonical, st, who.uid); !ok) {
            return tl::unexpected(ok.error());
        }
    }
    return fd;
}

std::string temporary_name() {
    unsigned char bytes[8] = {};
    if (::getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof bytes)) {
        // Without entropy at early boot: unique is what matters (O_EXCL refuses the rest).
        static std::atomic<unsigned> counter{0};
        const auto t = static_cast<unsigned long long>(steady_clock::now().time_since_epoch().count());
        const unsigned long long v = t ^ (static_cast<unsigned long long>(::getpid()) << 32) ^ counter++;
        std::memcpy(bytes, &v, sizeof bytes);
    }
    std::string name = ".preforkd-";
    for (unsigned char b : bytes) {
        const auto hex = proto::hex_digits(b);
        name += hex[0];
        name += hex[1];
    }
    return name;
}

tl::expected<void, std::string> replace_file(int dirfd, const std::string& name, std::string_view text, mode_t mode,
                                             const std::string& shown) {
    const std::string dir = split_path(shown).dir;
    for (int attempt = 0; attempt < 16; ++attempt) {
        const std::string tmp = temporary_name();
        // O_EXCL|O_NOFOLLOW: never through a link, never a file someone made beforehand.
        unique_fd fd{::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)};
        if (!fd.valid()) {
            if (errno == EEXIST) {
                continue;
            }
            return tl::unexpected(errno_text("cannot create " + dir + "/" + tmp));
        }
        auto fail = [&](const std::string& what) {
            std::string msg = errno_text(what);
            ::unlinkat(dirfd, tmp.c_str(), 0);
            return tl::unexpected(std::move(msg));
        };
        // Exactly `mode`, whatever the umask.
        if (::fchmod(fd.get(), mode) < 0) {
            return fail("cannot chmod " + dir + "/" + tmp);
        }
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
            if (n <= 0) {
                if (n == 0) {
                    errno = EIO;
                }
                return fail("cannot write " + dir + "/" + tmp);
            }
            done += static_cast<std::size_t>(n);
        }
        fd.reset();
        if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) < 0) {
            return fail("cannot rename " + dir + "/" + tmp + " to " + shown);
        }
        return {};
    }
    return tl::unexpected("cannot create a temporary file in " + dir + ": every name tried exists");
}

tl::expected<void, std::string> check_replaceable_socket(int dirfd, const std::string& name, uid_t uid,
                                                         const std::string& shown) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) {
            return {};
        }
        return tl::unexpected(errno_text("cannot stat " + shown));
    }
    if (S_ISSOCK(st.st_mode)) {
        if (st.st_uid == uid) {
            return {};
        }
        return tl::unexpected(shown + " is a socket of " + uid_text(st.st_uid) + ", not of " + uid_text(uid) +
                              ": not replacing it (remove it if nothing of that user's listens on it, or choose "
                              "another control_socket)");
    }
    const char* what = S_ISLNK(st.st_mode) ? "a symbolic link"
                       : S_ISREG(st.st_mode) ? "a regular file"
                       : S_ISDIR(st.st_mode) ? "a directory"
                                             : "a special file";
    return tl::unexpected(shown + " exists and is " + what + ", not a socket: not removing it (remove it yourself, "
                          "or choose another control_socket)");
}

}  // namespace pfd::server
