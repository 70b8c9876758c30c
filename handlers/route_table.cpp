#include "handlers/route_table.hpp"

#include <algorithm>

namespace pfd::handlers {

namespace {
// An answer's head: status line, Server, Date, Content-Type, Content-Length, Allow, and a
// file's ETag, Last-Modified, Cache-Control, Vary, Content-Encoding, Accept-Ranges, and
// Connection; with a 100 Continue before it.
constexpr std::size_t head_and_continue = 768;
}

route_table::route_table(const std::vector<route_spec>& routes, const mime_overrides& mime, offload* helpers,
                         unsigned worker_slot, message_sender* messages)
    : options_{200, "", "", allow_get_head_options}, mime_{mime}, not_found_{errors_}, server_options_{options_} {
    routes_.reserve(routes.size());
    std::size_t body = 64;   // error pages
    for (const auto& r : routes) {
        if (r.module != nullptr) {
            auto h = std::make_unique<module_route>(r, helpers, errors_, worker_slot, messages);
            modules_.push_back(h.get());
            if (r.prefix.empty()) {
                routes_.push_back({r.path, std::move(h)});
            } else {
                prefix_routes_.push_back({r.prefix, std::move(h)});
            }
            body = std::max<std::size_t>(body, 4096);   // a module's answers are copied as they come
        } else if (r.files.has_value()) {
            prefix_routes_.push_back({r.prefix, std::make_unique<static_files>(r, mime_, helpers, errors_, options_)});
            // A small file's bytes, or a few multipart heads between ranges of it.
            body = std::max<std::size_t>(body, inline_file_max + 2048 + r.files->cache_control.size());
        } else {
            routes_.push_back({r.path, std::make_unique<fixed_route>(r.content_type, r.body, options_, errors_)});
            body = std::max(body, r.body.size() + r.content_type.size());
        }
    }
    std::stable_sort(prefix_routes_.begin(), prefix_routes_.end(),
                     [](const auto& a, const auto& b) { return a.prefix.size() > b.prefix.size(); });
    max_answer_bytes_ = head_and_continue + body;
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
        if (r.path == head.path) {
            return *r.answer;
        }
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
