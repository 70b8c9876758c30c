// libFuzzer target for proto/target_path: whatever the bytes, an accepted name stays
// below the root and holds nothing the normaliser promises to refuse; it names itself
// (re-encoded, it resolves to the same name, so decoding happened exactly once); and
// allowing dotfiles only ever turns a dotfile 404 into an answer, never changes one.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/target_path.hpp"

namespace {
void require(bool ok) {
    if (!ok) {
        std::abort();
    }
}

// The accepted name as a request path again: only '%' needs escaping, since every other
// byte left in it is one the normaliser passes through raw.
std::string reencode(std::string_view rel) {
    std::string out = "/s/";
    for (char c : rel) {
        if (c == '%') {
            out += "%25";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

pfd::proto::target_path check(std::string_view path, bool dotfiles) {
    const auto r = pfd::proto::resolve_target_path(path, "/s/", pfd::proto::target_path_options{dotfiles});
    require(r.status == 0 || r.status == 400 || r.status == 403 || r.status == 404);
    if (r.status != 0) {
        require(r.relative.empty());
        return r;
    }
    const std::string_view rel = r.relative;
    require(rel.size() <= pfd::proto::target_path_max);
    require(rel.empty() || (rel.front() != '/' && rel.back() != '/'));
    std::size_t start = 0;
    while (start <= rel.size() && !rel.empty()) {
        const std::size_t end = rel.find('/', start);
        const std::string_view seg = rel.substr(start, end == std::string_view::npos ? rel.npos : end - start);
        require(!seg.empty() && seg != "." && seg != "..");
        require(seg.size() <= pfd::proto::target_segment_max);
        require(dotfiles || seg.front() != '.');
        for (char c : seg) {
            const auto u = static_cast<unsigned char>(c);
            require(u >= 0x20 && u != 0x7f && c != '\\');
        }
        if (end == std::string_view::npos) {
            break;
        }
        start = end + 1;
    }
    const auto again = pfd::proto::resolve_target_path(reencode(rel), "/s/",
                                                       pfd::proto::target_path_options{dotfiles});
    require(again.status == 0 && again.relative == r.relative);
    return r;
}

void check_both(std::string_view path) {
    const auto strict = check(path, false);
    const auto loose = check(path, true);
    if (strict.status == 0 || strict.status == 400) {
        require(loose.status == strict.status && loose.relative == strict.relative &&
                loose.trailing_slash == strict.trailing_slash);
    }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    check_both(in);
    std::string prefixed = "/s/";
    prefixed.append(in);
    check_both(prefixed);
    return 0;
}
