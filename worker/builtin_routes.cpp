#include "worker/builtin_routes.hpp"

#include <string_view>

namespace pfd::worker {

std::unique_ptr<handlers::handler> make_builtin_route(const handlers::route_spec& spec, const builtin_context& ctx,
                                                      shared_answers answers) {
    const std::string_view name = spec.builtin;
    if (name == "livez") {
        return make_livez_route(ctx, answers);
    }
    if (name == "readyz") {
        return make_readyz_route(ctx, answers);
    }
    if (name == "metrics") {
        return make_metrics_route(ctx, answers);
    }
    return nullptr;
}

}  // namespace pfd::worker
