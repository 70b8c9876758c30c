#pragma once
// Connection slots to visit once the batch of completions is handled (to send for, to arm
// a receive for). A push is a store and an increment: it runs a few times per request, and
// std::vector's push_back stops being inlined once the binary grows.
#include <cstdint>
#include <memory>

namespace pfd::worker {

class slot_list {
public:
    explicit slot_list(std::uint32_t capacity) : slots_{new std::uint32_t[capacity == 0 ? 1 : capacity]},
                                                 capacity_{capacity == 0 ? 1 : capacity} {}

    [[gnu::always_inline]] void push(std::uint32_t slot) {
        if (size_ == capacity_) [[unlikely]] {
            grow();
        }
        slots_[size_++] = slot;
    }
    [[nodiscard]] std::uint32_t size() const noexcept { return size_; }
    [[nodiscard]] std::uint32_t operator[](std::uint32_t i) const noexcept { return slots_[i]; }
    void clear() noexcept { size_ = 0; }

private:
    void grow() {
        auto bigger = std::make_unique<std::uint32_t[]>(std::size_t{capacity_} * 2);
        for (std::uint32_t i = 0; i < size_; ++i) {
            bigger[i] = slots_[i];
        }
        slots_ = std::move(bigger);
        capacity_ *= 2;
    }

    std::unique_ptr<std::uint32_t[]> slots_;
    std::uint32_t capacity_;
    std::uint32_t size_ = 0;
};

}  // namespace pfd::worker
