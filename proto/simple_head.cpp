#include "proto/simple_head.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "proto/bytes_equal.hpp"
#include "proto/http_chars.hpp"
#include "proto/request_checks.hpp"

namespace pfd::proto {

namespace {

enum : std::uint8_t {
    token_byte = 1,    // RFC 9110 5.6.2 tchar
    target_byte = 2,   // RFC 3986 pchar, '/' and '?' (no '#', no byte llhttp or we might refuse)
    value_byte = 4,    // VCHAR, SP, HTAB (no obs-text: llhttp's path judges that)
    path_byte = 8,     // target_byte but '?': the path ends at the query
};

constexpr std::array<std::uint8_t, 256> byte_classes = [] {
    std::array<std::uint8_t, 256> t{};
    constexpr std::string_view target_punctuation = "-._~!$&'()*+,;=:@/?%";
    for (int c = 1; c < 256; ++c) {
        const auto ch = static_cast<char>(c);
        std::uint8_t v = 0;
        if (is_tchar(ch)) {
            v |= token_byte;
        }
        if (is_alnum(c) || target_punctuation.find(ch) != std::string_view::npos) {
            v |= target_byte;
            if (ch != '?') {
                v |= path_byte;
            }
        }
        if ((c >= 0x21 && c <= 0x7e) || c == ' ' || c == '\t') {
            v |= value_byte;
        }
        t[static_cast<std::size_t>(c)] = v;
    }
    return t;
}();

[[gnu::always_inline]] inline bool in_class(char c, std::uint8_t cls) noexcept {
    return (byte_classes[static_cast<unsigned char>(c)] & cls) != 0;
}

// Eight bytes at a time while each is SP or visible ASCII (0x20..0x7e), as most of a
// field value is: some byte is below 0x20 exactly when the borrow trick sets its top bit,
// DEL is found as a zero byte of w ^ 0x7f.., and obs-text has its own top bit set.
const char* skip_plain_bytes(const char* p, const char* end) noexcept {
    constexpr std::uint64_t ones = 0x0101010101010101ULL;
    constexpr std::uint64_t tops = 0x8080808080808080ULL;
    while (end - p >= 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, 8);
        const std::uint64_t del = w ^ (ones * 0x7f);
        if ((((w - ones * 0x20) & ~w) | ((del - ones) & ~del) | w) & tops) {
            break;
        }
        p += 8;
    }
    return p;
}

// Fields that frame a body or change the protocol: llhttp's path judges those.
constexpr std::array<std::string_view, 5> declined_fields = {"content-length", "transfer-encoding", "upgrade",
                                                              "expect", "proxy-connection"};

struct method_word {
    std::string_view word;   // with its SP
    method m;
};

constexpr std::array<method_word, 6> methods = {{
    {"GET ", method::get},
    {"HEAD ", method::head},
    {"POST ", method::post},
    {"PUT ", method::put},
    {"DELETE ", method::del},
    {"OPTIONS ", method::options},
}};

// "host:" in any case.
bool is_host_name(const char* p, const char* end) noexcept {
    return end - p >= 5 && p[4] == ':' && equals_lowercase({p, 4}, "host");
}

bool starts_with(const char* p, const char* end, std::string_view w) noexcept {
    return static_cast<std::size_t>(end - p) >= w.size() && std::memcmp(p, w.data(), w.size()) == 0;
}

}  // namespace

namespace {

bool valid_host_remembered(std::string_view v, simple_head_memo& memo) noexcept {
    if (memo.host_size != 0 && bytes_equal(v, {memo.host.data(), memo.host_size})) {   // "" is no Host
        return true;
    }
    if (!valid_host(v)) {
        return false;
    }
    if (v.size() <= memo.host.size()) {
        std::memcpy(memo.host.data(), v.data(), v.size());
        memo.host_size = v.size();
    }
    return true;
}

}  // namespace

