#pragma once
// The RFC 9110 / 9112 checks on a request that llhttp leaves to its user, as pure
// functions over the head's views: the request target's form, Host's syntax, the
// header-field rules, and what Host, Content-Length, Transfer-Encoding, Connection
// and Expect decide (request_parser counts those fields in one pass over the head).
// No llhttp here; request_parser calls these and answers what they refuse.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "proto/http_chars.hpp"
#include "proto/request.hpp"

namespace pfd::proto {

// Why a request is refused: the status to answer and a reason; status 0 refuses nothing.
struct refusal {
    int status = 0;
    const char* reason = nullptr;

    explicit operator bool() const noexcept { return status != 0; }
};

// RFC 9110 7.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ], where uri-host is an
// IP-literal in brackets or a reg-name (which covers IPv4 addresses). The grammar lets a
// reg-name be empty; RFC 9110 4.2.1 has an http URI with an empty host rejected, so it is.
[[nodiscard]] bool valid_host(std::string_view v) noexcept;

// RFC 9110 5.6.1: whether a comma-separated list has this element (OWS around each,
// case-insensitive).
[[nodiscard]] bool list_has(std::string_view list, std::string_view element) noexcept;

// What the Transfer-Encoding fields say, over every one of them and ignoring empty list
// elements (RFC 9110 5.6.1: "chunked," is "chunked").
struct transfer_codings {
    bool chunked_final = false;   // RFC 9112 6.1: chunked is the last coding, and there once
    bool others = false;          // a coding besides chunked: none is implemented here
};
[[nodiscard]] transfer_codings read_transfer_codings(std::span<const header> fields) noexcept;

// What the Expect fields ask for (RFC 9110 10.1.1), empty list elements ignored.
struct expectations {
    bool continue_asked = false;   // 100-continue
    bool others = false;           // anything else: a 417
};
void add_expectations(std::string_view list, expectations& e) noexcept;

// RFC 9112 5.1: a field name is a token. Inline: it runs for every byte of every name.
[[nodiscard]] inline bool valid_field_name(std::string_view name) noexcept {
    for (char c : name) {
        if (!is_tchar(c)) {
            return false;
        }
    }
    return true;
}

// An origin-form target's path: up to its query, if any.
[[nodiscard]] inline std::string_view path_before_query(std::string_view target) noexcept {
    const void* query = std::memchr(target.data(), '?', target.size());
    return query == nullptr
               ? target
               : target.substr(0, static_cast<std::size_t>(static_cast<const char*>(query) - target.data()));
}

// Only OWS (SP, HTAB): between a field's colon and its value, anything else is a fold.
[[nodiscard]] inline bool only_ows(std::string_view v) noexcept {
    for (char c : v) {
        if (c != ' ' && c != '\t') {
            return false;
        }
    }
    return true;
}

// What a request line whose method llhttp does not know turns out to be, once enough
// of it has arrived: method SP target SP HTTP-version CRLF, or not. Decided at the
// first byte that settles it, so the answer never depends on how the line was split.
enum class line_shape : std::uint8_t {
    incomplete,
    well_formed,
    malformed,
    too_long,          // method and target over max_request_line
    method_too_long,   // the method alone: longer than any method we implement
    other_version,
};

[[nodiscard]] line_shape request_line_shape(std::string_view v, std::size_t max_request_line) noexcept;

// RFC 9110 9.1: a method we do not implement in a well-formed request line, or one
// longer than the request line may be, is a 501; anything else that cannot be read as a
// method is a 400. Nothing while incomplete.
[[nodiscard]] refusal unknown_method_refusal(line_shape shape) noexcept;

// RFC 9112 3.2: head.form and head.path (without query; "*" for asterisk-form; empty
// for CONNECT's authority-form, refused by method elsewhere) from head.target and
// head.method, or a 400 for a target no form allows (then form and path are left as
// they were): an absolute-form authority that is no valid Host, or a byte RFC 3986
// does not allow in a path or query besides those browsers send unencoded. The head,
// not a returned copy: this runs for every request llhttp reads.
[[nodiscard]] refusal classify_target(request_head& head) noexcept;

// RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one ever, and a valid one.
[[nodiscard]] refusal check_host(int hosts, bool host_ok, std::uint8_t version_minor) noexcept;

// RFC 9112 6.1 / 6.3: with Transfer-Encoding, a request's body length is knowable only
// when chunked is its one final coding, and never in HTTP/1.0 (a 400); a coding besides
// chunked is one we do not implement (a 501).
[[nodiscard]] refusal check_transfer_encoding(bool transfer_encoding, transfer_codings codings,
                                              std::uint8_t version_minor) noexcept;

// A Content-Length body over the limit is refused on the head (a chunked one as it comes).
[[nodiscard]] constexpr refusal check_content_length(bool has_content_length, bool chunked,
                                                     std::uint64_t content_length,
                                                     std::uint64_t max_body_bytes) noexcept {
    if (!chunked && content_length > max_body_bytes && has_content_length) {
        return {413, "request body too large"};
    }
    return {};
}

// RFC 9110 10.1.1: the one expectation is 100-continue, else a 417.
[[nodiscard]] constexpr refusal check_expect(expectations e) noexcept {
    return e.others ? refusal{417, "unsupported expectation"} : refusal{};
}

// Whether to send 100 Continue: asked for, not in HTTP/1.0 (ignored there), and only
// with a body to wait for.
[[nodiscard]] constexpr bool wants_continue(bool expected, std::uint8_t version_minor, bool has_body) noexcept {
    return expected && version_minor >= 1 && has_body;
}

}  // namespace pfd::proto
