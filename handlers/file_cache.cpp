#include "handlers/file_cache.hpp"

namespace pfd::handlers {

const file_entry* file_cache::find(const std::string& key, std::uint64_t now_ms) noexcept {
    const auto it = map_.find(key);
    if (it == map_.end()) {
        return nullptr;
    }
    const file_entry& e = *it->second->entry;
    if (now_ms - e.checked_ms >= static_cast<std::uint64_t>(file_recheck.count())) {
        return nullptr;   // kept until the new lookup replaces it: sends in flight share it anyway
    }
    lru_.splice(lru_.begin(), lru_, it->second);
    return &e;
}

void file_cache::put(const std::string& key, std::shared_ptr<const file_entry> entry) {
    const std::size_t size = entry->memory();
    if (size > max_bytes_ / 4) {
        return;   // it would push out too much else (files this big are not inlined anyway)
    }
    if (const auto it = map_.find(key); it != map_.end()) {
        bytes_ -= it->second->entry->memory();
        lru_.erase(it->second);
        map_.erase(it);
    }
    while (!lru_.empty() && (map_.size() >= max_entries_ || bytes_ + size > max_bytes_)) {
        evict_one();
    }
    lru_.push_front({key, std::move(entry)});
    map_.emplace(key, lru_.begin());
    bytes_ += size;
}

void file_cache::evict_one() noexcept {
    const item& last = lru_.back();
    bytes_ -= last.entry->memory();
    map_.erase(last.key);
    lru_.pop_back();
}

}  // namespace pfd::handlers
