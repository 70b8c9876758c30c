#pragma once
// Response bytes. A prepared_response holds everything but the Date value and the
// Connection header, so answering a request is a few memcpys into the output buffer.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "proto/byte_buffer.hpp"
#include "proto/bytes_equal.hpp"
#include "proto/http_date.hpp"

namespace pfd::proto {

enum class connection_header : std::uint8_t {
    none,        // HTTP/1.1 keep-alive: the default, nothing to say
    keep_alive,  // HTTP/1.0 client that asked for keep-alive
    close,       // the server closes after this response
};

inline constexpr std::string_view server_name = "preforkd";

class prepared_response {
public:
    // extra_headers: whole lines, each ending in CRLF (e.g. "Allow: GET, HEAD\r\n").
    // A status without content (204, 304, 1xx) takes an empty body and gets no
    // Content-Type or Content-Length.
    prepared_response(int status, std::string_view content_type, std::string body,
                      std::string_view extra_headers = {});

    // Inline for the common answer (keep-alive, with its body, kept whole): one copy.
    void write(byte_buffer& out, std::string_view date, connection_header conn, bool with_body) const {
        if (conn == connection_header::none && with_body && whole_fits_ &&
            bytes_equal(date, {whole_date_.data(), whole_date_.size()})) {
            std::memcpy(out.grow(whole_.size()), whole_.data(), whole_.size());
            return;
        }
        write_pieces(out, date, conn, with_body);
    }

    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] std::string_view body() const noexcept { return body_; }

private:
    void write_pieces(byte_buffer& out, std::string_view date, connection_header conn, bool with_body) const;
    void write_whole(std::string_view date) const;

    // A whole answer this size or less is kept ready (twice its size held).
    static constexpr std::size_t whole_limit = 16 * 1024;

    int status_;
    std::string before_date_;  // status line, Server, "Date: "
    std::string after_date_;   // CRLF, Content-Type, Content-Length
    std::string body_;
    // The common answer (keep-alive, with its body) as the Date of the last one made it:
    // one copy a request instead of five pieces, remade when the second changes.
    // Mutable: a cache; a worker's responses are used by its loop thread only.
    bool whole_fits_ = false;
    mutable std::string whole_;
    mutable std::array<char, http_date_size> whole_date_{};
};

// The head of an answer built per request (files, modules): the status and the fields a
// handler adds; the worker writes it with the Date and Connection it decides on.
class response_head {
public:
    void start(int status);
    // One field line; the value must be a valid field value (no CR/LF).
    void add(std::string_view name, std::string_view value);
    void add_content_length(std::uint64_t length);
    void write(byte_buffer& out, std::string_view date, connection_header conn) const;

    [[nodiscard]] int status() const noexcept { return status_; }
    [[nodiscard]] bool has_length() const noexcept { return has_length_; }
    [[nodiscard]] std::uint64_t length() const noexcept { return length_; }

private:
    int status_ = 200;
    bool has_length_ = false;
    std::uint64_t length_ = 0;
    std::string fields_;   // whole lines after Date, each ending in CRLF
};

// The end of a head: the Connection line, if any, and the empty line.
std::string_view head_end(connection_header conn) noexcept;

std::string_view reason_phrase(int status) noexcept;

// What an answer with this status may carry.
enum class content_rule : std::uint8_t {
    any,    // content, framed by Content-Length or chunked
    none,   // 1xx, 204, 304: no content whatever the head says (RFC 9110 6.4.1), and no
            // Content-Length (8.6: a 304's would be the 200's)
    empty,  // 205: no content, which its Content-Length: 0 says (15.3.6; else a client
            // would read until the close)
};
[[nodiscard]] constexpr content_rule content_rule_for(int status) noexcept {
    if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
        return content_rule::none;
    }
    return status == 205 ? content_rule::empty : content_rule::any;
}

}  // namespace pfd::proto
