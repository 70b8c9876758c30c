#include "handlers/fixed_route.hpp"

#include "handlers/method_policy.hpp"

namespace pfd::handlers {

fixed_route::fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                         const error_pages& errors)
    : content_{200, content_type, std::move(body)}, answers_{&errors, &options, &not_modified_} {}

void fixed_route::on_head(exchange& ex, const proto::request_head& head) noexcept {
    if (answer_for(head.method) == get_like_answer::content && !may_name_a_precondition(head)) [[likely]] {
        ex.respond(content_);
    } else {
        answer_otherwise(ex, head);
    }
    accept_body(ex, head);
}

void fixed_route::answer_otherwise(exchange& ex, const proto::request_head& head) noexcept {
    const proto::prepared_response* other = answers_.instead_of_content(head);
    ex.respond(other != nullptr ? *other : content_);
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
