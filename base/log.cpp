#include "base/log.hpp"

#include "base/clock.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace pfd {

namespace {
char identity[32] = "preforkd";

void write_line(const char* fmt, va_list ap) noexcept {
    char line[1024];
    const timespec ts = wall_time();
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ preforkd[%d] %s: ",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, ts.tv_nsec / 1'000'000, static_cast<int>(getpid()), identity);
    n += std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, fmt, ap);
    n = std::min(n, static_cast<int>(sizeof line) - 2);
    line[n++] = '\n';
    // One write per line so lines from several processes never interleave.
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, line, static_cast<std::size_t>(n));
}
}  // namespace

void set_log_identity(std::string_view who) noexcept {
    const std::size_t n = std::min(who.size(), sizeof identity - 1);
    std::copy_n(who.data(), n, identity);
    identity[n] = '\0';
}

void log_line(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    write_line(fmt, ap);
    va_end(ap);
}

log_limiter::log_limiter(std::chrono::milliseconds window, clock now) noexcept
    : window_ms_{static_cast<std::uint64_t>(std::max<std::int64_t>(window.count(), 1))},
      now_{now != nullptr ? now : &monotonic_ms} {}

void log_limiter::log(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(last_, sizeof last_, fmt, ap);
    va_end(ap);
    const std::uint64_t now = now_();
    if (!started_ || now - window_start_ >= window_ms_) {
        started_ = true;
        emit(now);
    } else {
        ++suppressed_;
    }
}

void log_limiter::flush() noexcept {
    if (suppressed_ == 0) {
        return;
    }
    const std::uint64_t now = now_();
    if (now - window_start_ >= window_ms_) {
        emit(now);   // the latest held-back line, as the summary of them all
    }
}

void log_limiter::emit(std::uint64_t now) noexcept {
    if (suppressed_ == 0) {
        log_line("%s", last_);
    } else {
        // Whole seconds, at least one.
        const std::uint64_t secs = std::max<std::uint64_t>((now - window_start_ + 500) / 1000, 1);
        log_line("%s (%llu more in the last %llu s)", last_, static_cast<unsigned long long>(suppressed_),
                 static_cast<unsigned long long>(secs));
    }
    window_start_ = now;
    suppressed_ = 0;
}

}  // namespace pfd
