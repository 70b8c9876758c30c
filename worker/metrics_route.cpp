// The metrics route: Prometheus text for the whole scoreboard, rendered by any worker
// (every worker maps the whole board, and the folds of exited workers are read
// consistently: worker/scoreboard.hpp snapshot()).
#include <string>

#include "handlers/method_policy.hpp"
#include "worker/builtin_routes.hpp"
#include "worker/metrics_text.hpp"

namespace pfd::worker {

namespace {

class metrics_route final : public handlers::handler {
public:
    metrics_route(const builtin_context& ctx, shared_answers answers) : board_{ctx.board}, answers_{answers} {}

    void on_head(handlers::exchange& ex, const proto::request_head& head) noexcept override {
        handlers::accept_body(ex, head);
        if (const proto::prepared_response* other = answers_.instead_of_content(head)) {
            ex.respond(*other);
            return;
        }
        try {
            // A HEAD is rendered too: its Content-Length is the GET's.
            const std::string body = render_metrics(*board_);
            proto::response_head& h = ex.start(200);
            h.add("Content-Type", metrics_content_type);
            h.add("Cache-Control", "no-store");
            h.add_content_length(body.size());
            ex.write(body);
            ex.finish();
        } catch (...) {
            ex.respond(answers_.errors().get(500));   // out of memory
        }
    }

private:
    const scoreboard* board_;
    builtin_answers answers_;
};

}  // namespace

std::unique_ptr<handlers::handler> make_metrics_route(const builtin_context& ctx, shared_answers answers) {
    if (ctx.board == nullptr) {
        return nullptr;
    }
    return std::make_unique<metrics_route>(ctx, answers);
}

}  // namespace pfd::worker
