#pragma once
// How far the file range at the front of a connection's output has gone: file -> pipe
// (splice, on an io_uring helper thread), a look at the file, pipe -> socket. The bytes
// never pass through user space. The pipe is the session's, made on first use.
#include <sys/stat.h>

#include <cstdint>

#include "base/result.hpp"
#include "base/unique_fd.hpp"

namespace pfd::worker {

class file_transfer {
public:
    // The most one splice moves (the pipe is sized for it when the kernel allows: 1 MiB
    // is fs.pipe-max-size's default). Each chunk is an io-wq hop, so the larger the better.
    static constexpr unsigned chunk = 1024 * 1024;

    // A pipe to splice through, made if there is none.
    result<bool> ready() noexcept;
    void begin() noexcept { done = in_pipe = 0; }
    // A splice into the pipe is on its way: until the pipe is known to be empty again, it
    // may hold bytes (even if the connection closes before the splice comes back).
    void filling() noexcept { clean_ = false; }
    // Everything the pipe held reached the socket.
    void emptied() noexcept { clean_ = true; }
    // Bytes left in the pipe (a transfer cut short) would go to the next connection: such
    // a pipe is closed, to be made afresh.
    void reset() noexcept {
        if (!clean_) {
            read_end_.reset();
            write_end_.reset();
            clean_ = true;
        }
        done = in_pipe = 0;
    }
    [[nodiscard]] int read_end() const noexcept { return read_end_.get(); }
    [[nodiscard]] int write_end() const noexcept { return write_end_.get(); }

    std::uint64_t done = 0;     // bytes of the range that reached the socket
    std::uint32_t in_pipe = 0;  // bytes in the pipe, not yet in the socket
    struct statx seen {};       // the file as it is now

private:
    unique_fd read_end_;
    unique_fd write_end_;
    bool clean_ = true;
};

}  // namespace pfd::worker
