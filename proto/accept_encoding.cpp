#include "proto/accept_encoding.hpp"

#include <optional>

#include "proto/http_chars.hpp"
#include "proto/request.hpp"

namespace pfd::proto {

namespace {

bool is_token(std::string_view s) noexcept {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (!is_tchar(c)) {
            return false;
        }
    }
    return true;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as thousandths.
std::optional<std::uint16_t> parse_qvalue(std::string_view s) noexcept {
    if (s.empty() || (s[0] != '0' && s[0] != '1')) {
        return std::nullopt;
    }
    const bool one = s[0] == '1';
    s.remove_prefix(1);
    if (s.empty()) {
        return static_cast<std::uint16_t>(one ? 1000 : 0);
    }
    if (s[0] != '.' || s.size() > 4) {
        return std::nullopt;
    }
    unsigned frac = 0;
    unsigned scale = 100;
    for (std::size_t i = 1; i < s.size(); ++i) {
        if (s[i] < '0' || s[i] > '9' || (one && s[i] != '0')) {
            return std::nullopt;
        }
        frac += static_cast<unsigned>(s[i] - '0') * scale;
        scale /= 10;
    }
    return static_cast<std::uint16_t>(one ? 1000 : frac);
}

struct element {
    std::string_view coding;
    std::uint16_t q = 1000;
};

// coding [ OWS ";" OWS "q=" qvalue ]; nullopt if malformed.
std::optional<element> parse_element(std::string_view s) noexcept {
    element e;
    const std::size_t semi = s.find(';');
    e.coding = trim_ows(s.substr(0, semi));
    if (!is_token(e.coding)) {
        return std::nullopt;
    }
    if (semi == std::string_view::npos) {
        return e;
    }
    const std::string_view param = trim_ows(s.substr(semi + 1));
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') {
        return std::nullopt;
    }
    const auto q = parse_qvalue(param.substr(2));  // a second ';' fails here too
    if (!q) {
        return std::nullopt;
    }
    e.q = *q;
    return e;
}

}  // namespace

accepted_codings parse_accept_encoding(std::string_view value) noexcept {
    std::optional<std::uint16_t> br;
    std::optional<std::uint16_t> gzip;
    std::optional<std::uint16_t> star;
    for (;;) {
        const std::size_t comma = value.find(',');
        const std::string_view part = trim_ows(value.substr(0, comma));
        if (!part.empty()) {
            if (const auto e = parse_element(part)) {
                std::optional<std::uint16_t>* slot = nullptr;
                if (iequals(e->coding, "br")) {
                    slot = &br;
                } else if (iequals(e->coding, "gzip") || iequals(e->coding, "x-gzip")) {
                    slot = &gzip;
                } else if (e->coding == "*") {
                    slot = &star;
                }
                if (slot != nullptr && !*slot) {
                    *slot = e->q;
                }
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
    accepted_codings out;
    out.br_q = br.value_or(star.value_or(0));
    out.gzip_q = gzip.value_or(star.value_or(0));
    return out;
}

}  // namespace pfd::proto
