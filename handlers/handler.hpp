#pragma once
// The seam between a connection and whatever answers its requests. The worker owns
// all I/O and decides whether the connection stays open; a handler only decides what
// to answer: it sees the request head, then the body bytes as they arrive, then the
// end of the request, and tells its exchange what to send.
#include <span>

#include "handlers/exchange.hpp"
#include "proto/request.hpp"

namespace pfd::handlers {

class handler {
public:
    handler() = default;
    handler(const handler&) = delete;
    handler& operator=(const handler&) = delete;
    virtual ~handler() = default;

    // The head is complete. Its views are valid during this call only: copy what is kept.
    virtual void on_head(exchange& ex, const proto::request_head& head) noexcept = 0;
    // Body bytes, de-chunked, in order; valid during this call only. Most handlers of
    // GET-like resources ignore them.
    virtual void on_body(exchange& ex, std::span<const char> bytes) noexcept {
        static_cast<void>(ex);
        static_cast<void>(bytes);
    }
    // The whole request has arrived. The exchange must be answered by the end of this
    // call (the default, for handlers that answer at the head), else the client gets 500.
    virtual void on_complete(exchange& ex) noexcept { static_cast<void>(ex); }
    // The client went away, or the connection failed, before the request was answered:
    // the handler must not touch `ex` after this.
    virtual void on_abort(exchange& ex) noexcept { static_cast<void>(ex); }
};

}  // namespace pfd::handlers
