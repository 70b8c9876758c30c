#pragma once
// A range of an open file as part of an answer's body: the worker sends it from the file
// without copying it through user space, and checks on the way that the file has not
// changed under it (a response whose length lies is never finished: the connection is
// closed instead).
#include <cstdint>
#include <memory>

#include "base/unique_fd.hpp"

namespace pfd::handlers {

// An open regular file and what it was when it was opened.
struct open_file {
    unique_fd fd;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
};

struct file_piece {
    std::shared_ptr<const open_file> file;   // shared with the file cache and other sends
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

}  // namespace pfd::handlers
