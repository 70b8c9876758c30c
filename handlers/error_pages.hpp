#pragma once
// The short text/plain answers for error statuses (400, 404, 405, 408, 413, 414, 417,
// 431, 500, 501, 503, 505), prepared once per worker.
#include <vector>

#include "proto/response.hpp"

namespace pfd::handlers {

// Every resource preforkd serves allows these (RFC 9110 9.3.7, 15.5.6).
inline constexpr std::string_view allow_get_head_options = "Allow: GET, HEAD, OPTIONS\r\n";

class error_pages {
public:
    error_pages();
    // The page for `status`; 500's for a status without one.
    [[nodiscard]] const proto::prepared_response& get(int status) const noexcept;
    // The same page with more fields (whole lines, each ending in CRLF), for a resource
    // whose answer has them too (a Vary).
    [[nodiscard]] static proto::prepared_response with_fields(int status, std::string_view extra_headers);

private:
    std::vector<proto::prepared_response> pages_;
};

}  // namespace pfd::handlers
