// The request back as JSON, through the C++ layer (preforkd/module.hpp):
//   {"method":"POST","target":"/app/echo/x?a=1","path":"/app/echo/x","query":"a=1","authority":"h",
//    "has_body":true,"headers":[["Host","h"],...],"body":"..."}
// Headers keep their order and repeats. The body is collected as it arrives (on_body)
// and the answer goes out once the request is complete. A body that is not UTF-8 comes
// back base64-encoded as "body_base64" instead; other invalid UTF-8 (in a header value)
// is escaped byte by byte as \u00XX.
#include <preforkd/module.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_length(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    const std::size_t left = s.size() - i;
    auto cont = [&](std::size_t k) { return k < left && (b(i + k) & 0xC0) == 0x80; };
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) {
            return 0;
        }
        const unsigned char c1 = b(i + 1);
        if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) {
            return 0;   // overlong, or a surrogate
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        const unsigned char c1 = b(i + 1);
        if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F)) {
            return 0;   // overlong, or past U+10FFFF
        }
        return 4;
    }
    return 0;
}

bool valid_utf8(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_length(s, i);
        if (n == 0) {
            return false;
        }
        i += n;
    }
    return true;
}

void json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const std::size_t n = utf8_length(s, i);
        if (n > 1) {
            out.append(s.substr(i, n));
            i += n;
            continue;
        }
        ++i;
        switch (c) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            default: break;
        }
        if (c < 0x20 || c == 0x7F || n == 0) {
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
}

void base64(std::string& out, std::string_view s) {
    static constexpr char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out += '"';
    std::size_t i = 0;
    for (; i + 3 <= s.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{static_cast<unsigned char>(s[i])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(s[i + 1])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(s[i + 2])};
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];
        out += abc[v & 63];
    }
    if (const std::size_t rest = s.size() - i; rest != 0) {
        std::uint32_t v = std::uint32_t{static_cast<unsigned char>(s[i])} << 16;
        if (rest == 2) {
            v |= std::uint32_t{static_cast<unsigned char>(s[i + 1])} << 8;
        }
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += rest == 2 ? abc[(v >> 6) & 63] : '=';
        out += '=';
    }
    out += '"';
}

class echo {
public:
    explicit echo(preforkd::worker&) {}

    void handle(preforkd::request& r) {
        // The head can be read only now: the JSON up to the body is written at once.
        pending& p = open_[r.raw()];
        p.body.clear();
        std::string& out = p.json;
        out.clear();
        out += "{\"method\":";
        json_string(out, r.method());
        out += ",\"target\":";
        json_string(out, r.target());
        out += ",\"path\":";
        json_string(out, r.path());
        out += ",\"query\":";
        json_string(out, r.query());
        out += ",\"authority\":";
        json_string(out, r.authority());
        out += ",\"has_body\":";
        out += r.has_body() ? "true" : "false";
        out += ",\"headers\":[";
        for (std::size_t i = 0; i < r.header_count(); ++i) {
            const auto [name, value] = r.header_at(i);
            out += i == 0 ? "[" : ",[";
            json_string(out, name);
            out += ',';
            json_string(out, value);
            out += ']';
        }
        out += ']';
    }

    void on_body(preforkd::request& r, std::string_view bytes) { open_[r.raw()].body.append(bytes); }

    void on_complete(preforkd::request& r) {
        auto node = open_.extract(r.raw());
        if (node.empty()) {
            r.respond(500, "text/plain", "echo: no such request\n");
            return;
        }
        std::string out = std::move(node.mapped().json);
        const std::string_view b = node.mapped().body;
        if (valid_utf8(b)) {
            out += ",\"body\":";
            json_string(out, b);
        } else {
            out += ",\"body_base64\":";
            base64(out, b);
        }
        out += "}\n";
        r.respond(200, "application/json", out);
    }

    void on_abort(preforkd::request& r) { open_.erase(r.raw()); }

private:
    struct pending {
        std::string json;   // up to the body
        std::string body;
    };
    // Per request, until its answer: module.h gives a request no slot of the module's own.
    std::unordered_map<pfd_request*, pending> open_;
};

}  // namespace

PREFORKD_MODULE(echo, "echo")
