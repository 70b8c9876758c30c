#pragma once
// The path part of a request target, below a route prefix, as a relative file name under
// a docroot, or the status that refuses it. A string check only: the first line of
// defence before openat2(RESOLVE_BENEATH), never a replacement for it.
#include <cstdint>
#include <string>
#include <string_view>

namespace pfd::proto {

struct target_path_options {
    bool allow_dotfiles = false;  // segments starting with '.' (".git", ".env") are 404 unless set
};

struct target_path {
    int status = 0;            // 0 = serve `relative`; else 400, 403 or 404
    std::string relative;      // decoded segments joined by '/'; "" = the root itself
    bool trailing_slash = false;  // the path names a directory ("/a/", "/a/."): serve its index;
                                  // false on a directory: 301 to add the '/'
};

// Longest relative name accepted, and longest segment: Linux's PATH_MAX (with its NUL)
// and NAME_MAX. Longer could never be opened; 404 like nginx's ENAMETOOLONG.
inline constexpr std::size_t target_path_max = 4095;
inline constexpr std::size_t target_segment_max = 255;

// `path` is request_head::path (raw, still percent-encoded, no query); `prefix` the route's
// (e.g. "/static/"), compared raw and case-sensitively. The remainder is split on raw '/'
// and each segment percent-decoded exactly once ("%252e" is the name "%2e").
//   400  a '%' not followed by two hex digits (anywhere: checked before anything else)
//   403  a ".." segment, raw or encoded ("%2e%2e", ".%2E")
//   404  decoded NUL, '/' (%2f), '\' (%5c or raw), other control bytes (< 0x20, 0x7f);
//        a dotfile segment (unless allowed); a too-long segment or path; a path outside
//        the prefix
// Empty segments ("a//b") and "." segments are dropped: both are no-ops in POSIX path
// resolution so they cannot reach anything "a/b" cannot, and nginx (merge_slashes) and
// RFC 3986 5.2.4 collapse them too; refusing would 404 hand-written links with "//".
// The prefix without its final '/' ("/static" for "/static/") is the root with
// trailing_slash false, so the handler redirects to the prefix.
// Segments are checked left to right after the 400 scan; the first refusal wins.
[[nodiscard]] target_path resolve_target_path(std::string_view path, std::string_view prefix,
                                              target_path_options options = {});

}  // namespace pfd::proto
