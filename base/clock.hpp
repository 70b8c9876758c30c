#pragma once
// The clocks every process reads, in one place. Deadlines and heartbeats use the
// monotonic clock (the master compares a worker's heartbeat with its own reading, so
// both must be CLOCK_MONOTONIC); wall-clock time is only for what people read (the
// Date header, log lines, start times).
#include <time.h>

#include <chrono>
#include <cstdint>
#include <ctime>

namespace pfd {

// The master's deadlines (CLOCK_MONOTONIC on Linux).
using steady_clock = std::chrono::steady_clock;

inline double to_seconds(steady_clock::duration d) noexcept {
    return std::chrono::duration<double>(d).count();
}

namespace detail {
inline std::uint64_t to_ms(const timespec& ts) noexcept {
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}
inline timespec read_clock(clockid_t id) noexcept {
    timespec ts{};
    clock_gettime(id, &ts);
    return ts;
}
}  // namespace detail

// CLOCK_MONOTONIC in milliseconds: heartbeats, compared across processes.
inline std::uint64_t monotonic_ms() noexcept { return detail::to_ms(detail::read_clock(CLOCK_MONOTONIC)); }
// The same clock in microseconds: request durations (read once per batch of completions).
inline std::uint64_t monotonic_us() noexcept {
    const timespec ts = detail::read_clock(CLOCK_MONOTONIC);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<std::uint64_t>(ts.tv_nsec) / 1'000;
}
// The same clock at tick resolution (a few ms), without a vDSO time read: the worker
// reads it for every batch of completions.
inline std::uint64_t monotonic_coarse_ms() noexcept {
    return detail::to_ms(detail::read_clock(CLOCK_MONOTONIC_COARSE));
}
// Wall-clock time.
inline timespec wall_time() noexcept { return detail::read_clock(CLOCK_REALTIME); }
inline std::uint64_t unix_ms() noexcept { return detail::to_ms(wall_time()); }
// Wall-clock seconds at tick resolution, for the Date header.
inline std::time_t unix_seconds_coarse() noexcept { return detail::read_clock(CLOCK_REALTIME_COARSE).tv_sec; }

}  // namespace pfd
