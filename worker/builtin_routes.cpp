#include "worker/builtin_routes.hpp"

#include <string_view>

namespace pfd::worker {

std::unique_ptr<handlers::handler> make_builtin_route(const handlers::route_spec& spec, const builtin_context& ctx,
                                                      const handlers::error_pages& errors) {
    const std::string_view name = spec.builtin;
    if (name == "livez") {
        return make_livez_route(ctx, errors);
    }
    if (name == "readyz") {
        return make_readyz_route(ctx, errors);
    }
    if (name == "metrics") {
        return make_metrics_route(ctx, errors);
    }
    return nullptr;
}

}  // namespace pfd::worker
