#include "server/cpu_count.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <sstream>
#include <string>

#include "base/small_file.hpp"

namespace pfd::server {

namespace {

std::string read_file(const std::string& path) {
    auto text = read_small_file(path, 4096);
    return text ? std::move(*text) : std::string{};
}

// The cgroup v2 path of this process ("0::/a/b" in /proc/self/cgroup), if any.
std::optional<std::string> own_cgroup() {
    std::istringstream lines{read_file("/proc/self/cgroup")};
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("0::", 0) == 0) {
            return line.substr(3);
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<unsigned> cpus_from_cpu_max(std::string_view content) noexcept {
    const auto space = content.find(' ');
    if (space == std::string_view::npos || content.substr(0, space) == "max") {
        return std::nullopt;
    }
    unsigned long quota = 0;
    unsigned long period = 0;
    const char* b = content.data();
    auto q = std::from_chars(b, b + space, quota);
    auto rest = content.substr(space + 1);
    auto p = std::from_chars(rest.data(), rest.data() + rest.size(), period);
    const bool whole = q.ptr == b + space && (p.ptr == rest.data() + rest.size() || *p.ptr == '\n');
    if (q.ec != std::errc{} || p.ec != std::errc{} || !whole || period == 0 || quota == 0) {
        return std::nullopt;
    }
    return static_cast<unsigned>(std::max(1UL, (quota + period - 1) / period));
}

unsigned usable_cpus() noexcept {
    unsigned cpus = 1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        cpus = static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
    }
    try {
        auto path = own_cgroup();
        // A quota on any ancestor limits us too: take the smallest on the way up.
        while (path) {
            auto limit = cpus_from_cpu_max(read_file("/sys/fs/cgroup" + *path + "/cpu.max"));
            if (limit) {
                cpus = std::min(cpus, *limit);
            }
            if (path->empty() || *path == "/") {
                break;
            }
            const auto slash = path->rfind('/');
            path = slash == 0 || slash == std::string::npos ? std::string{"/"} : path->substr(0, slash);
        }
    } catch (...) {
        // Reading /proc or /sys failed in an unexpected way: the affinity count stands.
    }
    return std::max(1U, cpus);
}

}  // namespace pfd::server
