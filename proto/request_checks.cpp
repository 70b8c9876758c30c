#include "proto/request_checks.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace pfd::proto {

namespace {

bool all_digits(std::string_view v) noexcept {
    return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Each non-empty element of a comma-separated list, OWS trimmed (RFC 9110 5.6.1: empty
// elements are ignored).
template <class Visit>
void for_each_element(std::string_view list, Visit&& visit) {
    while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string_view item = trim_ows(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
        if (!item.empty()) {
            visit(item);
        }
    }
}

// RFC 3986 3.2.2: what is between an IP-literal's brackets, IPv6address or IPvFuture
// ("v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )).
bool valid_ip_literal(std::string_view v) noexcept {
    if (!v.empty() && (v.front() == 'v' || v.front() == 'V')) {
        const auto dot = v.find('.');
        if (dot == std::string_view::npos || dot == 1 || dot + 1 == v.size()) {
            return false;
        }
        const std::string_view version = v.substr(1, dot - 1);
        const std::string_view rest = v.substr(dot + 1);
        return std::all_of(version.begin(), version.end(), is_hex) &&
               std::all_of(rest.begin(), rest.end(), [](char c) { return is_reg_name_char(c) || c == ':'; });
    }
    // inet_pton reads RFC 4291's text form, the IPv4-suffixed one included: what
    // RFC 3986's IPv6address grammar spells out (no zone identifier).
    char text[INET6_ADDRSTRLEN] = {};
    if (v.empty() || v.size() >= sizeof text) {
        return false;
    }
    std::memcpy(text, v.data(), v.size());
    in6_addr address{};
    return inet_pton(AF_INET6, text, &address) == 1;
}

// Bytes RFC 3986 allows in a path or query besides unreserved, sub-delims and
// pct-encoded, plus what browsers send unencoded there (the WHATWG URL standard's
// percent-encode sets leave "[ ] | ^" in a path, and also "\ ` { }" in a query): a
// target with any other byte is refused, and no request a browser sends is.
constexpr auto path_table = alnum_and("-._~!$&'()*+,;=:@/%[]|^");
constexpr auto query_table = alnum_and("-._~!$&'()*+,;=:@/%[]|^?\\`{}");

bool all_in(std::string_view v, const std::array<bool, 256>& table) noexcept {
    return std::all_of(v.begin(), v.end(), [&](char c) { return table[static_cast<unsigned char>(c)]; });
}

// With an IP literal or percent-encoding.
bool valid_host_in_general(std::string_view v) noexcept {
    std::string_view host = v;
    std::string_view port;
    if (!v.empty() && v.front() == '[') {
        const auto close = v.find(']');
        if (close == std::string_view::npos || !valid_ip_literal(v.substr(1, close - 1))) {
            return false;
        }
        host = {};
        const std::string_view rest = v.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return false;
            }
            port = rest.substr(1);
        }
    } else if (const auto colon = v.find(':'); colon != std::string_view::npos) {
        host = v.substr(0, colon);
        port = v.substr(colon + 1);
    }
    for (std::size_t i = 0; i < host.size(); ++i) {
        const char c = host[i];
        if (is_reg_name_char(c)) {
            continue;
        }
        if (c != '%' || i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) {
            return false;
        }
        i += 2;
    }
    return all_digits(port);
}

}  // namespace

bool valid_host(std::string_view v) noexcept {
    // Most are a reg-name or IPv4 address and a port: one pass over the name's bytes.
    std::size_t i = 0;
    while (i < v.size() && is_reg_name_char(v[i])) {
        ++i;
    }
    // RFC 9110 4.2.1: an http(s) URI with an empty host MUST be rejected, and an empty
    // Host makes one ("http:///", "http://:80/").
    if (i == v.size()) {
        return i != 0;
    }
    if (v[i] == ':') {
        return i != 0 && all_digits(v.substr(i + 1));
    }
    return valid_host_in_general(v);
}

bool list_has(std::string_view list, std::string_view element) noexcept {
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (iequals(trim_ows(list.substr(0, comma)), element)) {
            return true;
        }
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    return false;
}

transfer_codings read_transfer_codings(std::span<const header> fields) noexcept {
    std::string_view last;
    int chunked = 0;
    transfer_codings codings;
    for (const header& h : fields) {
        if (!iequals(h.name, "transfer-encoding")) {
            continue;
        }
        for_each_element(h.value, [&](std::string_view item) {
            last = item;
            if (iequals(item, "chunked")) {
                ++chunked;
            } else {
                codings.others = true;
            }
        });
    }
    codings.chunked_final = chunked == 1 && iequals(last, "chunked");
    return codings;
}

void add_expectations(std::string_view list, expectations& e) noexcept {
    for_each_element(list, [&](std::string_view item) {
        if (iequals(item, "100-continue")) {
            e.continue_asked = true;
        } else {
            e.others = true;
        }
    });
}

