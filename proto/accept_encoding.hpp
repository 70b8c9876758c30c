#pragma once
// Which of the precompressed codings (br, gzip) an Accept-Encoding value accepts
// (RFC 9110 12.5.3), and which the client prefers.
#include <cstdint>
#include <string_view>

namespace pfd::proto {

enum class content_coding : std::uint8_t { identity, gzip, br };

struct accepted_codings {
    std::uint16_t br_q = 0;    // qvalue * 1000: 1..1000 accepted, 0 not
    std::uint16_t gzip_q = 0;

    [[nodiscard]] bool accepts_br() const noexcept { return br_q > 0; }
    [[nodiscard]] bool accepts_gzip() const noexcept { return gzip_q > 0; }
    // Among the codings available (e.g. the siblings that exist on disk): the higher q,
    // br on a tie (smaller for the same content); identity when neither is accepted.
    [[nodiscard]] content_coding choose(bool have_br, bool have_gzip) const noexcept {
        const std::uint16_t b = have_br ? br_q : 0;
        const std::uint16_t g = have_gzip ? gzip_q : 0;
        if (b > 0 && b >= g) {
            return content_coding::br;
        }
        return g > 0 ? content_coding::gzip : content_coding::identity;
    }
    [[nodiscard]] content_coding preferred() const noexcept { return choose(true, true); }
};

// `value` is the Accept-Encoding field ("" = absent: identity only, as nginx's
// gzip_static and h2o do, although RFC 9110 lets a server send any coding then; a client
// that says nothing has said it can decode nothing). Elements: coding [ ";" "q=" qvalue ],
// coding case-insensitive, "x-gzip" is gzip (RFC 9110 8.4.1.3), "*" gives its q to every
// coding not named; q=0 refuses; a malformed element (bad qvalue, other parameters, not
// a token) is ignored on its own; a coding named twice keeps its first valid q.
// "identity;q=0" is not honoured: the file is served uncompressed rather than 406.
[[nodiscard]] accepted_codings parse_accept_encoding(std::string_view value) noexcept;

}  // namespace pfd::proto
