// livez and readyz, for load balancers and Kubernetes probes.
#include <atomic>

#include "proto/response.hpp"
#include "worker/builtin_routes.hpp"
#include "worker/session.hpp"

namespace pfd::worker {

namespace {

// 200 while the loop runs: answering at all is the proof.
class livez final : public handlers::handler {
public:
    explicit livez(shared_answers answers) : answers_{answers} {}

    void on_head(handlers::exchange& ex, const proto::request_head& head) noexcept override {
        const proto::prepared_response* other = answers_.instead_of_content(head);
        ex.respond(other != nullptr ? *other : alive_);
        handlers::accept_body(ex, head);
    }

private:
    proto::prepared_response alive_{200, "text/plain", "ok\n", "Cache-Control: no-store\r\n"};
    builtin_answers answers_;
};

// 200 only while the current generation is ready and nothing is draining: a balancer
// stops sending new work here before anything is refused.
class readyz final : public handlers::handler {
public:
    readyz(const builtin_context& ctx, shared_answers answers) : ctx_{ctx}, answers_{answers} {}

    void on_head(handlers::exchange& ex, const proto::request_head& head) noexcept override {
        // Not ready: 503 to GET and HEAD, whatever their preconditions (RFC 9110 13.2.1).
        if (handlers::answer_for(head.method) == handlers::get_like_answer::content && !ready()) {
            ex.respond(draining() ? draining_ : starting_);
        } else if (const proto::prepared_response* other = answers_.instead_of_content(head)) {
            ex.respond(*other);
        } else {
            ex.respond(ready_);
        }
        handlers::accept_body(ex, head);
    }

private:
    [[nodiscard]] bool ready() const noexcept {
        const bool server_ready =
            ctx_.board->server().readiness.load(std::memory_order_relaxed) == server_readiness::ready;
        return server_ready && !ctx_.serve->draining;
    }
    // Why not: starting (the first generation is not ready yet) or draining.
    [[nodiscard]] bool draining() const noexcept {
        return ctx_.serve->draining ||
               ctx_.board->server().readiness.load(std::memory_order_relaxed) == server_readiness::draining;
    }

    builtin_context ctx_;
    proto::prepared_response ready_{200, "text/plain", "ready\n", "Cache-Control: no-store\r\n"};
    proto::prepared_response starting_{503, "text/plain", "not ready: starting\n", "Cache-Control: no-store\r\n"};
    proto::prepared_response draining_{503, "text/plain", "not ready: draining\n", "Cache-Control: no-store\r\n"};
    builtin_answers answers_;
};

}  // namespace

std::unique_ptr<handlers::handler> make_livez_route(const builtin_context&, shared_answers answers) {
    return std::make_unique<livez>(answers);
}

std::unique_ptr<handlers::handler> make_readyz_route(const builtin_context& ctx, shared_answers answers) {
    return std::make_unique<readyz>(ctx, answers);
}

}  // namespace pfd::worker
