#pragma once
#include <unistd.h>

#include <utility>

namespace pfd {

// Owns one file descriptor; closes it once.
class unique_fd {
public:
    explicit unique_fd(int fd = -1) noexcept : fd_{fd} {}
    unique_fd(unique_fd&& o) noexcept : fd_{std::exchange(o.fd_, -1)} {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    void reset(int fd = -1) noexcept {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = fd;
    }
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

private:
    int fd_;
};

}  // namespace pfd
