#pragma once
// Routes the worker answers itself (`builtin = ...` in a [[route]]): they see what a
// handler of handlers/ cannot, the scoreboard and the server's state.
//   health_routes.cpp  livez, readyz
//   metrics_route.cpp  metrics (Prometheus text, the whole scoreboard)
#include <memory>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"
#include "handlers/route_spec.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

struct serve_context;

struct builtin_context {
    const scoreboard* board = nullptr;     // every worker's entry and the master's part
    const worker_stats* self = nullptr;    // this worker's entry
    const serve_context* serve = nullptr;  // this worker's state (draining)
};

// The handler of a builtin route; null for a name this build does not know (the
// configuration has rejected it already).
std::unique_ptr<handlers::handler> make_builtin_route(const handlers::route_spec& spec, const builtin_context& ctx,
                                                      const handlers::error_pages& errors);

// Each in its own file.
std::unique_ptr<handlers::handler> make_livez_route(const builtin_context& ctx, const handlers::error_pages& errors);
std::unique_ptr<handlers::handler> make_readyz_route(const builtin_context& ctx, const handlers::error_pages& errors);
std::unique_ptr<handlers::handler> make_metrics_route(const builtin_context& ctx, const handlers::error_pages& errors);

}  // namespace pfd::worker
