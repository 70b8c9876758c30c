#pragma once
// The request head almost every client sends, read in one pass without llhttp: GET,
// HEAD, POST, PUT, DELETE or OPTIONS of an origin-form target of plain URI characters,
// HTTP/1.0 or 1.1, CRLF line ends, field names that are tokens and values of visible
// ASCII, SP and HTAB, one valid Host, at most one Connection (exactly "close" or
// "keep-alive"), and none of the fields that frame a body or change the protocol
// (Content-Length, Transfer-Encoding, Upgrade, Expect, Proxy-Connection), all within the
// limits. The whole head must be in the bytes given.
//
// Anything else is declined, and request_parser has llhttp read the same bytes: this
// path never refuses a request, and for every head it takes it gives what the llhttp
// path gives (the RFC table tests and the fuzzer run both paths over the same bytes).
// It exists for speed: llhttp's callbacks, and the checks that go over the head again
// once it is complete, cost about 1,200 instructions for a small GET; this is a fifth.
#include <array>
#include <cstddef>
#include <string_view>

#include "proto/request.hpp"

namespace pfd::proto {

// What a connection's earlier heads showed valid: a client sends the same Host with
// every request, so it is compared, not checked again.
struct simple_head_memo {
    std::array<char, 64> host{};
    std::size_t host_size = 0;   // 0: none yet (an empty Host is refused, so never remembered)
};

// The length of the head at the start of `bytes` (through its empty line), with `head`
// filled in (views into `bytes`); 0 when declined (`head` is then partly written).
[[nodiscard]] std::size_t read_simple_head(std::string_view bytes, const parser_limits& limits, request_head& head,
                                           simple_head_memo& memo) noexcept;

}  // namespace pfd::proto
