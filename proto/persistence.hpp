#pragma once
// Whether a connection stays open after an answer, and what the answer says about it
// (RFC 9112 9.3): HTTP/1.1 persists unless either side says close; HTTP/1.0 only when
// the client asked for keep-alive, and the answer then says so.
#include "proto/request.hpp"
#include "proto/response.hpp"

namespace pfd::proto {

// server_closes: the server ends the connection after this answer whatever the client
// asked (a graceful stop, the per-connection request limit).
constexpr connection_header answer_connection(const request_head& head, bool server_closes) noexcept {
    if (!head.keep_alive || server_closes) {
        return connection_header::close;
    }
    return head.version_minor == 0 ? connection_header::keep_alive : connection_header::none;
}

}  // namespace pfd::proto
