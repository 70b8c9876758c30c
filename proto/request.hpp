#pragma once
// The head of one HTTP/1.x request: views into bytes owned by the parser's caller
// (or by the parser's own head buffer when a head arrived in several reads).
#include <array>
#include <cstdint>
#include <string_view>

namespace pfd::proto {

struct header {
    std::string_view name;
    std::string_view value;
};

enum class method : std::uint8_t { get, head, post, put, del, options, other };

struct request_head {
    static constexpr std::size_t max_headers = 100;

    std::string_view method_name;
    proto::method method = method::other;
    std::string_view target;
    std::uint8_t version_major = 1;
    std::uint8_t version_minor = 1;
    bool keep_alive = true;     // after this request, per version and Connection
    std::array<header, max_headers> headers{};
    std::uint16_t header_count = 0;

    // The path part of an origin-form target (no query).
    [[nodiscard]] std::string_view path() const noexcept {
        auto q = target.find('?');
        return q == std::string_view::npos ? target : target.substr(0, q);
    }
    [[nodiscard]] std::string_view find_header(std::string_view name) const noexcept;
};

bool iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace pfd::proto
