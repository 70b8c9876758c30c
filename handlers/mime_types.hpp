#pragma once
// Content-Type of a file from its extension: a built-in table of common types, with the
// configuration's [mime] over it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/route_spec.hpp"

namespace pfd::handlers {

class mime_types {
public:
    static constexpr std::string_view fallback = "application/octet-stream";

    // The built-in table, then `overrides` (extension without the dot -> media type):
    // an extension already known takes the override's type, a new one is added.
    explicit mime_types(const mime_overrides& overrides = {});

    // The whole Content-Type value for a file name or path, by the last extension of its
    // last segment, ASCII case-insensitively: "a/b.CSS" -> "text/css; charset=utf-8".
    // No extension ("README", ".env", "x.") or an unknown one: `fallback`.
    // Points into this object; no allocation.
    [[nodiscard]] std::string_view content_type(std::string_view file_name) const noexcept;

    // The same for an extension alone (without the dot).
    [[nodiscard]] std::string_view for_extension(std::string_view ext) const noexcept;

    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

    // `type` as sent: with "; charset=utf-8" added to text/*, JavaScript, JSON and XML
    // types (also +json and +xml ones) unless it names a charset already.
    static std::string with_charset(std::string_view type);

private:
    struct entry {
        std::string ext;           // lower case
        std::string content_type;  // complete header value
    };

    void set(std::string_view ext, std::string_view type);
    [[nodiscard]] const entry* find(std::string_view ext) const noexcept;
    void rebuild_index();

    std::vector<entry> entries_;
    // Open addressing over entries_: index + 1, 0 = empty; size a power of two, at most
    // half full, so a miss ends within a probe or two.
    std::vector<std::uint32_t> slots_;
};

}  // namespace pfd::handlers