std::size_t read_simple_head(std::string_view bytes, const parser_limits& limits, request_head& head,
                             simple_head_memo& memo) noexcept {
    const char* p = bytes.data();
    const char* const end = p + bytes.size();

    // Request line: method SP origin-form SP "HTTP/1." ("0" | "1") CRLF.
    const method_word* mw = nullptr;
    for (const method_word& w : methods) {
        if (starts_with(p, end, w.word)) {
            mw = &w;
            break;
        }
    }
    if (mw == nullptr) {
        return 0;
    }
    head.method = mw->m;
    head.method_name = {p, mw->word.size() - 1};
    p += mw->word.size();
    const char* const target = p;
    if (p == end || *p != '/') {
        return 0;
    }
    while (p < end && in_class(*p, path_byte)) {
        ++p;
    }
    head.path = {target, static_cast<std::size_t>(p - target)};   // as path_before_query gives it
    while (p < end && in_class(*p, target_byte)) {
        ++p;
    }
    head.target = {target, static_cast<std::size_t>(p - target)};
    if (head.method_name.size() + head.target.size() > limits.max_request_line) {
        return 0;
    }
    constexpr std::string_view version = " HTTP/1.";
    if (static_cast<std::size_t>(end - p) < version.size() + 3 || std::memcmp(p, version.data(), version.size()) != 0) {
        return 0;
    }
    p += version.size();
    if ((p[0] != '0' && p[0] != '1') || p[1] != '\r' || p[2] != '\n') {
        return 0;
    }
    head.version_major = 1;
    head.version_minor = static_cast<std::uint8_t>(p[0] - '0');
    p += 3;
    head.form = target_form::origin;

    // Fields: token ":" OWS value OWS CRLF, then an empty line.
    std::size_t count = 0;
    std::size_t field_bytes = 0;   // at least what the llhttp path counts toward max_header_bytes
    int hosts = 0;
    bool connection_seen = false;
    bool close = false;
    bool keep_alive_asked = false;
    for (;;) {
        if (end - p < 2) {
            return 0;
        }
        if (*p == '\r') {
            if (p[1] != '\n') {
                return 0;
            }
            p += 2;
            break;
        }
        if (count == limits.max_headers || count == request_head::max_headers) {
            return 0;
        }
        const char* const name = p;
        // Host, the field every request has, in any case: its name is known to be a token.
        const bool host = is_host_name(p, end);
        if (host) {
            p += 4;
        }
        while (p < end && in_class(*p, token_byte)) {
            ++p;
        }
        if (p == name || p == end || *p != ':') {
            return 0;
        }
        const std::string_view field{name, static_cast<std::size_t>(p - name)};
        ++p;
        while (p < end && is_ws(*p)) {
            ++p;
        }
        const char* const value = p;
        p = skip_plain_bytes(p, end);
        while (p < end && in_class(*p, value_byte)) {
            ++p;
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return 0;
        }
        std::string_view v{value, static_cast<std::size_t>(p - value)};   // its leading OWS is skipped
        while (!v.empty() && is_ws(v.back())) {
            v.remove_suffix(1);
        }
        field_bytes += field.size() + static_cast<std::size_t>(p - value) + 4;
        if (field_bytes > limits.max_header_bytes) {
            return 0;
        }
        p += 2;
        if (host) {   // (a name scanned byte by byte is never "host": its ':' would have been next)
            if (++hosts > 1 || !valid_host_remembered(v, memo)) {
                return 0;
            }
        } else if (equals_lowercase(field, "connection")) {
            if (connection_seen) {
                return 0;
            }
            connection_seen = true;
            close = equals_lowercase(v, "close");
            keep_alive_asked = equals_lowercase(v, "keep-alive");
            if (!close && !keep_alive_asked) {
                return 0;
            }
        } else if (std::any_of(declined_fields.begin(), declined_fields.end(),
                               [&](std::string_view d) { return equals_lowercase(field, d); })) {
            return 0;
        }
        head.headers[count++] = {field, v};
    }
    // RFC 9112 3.2: HTTP/1.1 needs its Host (HTTP/1.0 may go without).
    if (head.version_minor == 1 ? hosts != 1 : hosts > 1) {
        return 0;
    }
    head.header_count = static_cast<std::uint16_t>(count);   // (nothing reads the slots past it)
    // RFC 9112 9.3: HTTP/1.1 persists unless closed; HTTP/1.0 only when asked to.
    head.keep_alive = head.version_minor == 1 ? !close : keep_alive_asked;
    head.has_body = false;
    head.expect_continue = false;
    return static_cast<std::size_t>(p - bytes.data());
}

}  // namespace pfd::proto
