#include "server/proc_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "worker/unique_fd.hpp"

namespace pfd::server {

namespace {
// Reads a small /proc file into buf (NUL-terminated); false if it cannot.
bool read_proc(pid_t pid, const char* name, char* buf, std::size_t size) noexcept {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), name);
    unique_fd fd{::open(path, O_RDONLY | O_CLOEXEC)};
    if (!fd.valid()) {
        return false;
    }
    const ssize_t n = ::read(fd.get(), buf, size - 1);
    if (n <= 0) {
        return false;
    }
    buf[n] = '\0';
    return true;
}
}  // namespace

std::uint64_t rss_bytes(pid_t pid) noexcept {
    char buf[128];
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (!read_proc(pid, "statm", buf, sizeof buf) || std::sscanf(buf, "%llu %llu", &size, &resident) != 2) {
        return 0;
    }
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t cpu_time_ms(pid_t pid) noexcept {
    char buf[1024];
    if (!read_proc(pid, "stat", buf, sizeof buf)) {
        return 0;
    }
    // Fields after the command name, which may hold spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    const char* p = std::strrchr(buf, ')');
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    if (p == nullptr ||
        std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
        return 0;
    }
    const auto ticks = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
    return (utime + stime) * 1000 / ticks;
}

}  // namespace pfd::server
