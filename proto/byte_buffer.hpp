#pragma once
// A growable byte buffer with a read cursor, for output that may be sent in parts.
// Capacity is kept across clear() so a pooled buffer does not reallocate per request.
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace pfd::proto {

class byte_buffer {
public:
    byte_buffer() = default;
    byte_buffer(const byte_buffer&) = delete;
    byte_buffer& operator=(const byte_buffer&) = delete;
    byte_buffer(byte_buffer&&) noexcept = default;
    byte_buffer& operator=(byte_buffer&&) noexcept = default;

    void append(std::string_view s) {
        if (!s.empty()) {
            std::memcpy(grow(s.size()), s.data(), s.size());
        }
    }

    // Reserves n bytes at the end and returns where to write them.
    char* grow(std::size_t n) {
        if (size_ + n > capacity_) [[unlikely]] {
            ensure_writable(n);
        }
        char* at = data_.get() + size_;
        size_ += n;
        return at;
    }

    // Makes room for n more bytes. Returns true if the readable bytes moved (views
    // into them must be rebased onto readable()).
    bool ensure_writable(std::size_t n) {
        if (size_ + n <= capacity_) {
            return false;
        }
        const std::size_t live = size_ - read_;
        if (live + n <= capacity_) {
            std::memmove(data_.get(), data_.get() + read_, live);
        } else {
            std::size_t cap = capacity_ ? capacity_ : 256;
            while (cap < live + n) {
                cap *= 2;
            }
            auto bigger = std::make_unique_for_overwrite<char[]>(cap);
            if (live > 0) {
                std::memcpy(bigger.get(), data_.get() + read_, live);
            }
            data_ = std::move(bigger);
            capacity_ = cap;
        }
        size_ = live;
        read_ = 0;
        return true;
    }

    // Bytes written but not yet consumed.
    [[nodiscard]] std::span<const char> readable() const noexcept {
        return {data_.get() + read_, size_ - read_};
    }
    [[nodiscard]] std::string_view view() const noexcept {
        return {data_.get() + read_, size_ - read_};
    }
    // The readable bytes, to rewrite in place.
    [[nodiscard]] char* writable_view() noexcept { return data_.get() + read_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == read_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_ - read_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    void consume(std::size_t n) noexcept {
        read_ += n;
        if (read_ == size_) {
            clear();
        }
    }
    void clear() noexcept { size_ = read_ = 0; }
    // Gives the memory back (for buffers that grew for one large response).
    void release() noexcept {
        data_.reset();
        size_ = read_ = capacity_ = 0;
    }

private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t read_ = 0;
    std::size_t capacity_ = 0;
};

}  // namespace pfd::proto
