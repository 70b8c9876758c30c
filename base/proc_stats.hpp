#pragma once
// What /proc says about a process: resident memory and CPU time.
#include <sys/types.h>

#include <cstdint>

namespace pfd {

std::uint64_t rss_bytes(pid_t pid) noexcept;          // 0 if unreadable
std::uint64_t cpu_time_ms(pid_t pid) noexcept;        // utime + stime; 0 if unreadable

}  // namespace pfd
