#pragma once
// Reading a small file whole: a /proc entry, a cgroup setting, a configuration file.
#include <cstddef>
#include <string>

#include "base/result.hpp"

namespace pfd {

// Up to `limit` bytes of the file at `path` (all of it when shorter). Plain POSIX
// reads, never a stream: an ifstream "opens" a directory and reads nothing, which
// would pass for an empty file; here that is EISDIR.
result<std::string> read_small_file(const std::string& path, std::size_t limit = 1 << 20);

}  // namespace pfd
