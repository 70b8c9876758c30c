#pragma once
// Conditional requests (RFC 9110 13): the preconditions in 13.2.2's order, If-Range, and
// the entity tag the file handler gives a file.
#include <array>
#include <cstdint>
#include <ctime>
#include <string_view>

#include "proto/request.hpp"

namespace pfd::proto {

// The request's precondition fields, as received ("" = absent; an empty list is treated
// as absent too).
struct conditional_request {
    proto::method method = method::get;
    std::string_view if_match;
    std::string_view if_none_match;
    std::string_view if_modified_since;
    std::string_view if_unmodified_since;
    std::time_t now = 0;  // only to read RFC 850 dates' two-digit years (parse_http_date)
};

enum class precondition : std::uint8_t {
    pass,          // go on: 200 (or 206 if a Range applies)
    not_modified,  // 304 (GET/HEAD only), with the ETag and Last-Modified of a 200
    failed,        // 412
};

// RFC 9110 13.2.2, for a representation that exists (call it only when the answer without
// preconditions would be 2xx, 13.2.1):
//  1. If-Match: strong comparison, "*" matches, a list matches if any member does;
//     no match -> 412.
//  2. else If-Unmodified-Since (a valid HTTP-date): Last-Modified later -> 412.
//  3. If-None-Match: weak comparison, "*", lists; a match -> 304 for GET/HEAD, else 412.
//  4. else If-Modified-Since (valid HTTP-date; GET/HEAD only): Last-Modified not later
//     -> 304.
// A date that is not an HTTP-date makes its field ignored (13.1.3, 13.1.4). An entity-tag
// list is read up to its first malformed member (nginx does the same): members after it
// never match, so a garbled If-Match fails and a garbled If-None-Match passes.
// `etag` is the representation's ("\"...\"" or "W/\"...\"", "" = none, and then only "*"
// matches); `last_modified` in unix seconds.
[[nodiscard]] precondition evaluate_preconditions(const conditional_request& request, std::string_view etag,
                                                  std::time_t last_modified) noexcept;

// RFC 9110 13.1.5 / 13.2.2 step 5: whether a Range applies given If-Range ("" = absent:
// it does). An entity-tag must match `etag` by strong comparison (a weak one never does);
// an HTTP-date must equal Last-Modified exactly; anything else: the Range is ignored and
// the whole representation sent (200), the safe side.
[[nodiscard]] bool if_range_allows(std::string_view if_range, std::string_view etag,
                                   std::time_t last_modified, std::time_t now) noexcept;

// The strong ETag of a file: "\"<inode>-<size>-<mtime ns>\"", each lowercase hex without
// leading zeros, mtime ns = sec * 10^9 + nsec (modulo 2^64), e.g. "\"2a-1b2c-17e0b6f5a1c3e400\"".
// Inode and mtime to the nanosecond tell apart a file replaced by rename or rewritten in
// place with the same size (nginx uses mtime seconds and size only). At most 52 bytes.
struct etag_text {
    std::array<char, 56> text{};
    std::uint8_t size = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {text.data(), size}; }
};
[[nodiscard]] etag_text make_etag(std::uint64_t inode, std::uint64_t size, std::int64_t mtime_sec,
                                  std::uint32_t mtime_nsec) noexcept;

}  // namespace pfd::proto
