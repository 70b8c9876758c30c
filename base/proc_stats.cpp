#include "base/proc_stats.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/small_file.hpp"

namespace pfd {

namespace {
// A /proc file of the process, or "" if it cannot be read (the process is gone).
std::string read_proc(pid_t pid, const char* name) noexcept {
    try {
        auto text = read_small_file("/proc/" + std::to_string(pid) + "/" + name, 4096);
        return text ? std::move(*text) : std::string{};
    } catch (...) {
        return {};
    }
}
}  // namespace

std::uint64_t rss_bytes(pid_t pid) noexcept {
    const std::string statm = read_proc(pid, "statm");
    unsigned long long size = 0;
    unsigned long long resident = 0;
    if (std::sscanf(statm.c_str(), "%llu %llu", &size, &resident) != 2) {
        return 0;
    }
    return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t cpu_time_ms(pid_t pid) noexcept {
    const std::string stat = read_proc(pid, "stat");
    // Fields after the command name, which may hold spaces: state is field 3,
    // utime and stime are fields 14 and 15.
    const char* p = std::strrchr(stat.c_str(), ')');
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    if (p == nullptr ||
        std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) {
        return 0;
    }
    const auto ticks = static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
    return (utime + stime) * 1000 / ticks;
}

}  // namespace pfd
