#include "handlers/fixed_route.hpp"

#include "handlers/method_policy.hpp"

namespace pfd::handlers {

fixed_route::fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                         const error_pages& errors)
    : content_{200, content_type, std::move(body)}, options_{&options}, errors_{&errors} {}

void fixed_route::on_head(exchange& ex, const proto::request_head& head) noexcept {
    switch (answer_for(head.method)) {
        case get_like_answer::content: ex.respond(content_); break;
        case get_like_answer::options: ex.respond(*options_); break;
        case get_like_answer::not_allowed: ex.respond(errors_->get(405)); break;
    }
    accept_body(ex, head);
}

void not_found::on_head(exchange& ex, const proto::request_head& head) noexcept {
    // CONNECT's authority-form names no path: no resource here takes it (405, with Allow).
    ex.respond(errors_->get(head.method == proto::method::connect ? 405 : 404));
    accept_body(ex, head);
}

void server_options::on_head(exchange& ex, const proto::request_head& head) noexcept {
    ex.respond(*options_);
    accept_body(ex, head);
}

}  // namespace pfd::handlers
