#include "worker/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace pfd {

namespace {
char identity[32] = "preforkd";
}

void set_log_identity(std::string_view who) noexcept {
    const std::size_t n = std::min(who.size(), sizeof identity - 1);
    std::copy_n(who.data(), n, identity);
    identity[n] = '\0';
}

void log_line(const char* fmt, ...) noexcept {
    char line[1024];
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ preforkd[%d] %s: ",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, ts.tv_nsec / 1'000'000, static_cast<int>(getpid()), identity);
    va_list ap;
    va_start(ap, fmt);
    n += std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, fmt, ap);
    va_end(ap);
    n = std::min(n, static_cast<int>(sizeof line) - 2);
    line[n++] = '\n';
    // One write per line so lines from several processes never interleave.
    [[maybe_unused]] auto w = ::write(STDERR_FILENO, line, static_cast<std::size_t>(n));
}

}  // namespace pfd
