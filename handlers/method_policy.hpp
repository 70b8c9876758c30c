#pragma once
// What a resource that only serves content (fixed, builtin and file routes) does with each
// method: GET and HEAD get the content, OPTIONS the Allow list, the rest 405
// (RFC 9110 9.3.7, 15.5.6); and the preconditions of one with a single answer.
#include <cstdint>

#include "handlers/error_pages.hpp"
#include "handlers/exchange.hpp"
#include "proto/request.hpp"

namespace pfd::handlers {

enum class get_like_answer : std::uint8_t { content, options, not_allowed };

constexpr get_like_answer answer_for(proto::method m) noexcept {
    switch (m) {
        case proto::method::get:
        case proto::method::head:
            return get_like_answer::content;
        case proto::method::options:
            return get_like_answer::options;
        case proto::method::post:
        case proto::method::put:
        case proto::method::del:
        case proto::method::connect:
        case proto::method::other:
            return get_like_answer::not_allowed;
    }
    return get_like_answer::not_allowed;
}

// A body these resources discard is still asked for when the client waits to send it:
// refusing it instead would turn the answer into a 417 the client did not cause.
inline void accept_body(exchange& ex, const proto::request_head& head) noexcept {
    if (head.expect_continue) {
        ex.send_continue();
    }
}

// Whether a field may be If-Match or If-None-Match, by length and first letter only: a
// fixed route runs this for every request, and the common one has neither.
[[nodiscard]] bool may_name_a_precondition(const proto::request_head& head) noexcept;

// The answers of a resource that has one 200 and no Last-Modified (a fixed route, livez,
// readyz, metrics) besides that 200.
struct fixed_answers {
    const error_pages* errors;
    const proto::prepared_response* options;        // 200 with Allow
    const proto::prepared_response* not_modified;   // 304 with the 200's ETag and Cache-Control
    std::string_view etag;                          // the 200's strong ETag; "" for none

    // What answers this request instead of the 200; null: the 200. OPTIONS gets Allow,
    // other methods than GET and HEAD 405, neither evaluating preconditions (RFC 9110
    // 13.2.1: OPTIONS selects no representation, a 405 is not 2xx). For GET and HEAD,
    // If-Match and If-None-Match are evaluated against `etag` (13.1.1, 13.1.2: without
    // one, only "*" matches): 412 or 304; the dates are ignored (13.1.3, 13.1.4).
    [[nodiscard]] const proto::prepared_response* instead_of_content(const proto::request_head& head) const noexcept;
};

}  // namespace pfd::handlers
