#pragma once
// Routes the worker answers itself (`builtin = ...` in a [[route]]): they see what a
// handler of handlers/ cannot, the scoreboard and the server's state.
//   health_routes.cpp  livez, readyz
//   metrics_route.cpp  metrics (Prometheus text, the whole scoreboard)
#include <memory>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"
#include "handlers/fixed_answers.hpp"
#include "handlers/route_spec.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

struct serve_context;

struct builtin_context {
    const scoreboard* board = nullptr;     // every worker's entry and the master's part
    const worker_stats* self = nullptr;    // this worker's entry
    const serve_context* serve = nullptr;  // this worker's state (draining)
};

// The worker's prepared answers a builtin route gives besides its own: errors (405, 412,
// 500) and OPTIONS's (Allow: GET, HEAD, OPTIONS, RFC 9110 9.3.7).
struct shared_answers {
    const handlers::error_pages* errors;
    const proto::prepared_response* options;
};

// A builtin's answers besides its 200, for a resource without validators that is never
// stored (handlers::fixed_answers, no ETag): the shared ones, and its own 304.
class builtin_answers {
public:
    explicit builtin_answers(shared_answers shared) noexcept
        : answers_{shared.errors, shared.options, &not_modified_, {}} {}
    builtin_answers(const builtin_answers&) = delete;   // answers_ points at not_modified_
    builtin_answers& operator=(const builtin_answers&) = delete;

    // Null: the route's own 200.
    [[nodiscard]] const proto::prepared_response* instead_of_content(const proto::request_head& head) const noexcept {
        return answers_.instead_of_content(head);
    }
    [[nodiscard]] const handlers::error_pages& errors() const noexcept { return *answers_.errors; }

private:
    proto::prepared_response not_modified_{304, {}, {}, "Cache-Control: no-store\r\n"};
    handlers::fixed_answers answers_;
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
