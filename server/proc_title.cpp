#include "server/proc_title.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

extern char** environ;

namespace pfd::server {

namespace {
// The contiguous memory the kernel laid out for argv and environ strings; the kernel
// reads /proc/PID/cmdline from its start, and past the end of argv into environ when
// the last argv byte is no longer NUL.
char* title_begin = nullptr;
char* title_end = nullptr;
}  // namespace

std::string init_proc_title(int argc, char** argv) {
    std::string cmdline;
    if (argc <= 0 || argv == nullptr || argv[0] == nullptr) {
        return cmdline;
    }
    title_begin = argv[0];
    title_end = argv[0];
    for (int i = 0; i < argc; ++i) {
        if (argv[i] == title_end) {
            title_end = argv[i] + std::strlen(argv[i]) + 1;
        }
        if (i > 0) {
            cmdline += ' ';
        }
        cmdline += argv[i];
    }
    std::size_t env_count = 0;
    while (environ[env_count] != nullptr) {
        ++env_count;
    }
    for (std::size_t i = 0; i < env_count; ++i) {
        if (environ[i] == title_end) {
            title_end = environ[i] + std::strlen(environ[i]) + 1;
        }
    }
    // Keep every string alive elsewhere: the originals are about to be overwritten.
    char** new_environ = new char*[env_count + 1];
    // A second list of the same copies: unsetenv() drops a string from environ, and it
    // stays reachable from here (LeakSanitizer would report it, and fail the exit code).
    static char** kept_copies = new char*[env_count + 1];
    for (std::size_t i = 0; i < env_count; ++i) {
        new_environ[i] = strdup(environ[i]);
        kept_copies[i] = new_environ[i];
    }
    new_environ[env_count] = nullptr;
    kept_copies[env_count] = nullptr;
    environ = new_environ;
    for (int i = 0; i < argc; ++i) {
        argv[i] = strdup(argv[i]);
    }
    return cmdline;
}

void set_proc_title(std::string_view title) noexcept {
    if (title_begin == nullptr || title_end <= title_begin) {
        return;
    }
    const auto room = static_cast<std::size_t>(title_end - title_begin) - 1;
    const std::size_t n = std::min(room, title.size());
    std::memcpy(title_begin, title.data(), n);
    std::memset(title_begin + n, 0, static_cast<std::size_t>(title_end - title_begin) - n);
    // /proc/PID/comm stays "preforkd", so pgrep -x and killall keep working.
}

}  // namespace pfd::server
