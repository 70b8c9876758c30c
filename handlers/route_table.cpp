#include "handlers/route_table.hpp"

#include <algorithm>

#include "proto/bytes_equal.hpp"

namespace pfd::handlers {

route_table::route_table(const std::vector<route_spec>& routes, const mime_overrides& mime, offload* helpers,
                         unsigned worker_slot, message_sender* messages, std::atomic<std::uint32_t>* in_module,
                         const builtin_factory& builtins, const proto::date_cache* date)
    : options_{200, "", "", allow_get_head_options}, mime_{mime}, not_found_{errors_}, server_options_{options_} {
    routes_.reserve(routes.size());
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const route_spec& r = routes[i];
        if (!r.builtin.empty()) {
            std::unique_ptr<handler> h = builtins ? builtins(r, errors_, options_) : nullptr;
            if (h == nullptr) {
                // Without the worker (unit tests): such a route is not there.
                continue;
            }
            routes_.push_back({r.path, std::move(h)});
        } else if (r.module != nullptr) {
            const module_watch watch{in_module, static_cast<std::uint32_t>(i + 1)};
            auto h = std::make_unique<module_route>(r, helpers, errors_, worker_slot, messages, watch);
            modules_.push_back(h.get());
            if (r.prefix.empty()) {
                routes_.push_back({r.path, std::move(h)});
            } else {
                prefix_routes_.push_back({r.prefix, std::move(h)});
            }
        } else if (r.files.has_value()) {
            prefix_routes_.push_back({r.prefix, std::make_unique<static_files>(r, mime_, helpers, errors_, options_, date)});
        } else {
            routes_.push_back({r.path, std::make_unique<fixed_route>(r.content_type, r.body, options_, errors_)});
        }
    }
    std::stable_sort(prefix_routes_.begin(), prefix_routes_.end(),
                     [](const auto& a, const auto& b) { return a.prefix.size() > b.prefix.size(); });
}

void route_table::add(std::string path, std::unique_ptr<handler> h) {
    routes_.push_back({std::move(path), std::move(h)});
}

void route_table::deliver_message(std::span<const char> data) noexcept {
    for (module_route* m : modules_) {
        m->on_message(data);
    }
}

handler& route_table::find(const proto::request_head& head) noexcept {
    if (head.form == proto::target_form::asterisk && head.method == proto::method::options) {
        return server_options_;
    }
    // A handful of routes: a linear scan over short strings beats hashing.
    for (const auto& r : routes_) {
        if (proto::bytes_equal(r.path, head.path)) {
            return *r.answer;
        }
    }
    // CONNECT's authority-form names no path, and "" would pass a "/" prefix's test below:
    // no route holds it (not_found answers 405).
    if (head.path.empty()) {
        return not_found_;
    }
    for (const auto& p : prefix_routes_) {
        const std::string_view prefix = p.prefix;
        if (head.path.starts_with(prefix) || head.path == prefix.substr(0, prefix.size() - 1)) {
            return *p.answer;
        }
    }
    return not_found_;
}

}  // namespace pfd::handlers
