#pragma once
// The routes of a worker, built from the configuration: which handler answers a
// request. Routes are matched on the path part of the target (the query is ignored):
// an exact path first, then the file route with the longest prefix (its prefix without
// the final '/' too, which is redirected to add it).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "handlers/error_pages.hpp"
#include "handlers/fixed_route.hpp"
#include "handlers/handler.hpp"
#include "handlers/mime_types.hpp"
#include "handlers/module_route.hpp"
#include "handlers/offload.hpp"
#include "handlers/route_spec.hpp"
#include "handlers/static_files.hpp"

namespace pfd::handlers {

// Makes the handler of a route answered by the worker itself (route_spec::builtin),
// which sees what a handler cannot (the scoreboard, the server's readiness). `options`:
// the answer to OPTIONS of a resource that allows GET, HEAD and OPTIONS.
using builtin_factory = std::function<std::unique_ptr<handler>(const route_spec&, const error_pages&,
                                                               const proto::prepared_response& options)>;

class route_table {
public:
    // `helpers`: where file routes look files up (may be null in tests: they answer 503).
    // `messages`: where module routes' send_message goes (null: PFD_EINVAL). `date`: the
    // Date the worker's answers carry (null: the clock's).
    explicit route_table(const std::vector<route_spec>& routes, const mime_overrides& mime = {},
                         offload* helpers = nullptr, unsigned worker_slot = 0, message_sender* messages = nullptr,
                         std::atomic<std::uint32_t>* in_module = nullptr, const builtin_factory& builtins = {},
                         const proto::date_cache* date = nullptr);
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

    // A route answered by `h` (exact path); routes added later do not shadow earlier ones.
    void add(std::string path, std::unique_ptr<handler> h);

    [[nodiscard]] handler& find(const proto::request_head& head) noexcept;
    // A message between workers, to every module route's on_message, in route order.
    void deliver_message(std::span<const char> data) noexcept;
    [[nodiscard]] const error_pages& errors() const noexcept { return errors_; }
    // The most one request's answer adds to a connection's output (bytes, not file ranges).

private:
    struct entry {
        std::string path;
        std::unique_ptr<handler> answer;
    };
    error_pages errors_;
    proto::prepared_response options_;
    mime_types mime_;
    std::vector<entry> routes_;
    struct prefix_entry {
        std::string prefix;
        std::unique_ptr<handler> answer;
    };
    std::vector<prefix_entry> prefix_routes_;   // files and modules, longest prefix first
    std::vector<module_route*> modules_;        // in routes_ and prefix_routes_, in config order
    not_found not_found_;
    server_options server_options_;
};

}  // namespace pfd::handlers
