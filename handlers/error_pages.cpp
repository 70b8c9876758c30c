#include "handlers/error_pages.hpp"

#include <iterator>
#include <string>

namespace pfd::handlers {

namespace {
constexpr int statuses[] = {400, 403, 404, 405, 408, 412, 413, 414, 416, 417, 431, 500, 501, 503, 504, 505};
}

error_pages::error_pages() {
    pages_.reserve(std::size(statuses));
    for (int status : statuses) {
        pages_.push_back(with_fields(status, status == 405 ? allow_get_head_options : ""));
    }
}

proto::prepared_response error_pages::with_fields(int status, std::string_view extra_headers) {
    std::string body{proto::reason_phrase(status)};
    body += '\n';
    return {status, "text/plain", std::move(body), extra_headers};
}

const proto::prepared_response& error_pages::get(int status) const noexcept {
    for (const auto& p : pages_) {
        if (p.status() == status) {
            return p;
        }
    }
    return get(500);
}

}  // namespace pfd::handlers
