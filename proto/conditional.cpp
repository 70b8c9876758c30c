#include "proto/conditional.hpp"

#include <charconv>

#include "proto/http_chars.hpp"
#include "proto/http_date.hpp"

namespace pfd::proto {

namespace {

struct entity_tag {
    bool weak = false;
    std::string_view opaque;  // with its quotes
};

// etagc = %x21 / %x23-7E / obs-text (RFC 9110 8.8.3)
constexpr bool is_etagc(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u != 0x7f);
}

// entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE at the front of s; false if malformed.
bool take_entity_tag(std::string_view& s, entity_tag& out) noexcept {
    std::string_view r = s;
    entity_tag t;
    if (r.starts_with("W/")) {
        t.weak = true;
        r.remove_prefix(2);
    }
    if (!r.starts_with('"')) {
        return false;
    }
    std::size_t i = 1;
    while (i < r.size() && is_etagc(r[i])) {
        ++i;
    }
    if (i >= r.size() || r[i] != '"') {
        return false;
    }
    t.opaque = r.substr(0, i + 1);
    s = r.substr(i + 1);
    out = t;
    return true;
}

// The representation's own tag; none (or malformed) matches nothing.
bool parse_own(std::string_view etag, entity_tag& out) noexcept {
    return take_entity_tag(etag, out) && etag.empty();
}

enum class comparison : std::uint8_t { strong, weak };

// "*" / #entity-tag against the representation (RFC 9110 8.8.3.2 comparisons).
bool list_matches(std::string_view field, std::string_view etag, comparison how) noexcept {
    field = trim_ows(field);
    if (field == "*") {
        return true;
    }
    entity_tag own;
    if (!parse_own(etag, own) || (how == comparison::strong && own.weak)) {
        return false;
    }
    for (;;) {
        while (!field.empty() && (is_ws(field.front()) || field.front() == ',')) {
            field.remove_prefix(1);
        }
        entity_tag t;
        if (field.empty() || !take_entity_tag(field, t)) {
            return false;
        }
        if (t.opaque == own.opaque && (how == comparison::weak || !t.weak)) {
            return true;
        }
        field = trim_ows(field);
        if (!field.empty() && field.front() != ',') {
            return false;
        }
    }
}

bool present(std::string_view field) noexcept {
    return !trim_ows(field).empty();
}

constexpr bool get_or_head(method m) noexcept {
    return m == method::get || m == method::head;
}

}  // namespace

precondition evaluate_preconditions(const conditional_request& rq, std::string_view etag,
                                    std::time_t last_modified) noexcept {
    if (present(rq.if_match)) {
        if (!list_matches(rq.if_match, etag, comparison::strong)) {
            return precondition::failed;
        }
    } else if (present(rq.if_unmodified_since)) {
        const auto since = parse_http_date(rq.if_unmodified_since, rq.now);
        if (since && last_modified > *since) {
            return precondition::failed;
        }
    }
    if (present(rq.if_none_match)) {
        if (list_matches(rq.if_none_match, etag, comparison::weak)) {
            return get_or_head(rq.method) ? precondition::not_modified : precondition::failed;
        }
    } else if (get_or_head(rq.method) && present(rq.if_modified_since)) {
        const auto since = parse_http_date(rq.if_modified_since, rq.now);
        if (since && last_modified <= *since) {
            return precondition::not_modified;
        }
    }
    return precondition::pass;
}

bool if_range_allows(std::string_view if_range, std::string_view etag, std::time_t last_modified,
                     std::time_t now) noexcept {
    if_range = trim_ows(if_range);
    if (if_range.empty()) {
        return true;
    }
    if (if_range.starts_with('"') || if_range.starts_with("W/")) {
        entity_tag t;
        entity_tag own;
        return take_entity_tag(if_range, t) && if_range.empty() && !t.weak && parse_own(etag, own) &&
               !own.weak && t.opaque == own.opaque;
    }
    const auto date = parse_http_date(if_range, now);
    return date && *date == last_modified;
}

etag_text make_etag(std::uint64_t inode, std::uint64_t size, std::int64_t mtime_sec,
                    std::uint32_t mtime_nsec) noexcept {
    const std::uint64_t mtime_ns = static_cast<std::uint64_t>(mtime_sec) * 1'000'000'000u + mtime_nsec;
    etag_text out;
    char* p = out.text.data();
    char* const end = out.text.data() + out.text.size();
    *p++ = '"';
    p = std::to_chars(p, end, inode, 16).ptr;
    *p++ = '-';
    p = std::to_chars(p, end, size, 16).ptr;
    *p++ = '-';
    p = std::to_chars(p, end, mtime_ns, 16).ptr;
    *p++ = '"';
    out.size = static_cast<std::uint8_t>(p - out.text.data());
    return out;
}

}  // namespace pfd::proto
