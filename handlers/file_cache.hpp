#pragma once
// A worker's recently served files, per route: the open descriptor and, for small files,
// the bytes, so a hot file is answered without a system call. An entry is trusted for
// file_recheck after it was last found as it is; after that the next request looks the
// file up again (on a helper thread), so a changed, replaced or removed file is noticed
// within that time. Bounded in entries (each holds descriptors) and in bytes, least
// recently used first out.
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "handlers/file_lookup.hpp"

namespace pfd::handlers {

inline constexpr std::chrono::milliseconds file_recheck{1'000};

class file_cache {
public:
    file_cache(std::size_t max_entries, std::size_t max_bytes) noexcept
        : max_entries_{max_entries}, max_bytes_{max_bytes} {}

    // The entry for `key`, if it was checked less than file_recheck before `now_ms`.
    [[nodiscard]] const file_entry* find(const std::string& key, std::uint64_t now_ms) noexcept;
    void put(const std::string& key, std::shared_ptr<const file_entry> entry);
    [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
    [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

private:
    struct item {
        std::string key;
        std::shared_ptr<const file_entry> entry;
    };
    void evict_one() noexcept;

    std::size_t max_entries_;
    std::size_t max_bytes_;
    std::size_t bytes_ = 0;
    std::list<item> lru_;   // most recent first
    std::unordered_map<std::string, std::list<item>::iterator> map_;
};

}  // namespace pfd::handlers
