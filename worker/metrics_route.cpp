// The metrics route: Prometheus text for the whole scoreboard, rendered by any worker.
#include "worker/builtin_routes.hpp"

namespace pfd::worker {

// Being written (issue 15): until then a metrics route is absent (404).
std::unique_ptr<handlers::handler> make_metrics_route(const builtin_context&, const handlers::error_pages&) {
    return nullptr;
}

}  // namespace pfd::worker
