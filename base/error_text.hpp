#pragma once
// Messages that carry errno, for errors returned as text ("bind /run/x: Permission denied").
#include <cerrno>
#include <cstring>
#include <string>

namespace pfd {

// `what`, then the text of the current errno.
inline std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace pfd
