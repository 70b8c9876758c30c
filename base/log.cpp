#include "base/log.hpp"

#include "base/clock.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace pfd {

namespace {
char identity[32] = "preforkd";
// Atomics: a worker's offload threads log too (relaxed: each is read on its own).
std::atomic<log_level> min_level{log_level::info};
// -1: not looked at yet; 0: stderr is not journald's stream; 1: it is.
std::atomic<int> journal{-1};

// sd-daemon.h's SD_DEBUG, SD_INFO, SD_WARNING, SD_ERR.
constexpr char priority(log_level l) noexcept {
    switch (l) {
        case log_level::debug: return '7';
        case log_level::info: return '6';
        case log_level::warn: return '4';
        case log_level::error: return '3';
    }
    return '6';
}

constexpr const char* tag(log_level l) noexcept {
    switch (l) {
        case log_level::debug: return "debug: ";
        case log_level::info: return "";
        case log_level::warn: return "warning: ";
        case log_level::error: return "error: ";
    }
    return "";
}

// sd-journal's JOURNAL_STREAM: "<st_dev>:<st_ino>" in decimal, of the stream journald
// gave the service as stdout/stderr. It counts only while fd 2 still is that stream
// (a child may inherit the variable with stderr redirected elsewhere).
bool stderr_is_journal() noexcept {
    const char* env = std::getenv("JOURNAL_STREAM");
    if (env == nullptr || *env == '\0') {
        return false;
    }
    const std::string_view text{env};
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    unsigned long long dev = 0;
    unsigned long long ino = 0;
    const char* end = text.data() + text.size();
    const auto d = std::from_chars(text.data(), text.data() + colon, dev);
    const auto i = std::from_chars(text.data() + colon + 1, end, ino);
    if (d.ec != std::errc{} || d.ptr != text.data() + colon || i.ec != std::errc{} || i.ptr != end) {
        return false;
    }
    struct stat st{};
    if (::fstat(STDERR_FILENO, &st) < 0) {
        return false;
    }
    return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void write_line(log_level level, const char* fmt, va_list ap) noexcept {
    char line[1024];
    int n = 0;
    if (log_to_journal()) {
        n = std::snprintf(line, sizeof line, "<%c>preforkd[%d] %s: ", priority(level), static_cast<int>(getpid()),
                          identity);
    } else {
        const timespec ts = wall_time();
        std::tm tm{};
        gmtime_r(&ts.tv_sec, &tm);
        n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ preforkd[%d] %s: %s",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                          ts.tv_nsec / 1'000'000, static_cast<int>(getpid()), identity, tag(level));
    }
    n = std::clamp(n, 0, static_cast<int>(sizeof line) - 2);
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

void set_log_level(log_level min) noexcept { min_level.store(min, std::memory_order_relaxed); }

log_level current_log_level() noexcept { return min_level.load(std::memory_order_relaxed); }

void refresh_log_target() noexcept { journal.store(stderr_is_journal() ? 1 : 0, std::memory_order_relaxed); }

bool log_to_journal() noexcept {
    int j = journal.load(std::memory_order_relaxed);
    if (j < 0) {
        refresh_log_target();
        j = journal.load(std::memory_order_relaxed);
    }
    return j == 1;
}

void log_v(log_level level, const char* fmt, va_list ap) noexcept {
    if (log_enabled(level)) {
        write_line(level, fmt, ap);
    }
}

void log_line(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    log_v(log_level::info, fmt, ap);
    va_end(ap);
}

void log_at(log_level level, const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    log_v(level, fmt, ap);
    va_end(ap);
}

void log_debug(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    log_v(log_level::debug, fmt, ap);
    va_end(ap);
}

void log_warn(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    log_v(log_level::warn, fmt, ap);
    va_end(ap);
}

void log_error(const char* fmt, ...) noexcept {
    va_list ap;
    va_start(ap, fmt);
    log_v(log_level::error, fmt, ap);
    va_end(ap);
}

log_limiter::log_limiter(std::chrono::milliseconds window, clock now, log_level level) noexcept
    : window_ms_{static_cast<std::uint64_t>(std::max<std::int64_t>(window.count(), 1))},
      now_{now != nullptr ? now : &monotonic_ms},
      level_{level} {}

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
        log_at(level_, "%s", last_);
    } else {
        // Whole seconds, at least one.
        const std::uint64_t secs = std::max<std::uint64_t>((now - window_start_ + 500) / 1000, 1);
        log_at(level_, "%s (%llu more in the last %llu s)", last_, static_cast<unsigned long long>(suppressed_),
               static_cast<unsigned long long>(secs));
    }
    window_start_ = now;
    suppressed_ = 0;
}

}  // namespace pfd
