#pragma once
// What a resource that only serves content (fixed, builtin and file routes) does with each
// method: GET and HEAD get the content, OPTIONS the Allow list, the rest 405
// (RFC 9110 9.3.7, 15.5.6).
#include <cstdint>

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

}  // namespace pfd::handlers
