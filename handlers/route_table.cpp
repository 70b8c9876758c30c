#include "handlers/route_table.hpp"

namespace pfd::handlers {

route_table::route_table(const std::vector<route_spec>& routes)
    : options_{200, "", "", allow_get_head_options}, not_found_{errors_}, server_options_{options_} {
    routes_.reserve(routes.size());
    for (const auto& r : routes) {
        routes_.push_back({r.path, std::make_unique<fixed_route>(r.content_type, r.body, options_, errors_)});
    }
}

void route_table::add(std::string path, std::unique_ptr<handler> h) {
    routes_.push_back({std::move(path), std::move(h)});
}

handler& route_table::find(const proto::request_head& head) noexcept {
    if (head.form == proto::target_form::asterisk && head.method == proto::method::options) {
        return server_options_;
    }
    // A handful of routes: a linear scan over short strings beats hashing.
    for (const auto& r : routes_) {
        if (r.path == head.path) {
            return *r.answer;
        }
    }
    return not_found_;
}

}  // namespace pfd::handlers
