#pragma once
// Finding a file below a route's root: what runs on a helper thread, because opening and
// reading may block on the disk. Every name is resolved by the kernel beneath the root's
// descriptor (openat2 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, and RESOLVE_NO_SYMLINKS
// unless the route follows symlinks): no "..", absolute symlink or /proc link can leave
// it, whatever the name's string checks let through.
#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "base/unique_fd.hpp"
#include "handlers/file_piece.hpp"
#include "handlers/mime_types.hpp"
#include "handlers/route_spec.hpp"
#include "proto/conditional.hpp"
#include "proto/http_date.hpp"

namespace pfd::handlers {

// Files up to this size are read into memory and answered from there: one copy into the
// output beats three io_uring round trips for a few kilobytes.
inline constexpr std::uint64_t inline_file_max = 16 * 1024;

// One coding of a file: the file itself, or a precompressed sibling.
struct file_variant {
    std::shared_ptr<const open_file> file;     // null: there is no such variant
    std::shared_ptr<const std::string> bytes;  // the whole file, if it is small
    proto::etag_text etag;
    // Its own (RFC 9110 8.8.2: the selected representation's): a sibling rewritten
    // alone has changed, whatever the original's stamp says.
    std::time_t last_modified = 0;
    std::array<char, proto::http_date_size> last_modified_text{};
    [[nodiscard]] explicit operator bool() const noexcept { return file != nullptr; }
    [[nodiscard]] std::uint64_t size() const noexcept { return file->size; }
};

// What a request for a name needs, cached per worker.
struct file_entry {
    file_variant identity;
    file_variant br;
    file_variant gzip;
    std::string_view content_type;   // from the route's mime_types
    std::uint64_t checked_ms = 0;    // when it was last found as it is (monotonic)

    [[nodiscard]] bool has_siblings() const noexcept { return br || gzip; }
    [[nodiscard]] std::size_t memory() const noexcept;
};

struct lookup_outcome {
    int status = 0;   // 0: entry; 301 (a directory named without its '/'); 403, 404, 500
    int error = 0;    // the errno behind a 500
    std::shared_ptr<file_entry> entry;
};

// Blocking: for a helper thread. `relative` as proto::resolve_target_path gives it.
[[nodiscard]] lookup_outcome look_up_file(int root_fd, const std::string& relative, bool trailing_slash,
                                          const file_route_settings& settings, const mime_types& mime) noexcept;

// The route's root, opened once per worker (O_PATH | O_DIRECTORY).
[[nodiscard]] unique_fd open_root(const std::string& root) noexcept;

}  // namespace pfd::handlers
