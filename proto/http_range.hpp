#pragma once
// The Range header (RFC 9110 14.1-14.2) against a representation of a known size, and
// the Content-Range values of the answer.
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace pfd::proto {

struct byte_range {
    std::uint64_t first = 0;
    std::uint64_t last = 0;  // inclusive, < size
    [[nodiscard]] constexpr std::uint64_t length() const noexcept { return last - first + 1; }
    friend constexpr bool operator==(const byte_range&, const byte_range&) = default;
};

enum class range_outcome : std::uint8_t {
    ignore,         // absent, not "bytes", invalid, or refused as abuse: 200 with the whole
    satisfiable,    // 206: one range, or multipart/byteranges for several
    unsatisfiable,  // 416 with "Content-Range: bytes */size"
};

// Abuse limits (the answers to RFC 9110 14.2's "broken client or deliberate denial of
// service"), all of which serve the whole representation (200) rather than fail:
//   more than range_max_specs range-specs (Apache MaxRanges, nginx max_ranges);
//   more than range_max_overlaps specs overlapping an earlier one (Apache
//   MaxRangeOverlaps; RFC 14.2 names "more than two overlapping ranges");
//   more than range_max_reversals specs starting before the previous one (Apache
//   MaxRangeReversals; RFC 14.2 "many small ranges not in ascending order").
// Below them, overlapping and adjacent ranges are coalesced (RFC 9110 15.3.7.2 allows it
// "regardless of the order"), otherwise the request's order is kept (its SHOULD), so
// a multipart body never holds more bytes than the file.
inline constexpr std::size_t range_max_specs = 16;
inline constexpr std::size_t range_max_overlaps = 2;
inline constexpr std::size_t range_max_reversals = 2;

struct range_set {
    range_outcome outcome = range_outcome::ignore;
    std::uint8_t count = 0;  // ranges used when satisfiable (>= 1)
    std::array<byte_range, range_max_specs> ranges{};

    [[nodiscard]] std::span<const byte_range> view() const noexcept { return {ranges.data(), count}; }
};

// `value` is the Range field value ("" = absent). Syntax: range-unit "=" 1#range-spec, the
// unit case-insensitive, OWS around list elements, empty elements ignored; a spec with
// last < first, a non-digit, or an other-range makes the whole header invalid (ignored,
// RFC 9110 14.2 "MAY ignore"). Positions past 2^64-1 saturate (never satisfiable as a
// first-pos; clamped as a last-pos; a whole-file suffix). On a 0-byte representation
// every range is unsatisfiable. Unsatisfiable specs among satisfiable ones are dropped.
[[nodiscard]] range_set parse_range(std::string_view value, std::uint64_t size) noexcept;

// "bytes 0-99/1000" and "bytes */1000": the longest is 6 + 3 * 20 + 2 = 68 bytes.
struct content_range_text {
    std::array<char, 72> text{};
    std::uint8_t size = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {text.data(), size}; }
};
[[nodiscard]] content_range_text format_content_range(byte_range r, std::uint64_t size) noexcept;
[[nodiscard]] content_range_text format_unsatisfied_range(std::uint64_t size) noexcept;

}  // namespace pfd::proto