line_shape request_line_shape(std::string_view v, std::size_t max_request_line) noexcept {
    std::size_t i = 0;
    while (i < v.size() && is_tchar(v[i])) {
        if (++i > max_request_line) {
            return line_shape::method_too_long;
        }
    }
    if (i == v.size()) {
        return line_shape::incomplete;
    }
    if (i == 0 || v[i] != ' ') {
        return line_shape::malformed;
    }
    const std::size_t target = ++i;
    while (i < v.size() && v[i] > 0x20 && v[i] < 0x7f) {   // what llhttp takes in a target
        if (++i > max_request_line + 1) {   // method and target, as for a known method
            return line_shape::too_long;
        }
    }
    if (i == v.size()) {
        return line_shape::incomplete;
    }
    if (i == target || v[i] != ' ') {
        return line_shape::malformed;
    }
    const std::size_t major = ++i + 5;
    constexpr std::string_view version = "HTTP/d.d\r\n";   // d: a digit
    for (std::size_t k = 0; k < version.size(); ++k, ++i) {
        if (i == v.size()) {
            return line_shape::incomplete;
        }
        const bool ok = version[k] == 'd' ? (v[i] >= '0' && v[i] <= '9') : v[i] == version[k];
        if (!ok) {
            return line_shape::malformed;
        }
    }
    return v[major] == '1' ? line_shape::well_formed : line_shape::other_version;
}

refusal unknown_method_refusal(line_shape shape) noexcept {
    switch (shape) {
        case line_shape::incomplete:
            return {};
        case line_shape::too_long:
            return {414, "request line too long"};
        case line_shape::method_too_long:
            return {501, "method not implemented"};   // RFC 9112 3: longer than any we implement
        case line_shape::well_formed:
            return {501, "method not implemented"};
        case line_shape::other_version:
            return {505, "unsupported HTTP version"};
        case line_shape::malformed:
            return {400, "invalid method"};
    }
    return {400, "invalid method"};
}

refusal classify_target(request_head& head) noexcept {
    std::string_view t = head.target;
    if (std::memchr(t.data(), '#', t.size()) != nullptr) {
        return {400, "fragment in the request target"};   // RFC 9112 3.2: never sent
    }
    if (head.method == method::connect) {
        head.form = target_form::origin;   // authority-form; refused by method, not syntax
        head.path = {};
        return {};
    }
    if (t == "*") {
        if (head.method != method::options) {
            return {400, "asterisk-form target on a method other than OPTIONS"};
        }
        head.form = target_form::asterisk;
        head.path = t;
        return {};
    }
    target_form form = target_form::origin;
    if (t.empty() || t.front() != '/') {
        // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]
        const auto sep = t.find("://");
        const std::string_view scheme = sep == std::string_view::npos ? std::string_view{} : t.substr(0, sep);
        if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
            return {400, "invalid request target"};
        }
        t.remove_prefix(sep + 3);
        const auto path_start = std::min(t.find_first_of("/?"), t.size());
        const std::string_view authority = t.substr(0, path_start);
        // RFC 9110 4.2.1: an http(s) URI with an empty host MUST be rejected ("http://:80/").
        if (authority.empty() || authority.front() == ':') {
            return {400, "absolute-form target without a host"};
        }
        // RFC 9110 4.2.4: userinfo in an http(s) URI is an error. RFC 9112 3.2.2: this
        // authority, not Host, names the resource, so it is held to Host's syntax.
        if (authority.find('@') != std::string_view::npos || !valid_host(authority)) {
            return {400, "invalid authority in an absolute-form target"};
        }
        form = target_form::absolute;
        head.authority = authority;
        t.remove_prefix(path_start);
    }
    const std::string_view path = path_before_query(t);
    if (!all_in(path, path_table) || !all_in(t.substr(path.size()), query_table)) {
        return {400, "invalid character in the request target"};
    }
    head.form = form;
    head.path = path.empty() ? std::string_view{"/"} : path;
    return {};
}

refusal check_host(int hosts, bool host_ok, std::uint8_t version_minor) noexcept {
    if (hosts > 1 || (hosts == 0 && version_minor >= 1)) {
        return {400, hosts == 0 ? "missing Host header" : "more than one Host header"};
    }
    if (!host_ok) {
        return {400, "invalid Host header"};
    }
    return {};
}

refusal check_transfer_encoding(bool transfer_encoding, transfer_codings codings, std::uint8_t version_minor) noexcept {
    if (!transfer_encoding) {
        return {};
    }
    if (!codings.chunked_final) {
        // RFC 9112 6.3: a request's body length is unknowable unless chunked is the
        // final coding (6.1: and applied once).
        return {400, "Transfer-Encoding without chunked as its one final coding"};
    }
    if (version_minor == 0) {
        // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        return {400, "Transfer-Encoding in an HTTP/1.0 request"};
    }
    if (codings.others) {
        // RFC 9112 6.1: the framing is known, but not how to undo the other codings; the
        // handler must never take still-coded bytes for the body.
        return {501, "transfer coding not implemented"};
    }
    return {};
}

}  // namespace pfd::proto
