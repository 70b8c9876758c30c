#pragma once
// A provided-buffer ring: the kernel picks a buffer when data arrives, so a
// connection waiting for its next request holds no receive memory.
#include <liburing.h>

#include <cstdint>
#include <span>

#include "base/result.hpp"

namespace pfd::worker {

class buffer_ring {
public:
    static result<buffer_ring> create(io_uring* ring, std::uint16_t group, std::uint32_t count,
                                      std::uint32_t buffer_size) noexcept;

    buffer_ring(buffer_ring&& o) noexcept;
    buffer_ring& operator=(buffer_ring&&) = delete;
    buffer_ring(const buffer_ring&) = delete;
    buffer_ring& operator=(const buffer_ring&) = delete;
    ~buffer_ring();

    [[nodiscard]] std::uint16_t group() const noexcept { return group_; }
    [[nodiscard]] std::span<const char> data(std::uint16_t id, std::size_t len) const noexcept {
        return {buffers_ + static_cast<std::size_t>(id) * buffer_size_, len};
    }
    // Hands a buffer back; it becomes visible to the kernel at publish().
    void recycle(std::uint16_t id) noexcept;
    void publish() noexcept;

private:
    buffer_ring() = default;
    io_uring* ring_ = nullptr;
    io_uring_buf_ring* br_ = nullptr;
    char* buffers_ = nullptr;
    std::size_t map_size_ = 0;
    std::uint32_t count_ = 0;
    std::uint32_t buffer_size_ = 0;
    std::uint16_t group_ = 0;
    int pending_ = 0;
};

}  // namespace pfd::worker
