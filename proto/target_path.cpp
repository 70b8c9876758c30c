#include "proto/target_path.hpp"

#include "proto/http_chars.hpp"

namespace pfd::proto {

namespace {

target_path refuse(int status) {
    return target_path{status, {}, false};
}

// Every '%' starts a complete escape: a malformed one is a bad request, whichever
// segment it is in, so this runs before any segment can answer 403 or 404.
bool escapes_well_formed(std::string_view s) noexcept {
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) {
                return false;
            }
            i += 2;
        }
    }
    return true;
}

// Bytes no file name below the root may hold: '/' would split a segment after the
// split, '\' is a separator elsewhere (and in some tools that read these names), NUL
// ends a C string, and control bytes have no business in a URL (RFC 3986 2).
constexpr bool refused_byte(unsigned char b) noexcept {
    return b < 0x20 || b == 0x7f || b == '/' || b == '\\';
}

}  // namespace

target_path resolve_target_path(std::string_view path, std::string_view prefix,
                                target_path_options options) {
    if (!path.starts_with(prefix)) {
        if (prefix.size() > 1 && prefix.back() == '/' && path == prefix.substr(0, prefix.size() - 1)) {
            return target_path{0, {}, false};
        }
        return refuse(404);
    }
    std::string_view rest = path.substr(prefix.size());
    if (prefix.empty() || prefix.back() != '/') {
        // "/static" must not take "/staticfoo".
        if (!rest.empty() && rest.front() != '/') {
            return refuse(404);
        }
        if (rest.empty()) {
            return target_path{0, {}, false};
        }
        rest.remove_prefix(1);
    }
    if (!escapes_well_formed(rest)) {
        return refuse(400);
    }

    target_path out;
    out.trailing_slash = true;  // the root itself ("/static/") is a directory
    out.relative.reserve(rest.size());
    std::string& rel = out.relative;
    for (;;) {
        const std::size_t end = rest.find('/');
        const std::string_view raw = rest.substr(0, end);

        const std::size_t start = rel.size();
        if (start != 0) {
            rel.push_back('/');
        }
        const std::size_t seg_start = rel.size();
        for (std::size_t i = 0; i < raw.size(); ++i) {
            auto b = static_cast<unsigned char>(raw[i]);
            if (b == '%') {
                b = static_cast<unsigned char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
                i += 2;
            }
            if (refused_byte(b)) {
                return refuse(404);
            }
            rel.push_back(static_cast<char>(b));
        }
        const std::string_view seg = std::string_view(rel).substr(seg_start);
        if (seg.empty() || seg == ".") {
            rel.resize(start);
            out.trailing_slash = true;
        } else if (seg == "..") {
            return refuse(403);
        } else if ((seg.front() == '.' && !options.allow_dotfiles) || seg.size() > target_segment_max ||
                   rel.size() > target_path_max) {
            return refuse(404);
        } else {
            out.trailing_slash = false;
        }
        if (end == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(end + 1);
    }
    return out;
}

}  // namespace pfd::proto
