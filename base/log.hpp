#pragma once
// One line per event on stderr (the error log; [log] error moves it to a file by putting
// that file on fd 2): "<time> preforkd[<pid>] <who>: <what>", with "warning: ",
// "error: " or "debug: " before <what> for lines not at info level. When stderr is
// journald's stream (JOURNAL_STREAM names it), a line is "<N>preforkd[<pid>] <who>: <what>"
// instead: N is the syslog priority journald files it under (sd-daemon.h: 3 err,
// 4 warning, 6 info, 7 debug), and journald stamps the time itself.
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <string_view>

namespace pfd {

// [log] level: lines below it are not written.
enum class log_level : std::uint8_t { debug, info, warn, error };

// Names this process in every later line, e.g. "master" or "worker 3".
void set_log_identity(std::string_view who) noexcept;
// Lines below `min` are dropped from now on (a forked worker inherits it).
void set_log_level(log_level min) noexcept;
[[nodiscard]] log_level current_log_level() noexcept;
[[nodiscard]] inline bool log_enabled(log_level l) noexcept { return l >= current_log_level(); }
// fd 2 may have changed (an error log file put on it, or reopened): looks again whether
// it is journald's stream. Also done once, lazily, before the first line.
void refresh_log_target() noexcept;
// Whether lines now carry journald priority prefixes.
[[nodiscard]] bool log_to_journal() noexcept;

// At info level (the one-line-per-event log every part writes).
[[gnu::format(printf, 1, 2)]] void log_line(const char* fmt, ...) noexcept;
[[gnu::format(printf, 2, 3)]] void log_at(log_level level, const char* fmt, ...) noexcept;
[[gnu::format(printf, 1, 2)]] void log_debug(const char* fmt, ...) noexcept;
[[gnu::format(printf, 1, 2)]] void log_warn(const char* fmt, ...) noexcept;
[[gnu::format(printf, 1, 2)]] void log_error(const char* fmt, ...) noexcept;
void log_v(log_level level, const char* fmt, va_list ap) noexcept;

// Rate-limits one kind of line that a client or the kernel can make repeat (an accept
// failing for want of file descriptors, ten times a second): the first is logged; repeats
// within the window are counted, not logged; the first line once the window has passed
// (or flush(), from a periodic tick, if none comes) says how many there were:
//   accept failed: Too many open files; ... (37 more in the last 10 s)
// One limiter per call site (a function-local static), single-threaded like the loops.
class log_limiter {
public:
    using clock = std::uint64_t (*)() noexcept;   // monotonic milliseconds

    explicit log_limiter(std::chrono::milliseconds window = std::chrono::seconds{10},
                         clock now = nullptr, log_level level = log_level::info) noexcept;

    [[gnu::format(printf, 2, 3)]] void log(const char* fmt, ...) noexcept;
    // Logs the count of lines held back, with the latest of them, once the window is over.
    void flush() noexcept;

    // Lines held back since the last one logged.
    [[nodiscard]] std::uint64_t suppressed() const noexcept { return suppressed_; }

private:
    void emit(std::uint64_t now) noexcept;

    std::uint64_t window_ms_;
    clock now_;
    log_level level_;
    std::uint64_t window_start_ = 0;   // when the last line was logged
    std::uint64_t suppressed_ = 0;
    bool started_ = false;
    char last_[512] = {};   // the latest line, logged or held back
};

}  // namespace pfd
