#include "worker/buffer_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

namespace pfd::worker {

result<buffer_ring> buffer_ring::create(io_uring* ring, std::uint16_t group, std::uint32_t count,
                                        std::uint32_t buffer_size) noexcept {
    buffer_ring b;
    b.ring_ = ring;
    b.group_ = group;
    b.count_ = count;
    b.buffer_size_ = buffer_size;
    // One mapping: the ring's entries first (page aligned, as the kernel requires),
    // then the buffers themselves.
    const std::size_t ring_bytes = count * sizeof(io_uring_buf);
    b.map_size_ = ring_bytes + static_cast<std::size_t>(count) * buffer_size;
    void* mem = mmap(nullptr, b.map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return fail(errno, "mmap");
    }
    b.br_ = static_cast<io_uring_buf_ring*>(mem);
    b.buffers_ = static_cast<char*>(mem) + ring_bytes;

    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
    reg.ring_entries = count;
    reg.bgid = group;
    if (int rc = io_uring_register_buf_ring(ring, &reg, 0); rc < 0) {
        munmap(mem, b.map_size_);
        b.br_ = nullptr;
        return fail(-rc, "io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(b.br_);
    for (std::uint32_t i = 0; i < count; ++i) {
        b.recycle(static_cast<std::uint16_t>(i));
    }
    b.publish();
    return b;
}

buffer_ring::buffer_ring(buffer_ring&& o) noexcept
    : ring_{o.ring_},
      br_{std::exchange(o.br_, nullptr)},
      buffers_{o.buffers_},
      map_size_{o.map_size_},
      count_{o.count_},
      buffer_size_{o.buffer_size_},
      group_{o.group_},
      pending_{o.pending_} {}

buffer_ring::~buffer_ring() {
    if (br_ != nullptr) {
        io_uring_unregister_buf_ring(ring_, group_);
        munmap(br_, map_size_);
    }
}

void buffer_ring::recycle(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(br_, buffers_ + static_cast<std::size_t>(id) * buffer_size_, buffer_size_, id,
                          io_uring_buf_ring_mask(count_), pending_);
    ++pending_;
}

void buffer_ring::publish() noexcept {
    if (pending_ > 0) {
        io_uring_buf_ring_advance(br_, pending_);
        pending_ = 0;
    }
}

}  // namespace pfd::worker
