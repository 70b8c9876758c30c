#include "proto/chunked_decoder.hpp"

#include <algorithm>

#include "proto/http_chars.hpp"

namespace pfd::proto {

void chunked_decoder::start(chunked_limits limits) noexcept {
    limits_ = limits;
    state_ = state::size_first;
    chunk_left_ = 0;
    size_overflows_ = false;
    body_bytes_ = 0;
    line_bytes_ = 0;
    trailer_bytes_ = 0;
    trailer_fields_ = 0;
    error_status_ = 0;
    error_reason_ = "";
}

chunked_decoder::progress chunked_decoder::feed(std::span<const char> bytes) noexcept {
    std::size_t i = 0;
    while (i < bytes.size()) {
        if (state_ == state::data) {
            // The bulk of a body: handed out as it lies, without looking at it.
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, bytes.size() - i));
            chunk_left_ -= n;
            if (chunk_left_ == 0) {
                state_ = state::data_cr;
            }
            return {status::data, i + n, bytes.subspan(i, n)};
        }
        if (!step(bytes[i])) {
            return {status::error, i};
        }
        ++i;
        if (state_ == state::done) {
            return {status::done, i};
        }
    }
    return {status::need_more, i};
}

bool chunked_decoder::fail(int status_code, const char* reason) noexcept {
    state_ = state::failed;
    error_status_ = status_code;
    error_reason_ = reason;
    return false;
}

bool chunked_decoder::step(char c) noexcept {
    const bool in_size_line = state_ <= state::size_line_lf;
    if (in_size_line && ++line_bytes_ > limits_.max_line) {
        return fail(400, "chunk-size line too long");
    }
    const bool in_trailers = state_ >= state::trailer_start && state_ <= state::last_lf;
    if (in_trailers && ++trailer_bytes_ > limits_.max_trailer_bytes) {
        return fail(431, "trailer fields too large");
    }
    switch (state_) {
        case state::size_first:
        case state::size: {
            if (is_hex(c)) {
                // Read to its end (the line is bounded) to tell a number no 64 bits hold, a
                // malformed size (400), from one over the body limit (413).
                if (chunk_left_ > (UINT64_MAX >> 4)) {
                    size_overflows_ = true;
                }
                chunk_left_ = chunk_left_ * 16 + hex_value(c);
                state_ = state::size;
                return true;
            }
            if (state_ == state::size_first) {
                return fail(400, "invalid chunk size");
            }
            // Refused on the size line, before any of the chunk's data arrives.
            if (size_overflows_) {
                return fail(400, "chunk size over 64 bits");
            }
            if (chunk_left_ > limits_.max_body_bytes - body_bytes_) {
                return fail(413, "request body too large");
            }
            if (c == ';') {
                state_ = state::ext_name_start;
            } else if (is_ws(c)) {
                state_ = state::ext_ws;
            } else if (c == '\r') {
                state_ = state::size_line_lf;
            } else {
                return fail(400, "invalid chunk size");
            }
            return true;
        }
        case state::ext_ws:
            // BWS is allowed only before ';' (RFC 9112 7.1.1), not before the CRLF.
            if (c == ';') {
                state_ = state::ext_name_start;
            } else if (!is_ws(c)) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_name_start:
            if (is_tchar(c)) {
                state_ = state::ext_name;
            } else if (!is_ws(c)) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_name:
        case state::ext_name_ws:
            if (c == '=') {
                state_ = state::ext_value_start;
            } else if (c == ';') {
                state_ = state::ext_name_start;
            } else if (is_ws(c)) {
                state_ = state::ext_name_ws;
            } else if (c == '\r' && state_ == state::ext_name) {
                state_ = state::size_line_lf;
            } else if (!is_tchar(c) || state_ == state::ext_name_ws) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_value_start:
            if (c == '"') {
                state_ = state::ext_quoted;
            } else if (is_tchar(c)) {
                state_ = state::ext_token;
            } else if (!is_ws(c)) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_token:
        case state::ext_after_value:
            if (c == ';') {
                state_ = state::ext_name_start;
            } else if (is_ws(c)) {
                state_ = state::ext_ws;
            } else if (c == '\r') {
                state_ = state::size_line_lf;
            } else if (!is_tchar(c) || state_ == state::ext_after_value) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_quoted:
            if (c == '"') {
                state_ = state::ext_after_value;
            } else if (c == '\\') {
                state_ = state::ext_quoted_pair;
            } else if (!is_qdtext(c)) {
                return fail(400, "invalid chunk extension");
            }
            return true;
        case state::ext_quoted_pair:
            if (!is_field_byte(c)) {
                return fail(400, "invalid chunk extension");
            }
            state_ = state::ext_quoted;
            return true;
        case state::size_line_lf:
            if (c != '\n') {
                return fail(400, "chunk-size line not ended by CRLF");
            }
            line_bytes_ = 0;
            state_ = chunk_left_ == 0 ? state::trailer_start : state::data;
            body_bytes_ += chunk_left_;
            return true;
        case state::data_cr:
        case state::data_lf:
            if (c != (state_ == state::data_cr ? '\r' : '\n')) {
                return fail(400, "chunk data not followed by CRLF");
            }
            state_ = state_ == state::data_cr ? state::data_lf : state::size_first;
            return true;
        case state::trailer_start:
            if (c == '\r') {
                state_ = state::last_lf;
            } else if (!is_tchar(c)) {
                // SP or HTAB here would be an obs-fold; anything else is not a field name.
                return fail(400, "invalid trailer field");
            } else if (++trailer_fields_ > limits_.max_trailer_fields) {
                return fail(431, "too many trailer fields");
            } else {
                state_ = state::trailer_name;
            }
            return true;
        case state::trailer_name:
            if (c == ':') {
                state_ = state::trailer_value;
            } else if (!is_tchar(c)) {
                return fail(400, "invalid trailer field name");
            }
            return true;
        case state::trailer_value:
            if (c == '\r') {
                state_ = state::trailer_lf;
            } else if (!is_field_byte(c)) {
                return fail(400, "invalid character in a trailer field value");
            }
            return true;
        case state::trailer_lf:
        case state::last_lf:
            if (c != '\n') {
                return fail(400, "trailer line not ended by CRLF");
            }
            state_ = state_ == state::trailer_lf ? state::trailer_start : state::done;
            return true;
        case state::data:
        case state::done:
        case state::failed:
            break;
    }
    return fail(400, "chunked body after its end");
}

}  // namespace pfd::proto
