#pragma once
// One line per event on stderr: "<time> preforkd[<pid>] <who>: <what>".
#include <chrono>
#include <cstdint>
#include <string_view>

namespace pfd {

// [log] level: lines below it are not written.
enum class log_level : std::uint8_t { debug, info, warn, error };

// Names this process in every later line, e.g. "master" or "worker 3".
void set_log_identity(std::string_view who) noexcept;

[[gnu::format(printf, 1, 2)]] void log_line(const char* fmt, ...) noexcept;

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
                         clock now = nullptr) noexcept;

    [[gnu::format(printf, 2, 3)]] void log(const char* fmt, ...) noexcept;
    // Logs the count of lines held back, with the latest of them, once the window is over.
    void flush() noexcept;

    // Lines held back since the last one logged.
    [[nodiscard]] std::uint64_t suppressed() const noexcept { return suppressed_; }

private:
    void emit(std::uint64_t now) noexcept;

    std::uint64_t window_ms_;
    clock now_;
    std::uint64_t window_start_ = 0;   // when the last line was logged
    std::uint64_t suppressed_ = 0;
    bool started_ = false;
    char last_[512] = {};   // the latest line, logged or held back
};

}  // namespace pfd
