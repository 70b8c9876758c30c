#include "proto/http_range.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "proto/http_chars.hpp"
#include "proto/request.hpp"

namespace pfd::proto {

namespace {

constexpr std::uint64_t saturated = std::numeric_limits<std::uint64_t>::max();

// 1*DIGIT at the front of s; saturates rather than wraps (a huge position is only ever
// compared with the size). False when s does not start with a digit.
bool take_number(std::string_view& s, std::uint64_t& out) noexcept {
    std::size_t i = 0;
    std::uint64_t v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        const auto d = static_cast<std::uint64_t>(s[i] - '0');
        v = v > (saturated - d) / 10 ? saturated : v * 10 + d;
        ++i;
    }
    if (i == 0) {
        return false;
    }
    s.remove_prefix(i);
    out = v;
    return true;
}

// empty_suffix: a non-zero suffix of an empty representation, which RFC 9110 14.1.1 counts
// satisfiable; no byte range says "none of zero bytes", so the answer is the whole (200).
enum class spec_kind : std::uint8_t { invalid, unsatisfiable, satisfiable, empty_suffix };

struct spec_result {
    spec_kind kind = spec_kind::invalid;
    byte_range range{};
};

// One range-spec (OWS already trimmed) resolved against the size (RFC 9110 14.1.1-14.1.2).
spec_result resolve_spec(std::string_view s, std::uint64_t size) noexcept {
    std::uint64_t first = 0;
    if (s.starts_with('-')) {
        s.remove_prefix(1);
        std::uint64_t suffix = 0;
        if (!take_number(s, suffix) || !s.empty()) {
            return {};
        }
        if (suffix == 0) {
            return {spec_kind::unsatisfiable, {}};
        }
        if (size == 0) {
            return {spec_kind::empty_suffix, {}};
        }
        return {spec_kind::satisfiable, {size - std::min(suffix, size), size - 1}};
    }
    if (!take_number(s, first) || !s.starts_with('-')) {
        return {};
    }
    s.remove_prefix(1);
    std::uint64_t last = saturated;
    if (!s.empty() && (!take_number(s, last) || !s.empty())) {
        return {};
    }
    if (last < first) {
        return {};
    }
    if (first >= size) {
        return {spec_kind::unsatisfiable, {}};
    }
    return {spec_kind::satisfiable, {first, std::min(last, size - 1)}};
}

constexpr bool overlaps(byte_range a, byte_range b) noexcept {
    return a.first <= b.last && b.first <= a.last;
}

// Overlapping or with no byte between them.
constexpr bool touches(byte_range a, byte_range b) noexcept {
    return a.first <= b.last + 1 && b.first <= a.last + 1;
}

// Merges touching ranges into the earlier one until none touch; at most 16 ranges, so
// the quadratic passes cost nothing. Order of first appearance is kept.
std::uint8_t coalesce(std::array<byte_range, range_max_specs>& r, std::uint8_t n) noexcept {
    bool merged = true;
    while (merged) {
        merged = false;
        for (std::uint8_t i = 0; i < n && !merged; ++i) {
            for (std::uint8_t j = static_cast<std::uint8_t>(i + 1); j < n; ++j) {
                if (touches(r[i], r[j])) {
                    r[i] = {std::min(r[i].first, r[j].first), std::max(r[i].last, r[j].last)};
                    std::copy(r.begin() + j + 1, r.begin() + n, r.begin() + j);
                    --n;
                    merged = true;
                    break;
                }
            }
        }
    }
    return n;
}

content_range_text format(std::string_view head, const std::uint64_t* nums, std::size_t count,
                          std::string_view seps) noexcept {
    content_range_text out;
    char* p = out.text.data();
    char* const end = out.text.data() + out.text.size();
    p = std::copy(head.begin(), head.end(), p);
    for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) {
            *p++ = seps[i - 1];
        }
        p = std::to_chars(p, end, nums[i]).ptr;
    }
    out.size = static_cast<std::uint8_t>(p - out.text.data());
    return out;
}

}  // namespace

range_set parse_range(std::string_view value, std::uint64_t size) noexcept {
    range_set out;
    value = trim_ows(value);
    const std::size_t eq = value.find('=');
    if (eq == std::string_view::npos || !iequals(value.substr(0, eq), "bytes")) {
        return out;
    }
    std::string_view list = value.substr(eq + 1);

    std::size_t specs = 0;
    std::size_t overlapping = 0;
    std::size_t reversals = 0;
    bool any_unsatisfiable = false;
    bool empty_suffix = false;
    std::uint8_t n = 0;
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string_view element = trim_ows(list.substr(0, comma));
        if (!element.empty()) {
            if (++specs > range_max_specs) {
                return out;
            }
            const spec_result s = resolve_spec(element, size);
            switch (s.kind) {
            case spec_kind::invalid:
                return out;
            case spec_kind::unsatisfiable:
                any_unsatisfiable = true;
                break;
            case spec_kind::empty_suffix:
                empty_suffix = true;
                break;
            case spec_kind::satisfiable:
                if (n > 0 && s.range.first < out.ranges[n - 1].first) {
                    ++reversals;
                }
                for (std::uint8_t i = 0; i < n; ++i) {
                    if (overlaps(out.ranges[i], s.range)) {
                        ++overlapping;
                        break;
                    }
                }
                if (overlapping > range_max_overlaps || reversals > range_max_reversals) {
                    return out;
                }
                out.ranges[n++] = s.range;
                break;
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        list.remove_prefix(comma + 1);
    }
    if (n == 0) {
        // Only empty elements is no range-set at all: invalid, not unsatisfiable.
        out.outcome = any_unsatisfiable && !empty_suffix ? range_outcome::unsatisfiable : range_outcome::ignore;
        return out;
    }
    out.count = coalesce(out.ranges, n);
    out.outcome = range_outcome::satisfiable;
    return out;
}

content_range_text format_content_range(byte_range r, std::uint64_t size) noexcept {
    const std::uint64_t nums[3] = {r.first, r.last, size};
    return format("bytes ", nums, 3, "-/");
}

content_range_text format_unsatisfied_range(std::uint64_t size) noexcept {
    return format("bytes */", &size, 1, "");
}

}  // namespace pfd::proto
