#pragma once
// One line per event on stderr: "<time> preforkd[<pid>] <who>: <what>".
#include <string_view>

namespace pfd {

// Names this process in every later line, e.g. "master" or "worker 3".
void set_log_identity(std::string_view who) noexcept;

[[gnu::format(printf, 1, 2)]] void log_line(const char* fmt, ...) noexcept;

}  // namespace pfd
