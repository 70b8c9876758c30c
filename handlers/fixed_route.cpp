#include "handlers/fixed_route.hpp"

#include "handlers/method_policy.hpp"
#include "proto/conditional.hpp"

namespace pfd::handlers {

fixed_route::fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                         const error_pages& errors)
    : content_{200, content_type, std::move(body)}, options_{&options}, errors_{&errors} {}

namespace {

// Whether a field may be If-Match or If-None-Match, by length and first letter: this runs
// for every request to the route, and the common one has neither.
bool may_name_a_precondition(const proto::request_head& head) noexcept {
    for (std::size_t i = 0; i < head.header_count; ++i) {
        const std::string_view name = head.headers[i].name;
        if ((name.size() == 8 || name.size() == 13) && (name[0] | 0x20) == 'i') {
            return true;
        }
    }
    return false;
}

}  // namespace

void fixed_route::on_head(exchange& ex, const proto::request_head& head) noexcept {
    switch (answer_for(head.method)) {
        case get_like_answer::content:
            if (may_name_a_precondition(head)) [[unlikely]] {
                answer_conditionally(ex, head);
            } else {
                ex.respond(content_);
            }
            break;
        case get_like_answer::options: ex.respond(*options_); break;
        case get_like_answer::not_allowed: ex.respond(errors_->get(405)); break;
    }
    accept_body(ex, head);
}

void fixed_route::answer_conditionally(exchange& ex, const proto::request_head& head) noexcept {
    try {
        std::string joined_match, joined_none_match;   // fields sent on several lines (RFC 9110 5.3)
        proto::conditional_request fields;
        fields.method = head.method;
        fields.if_match = head.combined_field("If-Match", joined_match);
        fields.if_none_match = head.combined_field("If-None-Match", joined_none_match);
        switch (proto::evaluate_preconditions(fields, {}, 0)) {
            case proto::precondition::pass: ex.respond(content_); break;
            case proto::precondition::not_modified: ex.respond(not_modified_); break;
            case proto::precondition::failed: ex.respond(errors_->get(412)); break;
        }
    } catch (...) {
        ex.respond(errors_->get(500));   // out of memory: this request, not the worker
    }
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
