#pragma once
// One request's answer as its handler gives it to the worker. A handler never writes
// to a socket: it names a body source, and the worker sends it. The worker then adds
// what only it knows (the Date, whether the connection stays open).
#include <cstdint>
#include <utility>

#include "proto/response.hpp"

namespace pfd::handlers {

// Where the bytes of an answer come from.
enum class body_source : std::uint8_t {
    none,      // not answered yet
    prepared,  // a prepared_response the handler keeps alive (fixed routes, error pages)
};

class exchange {
public:
    // A fresh exchange for the next request; HEAD is answered without body bytes.
    void begin(bool head_only) noexcept {
        prepared_ = nullptr;
        head_only_ = head_only;
        continue_ = false;
    }

    // The whole answer, from bytes prepared in advance; `r` must outlive the request.
    void respond(const proto::prepared_response& r) noexcept {
        prepared_ = &r;
    }
    // The client sent "Expect: 100-continue" and the handler wants its body (RFC 9110
    // 10.1.1): the worker sends the interim response before reading on.
    void send_continue() noexcept { continue_ = true; }

    [[nodiscard]] bool head_only() const noexcept { return head_only_; }
    [[nodiscard]] body_source source() const noexcept {
        return prepared_ != nullptr ? body_source::prepared : body_source::none;
    }
    [[nodiscard]] const proto::prepared_response* prepared() const noexcept { return prepared_; }
    // Taken by the worker once: true if the handler asked for a 100 Continue since.
    [[nodiscard]] bool take_continue() noexcept { return std::exchange(continue_, false); }

private:
    const proto::prepared_response* prepared_ = nullptr;
    bool head_only_ = false;
    bool continue_ = false;
};

}  // namespace pfd::handlers
