#include "handlers/fixed_answers.hpp"

#include <string>

#include "proto/conditional.hpp"

namespace pfd::handlers {

bool may_name_a_precondition(const proto::request_head& head) noexcept {
    for (std::size_t i = 0; i < head.header_count; ++i) {
        const std::string_view name = head.headers[i].name;
        if ((name.size() == 8 || name.size() == 13) && (name[0] | 0x20) == 'i') {
            return true;
        }
    }
    return false;
}

const proto::prepared_response* fixed_answers::instead_of_content(const proto::request_head& head) const noexcept {
    switch (answer_for(head.method)) {
        case get_like_answer::content: break;
        case get_like_answer::options: return options;
        case get_like_answer::not_allowed: return &errors->get(405);
    }
    if (may_name_a_precondition(head)) {
        try {
            std::string joined_match, joined_none_match;   // fields sent on several lines (RFC 9110 5.3)
            proto::conditional_request fields;
            fields.method = head.method;
            fields.if_match = head.combined_field("If-Match", joined_match);
            fields.if_none_match = head.combined_field("If-None-Match", joined_none_match);
            switch (proto::evaluate_preconditions(fields, etag, 0)) {
                case proto::precondition::pass: break;
                case proto::precondition::not_modified: return not_modified;
                case proto::precondition::failed: return &errors->get(412);
            }
        } catch (...) {
            return &errors->get(500);   // out of memory: this request, not the worker
        }
    }
    return nullptr;
}

}  // namespace pfd::handlers
