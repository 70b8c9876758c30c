#include "proto/router.hpp"

namespace pfd::proto {

namespace {
constexpr int error_statuses[] = {400, 404, 405, 408, 413, 414, 417, 431, 500, 501, 503, 505};
// Routes answer GET and HEAD, and OPTIONS about them (RFC 9110 9.3.7, 15.5.6).
constexpr std::string_view allow_header = "Allow: GET, HEAD, OPTIONS\r\n";
}

router::router(const std::vector<route_spec>& routes) : options_{200, "", "", allow_header} {
    routes_.reserve(routes.size());
    for (const auto& r : routes) {
        routes_.push_back({r.path, prepared_response{200, r.content_type, r.body}});
    }
    errors_.reserve(std::size(error_statuses));
    for (int status : error_statuses) {
        std::string body{reason_phrase(status)};
        body += '\n';
        errors_.emplace_back(status, "text/plain", std::move(body), status == 405 ? allow_header : "");
    }
}

const prepared_response& router::find(std::string_view path) const noexcept {
    // A handful of routes: a linear scan over short strings beats hashing.
    for (const auto& r : routes_) {
        if (r.path == path) {
            return r.response;
        }
    }
    return error(404);
}

const prepared_response& router::options_for(std::string_view path) const noexcept {
    const prepared_response& r = find(path);
    return r.status() == 404 ? r : options_;
}

const prepared_response& router::error(int status) const noexcept {
    for (const auto& e : errors_) {
        if (e.status() == status) {
            return e;
        }
    }
    return error(500);
}

}  // namespace pfd::proto
