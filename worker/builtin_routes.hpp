#pragma once
// Routes the worker answers itself (`builtin = ...` in a [[route]]): they see what a
// handler of handlers/ cannot, the scoreboard and the server's state.
//   health_routes.cpp  livez, readyz
//   metrics_route.cpp  metrics (Prometheus text, the whole scoreboard)
#include <memory>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"
#include "handlers/method_policy.hpp"
#include "handlers/route_spec.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

struct serve_context;

struct builtin_context {
    const scoreboard* board = nullptr;     // every worker's entry and the master's part
    const worker_stats* self = nullptr;    // this worker's entry
    const serve_context* serve = nullptr;  // this worker's state (draining)
};

// The worker's prepared answers a builtin route gives besides its own: errors (405, 500)
// and OPTIONS's (Allow: GET, HEAD, OPTIONS, RFC 9110 9.3.7).
struct shared_answers {
    const handlers::error_pages* errors;
    const proto::prepared_response* options;

    // The prepared answer for a method other than GET and HEAD; null for those two.
    [[nodiscard]] const proto::prepared_response* for_method(proto::method m) const noexcept {
        switch (handlers::answer_for(m)) {
            case handlers::get_like_answer::content: return nullptr;
            case handlers::get_like_answer::options: return options;
            case handlers::get_like_answer::not_allowed: return &errors->get(405);
        }
        return nullptr;
    }
};

// The handler of a builtin route; null for a name this build does not know (the
// configuration has rejected it already).
std::unique_ptr<handlers::handler> make_builtin_route(const handlers::route_spec& spec, const builtin_context& ctx,
                                                      shared_answers answers);

// Each in its own file.
std::unique_ptr<handlers::handler> make_livez_route(const builtin_context& ctx, shared_answers answers);
std::unique_ptr<handlers::handler> make_readyz_route(const builtin_context& ctx, shared_answers answers);
std::unique_ptr<handlers::handler> make_metrics_route(const builtin_context& ctx, shared_answers answers);

}  // namespace pfd::worker
