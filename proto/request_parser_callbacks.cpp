// request_parser's llhttp callbacks: the head assembled from llhttp's tokens (whose
// pieces must be adjacent, as RFC 9112 writes them), the checks of request_checks
// applied once it is complete, and the body passed on to the sink.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "proto/request_checks.hpp"
#include "proto/request_parser.hpp"
#include "proto/request_parser_llhttp.hpp"

namespace pfd::proto {

using detail::as_llhttp;
using detail::end_of;

namespace {

method to_method(std::uint8_t m) noexcept {
    switch (m) {
        case HTTP_GET: return method::get;
        case HTTP_HEAD: return method::head;
        case HTTP_POST: return method::post;
        case HTTP_PUT: return method::put;
        case HTTP_DELETE: return method::del;
        case HTTP_OPTIONS: return method::options;
        case HTTP_CONNECT: return method::connect;
        default: return method::other;
    }
}

}  // namespace

int request_parser::on_message_begin() noexcept {
    in_message_ = true;
    in_head_ = true;
    content_with_head_ = false;
    head_start_ = nullptr;
    header_bytes_ = 0;
    body_bytes_ = 0;
    version_ = {};
    head_.method_name = {};
    head_.target = {};
    head_.path = {};
    head_.header_count = 0;
    head_.headers[0] = {};
    return 0;
}

// Token pieces of one head are adjacent: within one read, or in the spill buffer.
// Each callback below extends its token; a piece that is not adjacent is a syntax
// llhttp tolerates and RFC 9112 forbids.

int request_parser::on_method(const char* at, std::size_t n) noexcept {
    if (head_start_ == nullptr) {
        head_start_ = at;
    }
    head_.method_name = {head_start_, head_.method_name.size() + n};
    if (head_.method_name.size() > limits_.max_request_line) {
        return fail(414, "request line too long");
    }
    return 0;
}

int request_parser::on_target(const char* at, std::size_t n) noexcept {
    if (n != 0) {
        if (head_.target.empty()) {
            // RFC 9112 3: exactly one SP between method and target.
            if (at != end_of(head_.method_name) + 1) {
                return fail(400, "invalid whitespace in the request line");
            }
            head_.target = {at, 0};
        }
        head_.target = {head_.target.data(), head_.target.size() + n};
        if (head_.method_name.size() + head_.target.size() > limits_.max_request_line) {
            return fail(414, "request target too long");
        }
    }
    // RFC 9112 3: a request line always has a version. "GET /path" CRLF is HTTP/0.9,
    // which llhttp reads and we do not speak: a 400 at the line's end, not a 505 once a
    // head is complete that an HTTP/0.9 client never sends. (A target that ends at any
    // other control byte is refused by llhttp as well: one test covers both.)
    if (const char* after = at + n; after < parse_end_ && static_cast<unsigned char>(*after) < 0x20) {
        return fail(400, "request line without an HTTP version");
    }
    return 0;
}

int request_parser::on_version(const char* at, std::size_t n) noexcept {
    if (version_.empty()) {
        constexpr std::string_view sp_http = " HTTP/";
        if (head_.target.empty() || at != end_of(head_.target) + sp_http.size()) {
            return fail(400, "invalid whitespace in the request line");
        }
        // llhttp also takes "RTSP/" and "ICE/" here.
        if (std::string_view{end_of(head_.target), sp_http.size()} != sp_http) {
            return fail(400, "not an HTTP request line");
        }
        version_ = {at, 0};
    }
    version_ = {version_.data(), version_.size() + n};
    return 0;
}

// A version we do not speak is refused as soon as it is read, before the head's other
// errors (RFC 9110 6.2: a higher HTTP/1 minor version is read as 1.1).
int request_parser::on_version_complete() noexcept {
    if (as_llhttp(llhttp_).http_major != 1) {
        return fail(505, "unsupported HTTP version");
    }
    return 0;
}

int request_parser::on_header_name(const char* at, std::size_t n) noexcept {
    if (head_.header_count >= limits_.max_headers) {
        return fail(431, "too many header fields");
    }
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    auto& name = head_.headers[head_.header_count].name;
    name = name.empty() ? std::string_view{at, n} : std::string_view{name.data(), name.size() + n};
    return 0;
}

int request_parser::on_header_value(const char* at, std::size_t n) noexcept {
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    auto& h = head_.headers[head_.header_count];
    auto& value = h.value;
    if (value.empty()) {
        // Between the name and the value only ':' and OWS; a CRLF there is a fold.
        if (h.name.empty() || *end_of(h.name) != ':') {
            return fail(400, "whitespace before the colon of a header field");
        }
        const char* colon_end = end_of(h.name) + 1;
        if (at > colon_end && !only_ows({colon_end, static_cast<std::size_t>(at - colon_end)})) {
            return fail(400, "obsolete line folding in a header field");
        }
        value = {at, n};
    } else if (at == end_of(value)) {
        value = {value.data(), value.size() + n};
    } else {
        // llhttp resumes a value after CRLF + SP: a line folded the obsolete way.
        return fail(400, "obsolete line folding in a header field");
    }
    return 0;
}

int request_parser::on_header_value_complete() noexcept {
    // ": " and CRLF count toward the limit too, so many empty fields cannot evade it.
    header_bytes_ += 4;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    auto& h = head_.headers[head_.header_count];
    // RFC 9112 5.1: the name is a token, directly followed by the colon.
    if (h.name.empty() || *end_of(h.name) != ':') {
        return fail(400, "whitespace before the colon of a header field");
    }
    if (!valid_field_name(h.name)) {
        return fail(400, "invalid character in a header field name");
    }
    h.value = trim_ows(h.value);
    ++head_.header_count;
    if (head_.header_count < request_head::max_headers) {
        head_.headers[head_.header_count] = {};
    }
    return 0;
}

int request_parser::on_headers_complete() noexcept {
    llhttp_t& ll = as_llhttp(llhttp_);
    if (ll.http_major != 1) {   // an HTTP/0.9 line ("GET /") has no version to complete
        fail(version_.empty() ? 400 : 505, version_.empty() ? "request line without an HTTP version"
                                                            : "unsupported HTTP version");
        return -1;
    }
    if (bare_lf_ends_a_line()) {
        fail(400, "bare LF ending a line of the request head");
        return -1;
    }
    // RFC 9110 6.2: a higher minor version of a major version we speak is read as the
    // highest minor version we speak.
    head_.version_major = 1;
    head_.version_minor = std::min<std::uint8_t>(ll.http_minor, 1);
    head_.method = to_method(ll.method);
    // RFC 9110 7.8: a server MUST ignore Upgrade in an HTTP/1.0 request. llhttp would stop
    // after it as after a switch of protocols; cleared here, it reads on (and a
    // "Connection: Upgrade, keep-alive" keeps the connection).
    if (ll.upgrade != 0 && ll.http_minor == 0 && ll.method != HTTP_CONNECT) {
        ll.upgrade = 0;
    }
    head_.keep_alive = llhttp_should_keep_alive(&ll) != 0 && ll.upgrade == 0;
    int hosts = 0;
    bool host_ok = true;
    bool transfer_encoding = (ll.flags & F_TRANSFER_ENCODING) != 0;
    expectations expect;
    // One pass, by name length first: this runs for every request. (Kept here over
    // locals, not a returned summary: built in memory, that costs ~30 instructions.)
    for (std::size_t i = 0; i < head_.header_count; ++i) {
        const auto& h = head_.headers[i];
        switch (h.name.size()) {
            case 4:
                if (iequals(h.name, "host")) {
                    ++hosts;
                    host_ok = host_ok && valid_host(h.value);
                }
                break;
            case 6:
                if (iequals(h.name, "expect")) {
                    add_expectations(h.value, expect);
                }
                break;
            case 10:
                // llhttp 8.1 misses "close" followed by HTAB (OWS): "close\t" is a token to it.
                if (head_.keep_alive && iequals(h.name, "connection")) {
                    head_.keep_alive = !list_has(h.value, "close");
                }
                break;
            case 17:
                if (iequals(h.name, "transfer-encoding")) {
                    transfer_encoding = true;   // llhttp does not flag an empty one
                }
                break;
            default:
                break;
        }
    }
    if (const refusal r = check_host(hosts, host_ok, head_.version_minor)) {
        fail(r.status, r.reason);
        return -1;
    }
    const transfer_codings codings =
        transfer_encoding ? read_transfer_codings({head_.headers.data(), head_.header_count}) : transfer_codings{};
    const bool chunked = codings.chunked_final;
    if (const refusal r = check_transfer_encoding(transfer_encoding, codings, head_.version_minor)) {
        fail(r.status, r.reason);
        return -1;
    }
    const bool content_length = (ll.flags & F_CONTENT_LENGTH) != 0;
    head_.has_body = chunked || (content_length && ll.content_length > 0);
    if (const refusal r = check_content_length(content_length, chunked, ll.content_length, limits_.max_body_bytes)) {
        fail(r.status, r.reason);
        return -1;
    }
    if (const refusal r = classify_target(head_)) {
        fail(r.status, r.reason);
        return -1;
    }
    if (const refusal r = check_expect(expect)) {
        fail(r.status, r.reason);
        return -1;
    }
    head_.expect_continue = wants_continue(expect.continue_asked, head_.version_minor, head_.has_body);
    content_with_head_ = head_.expect_continue && content_length && content_already_read(ll.content_length);
    in_head_ = false;
    sink_->on_request_head(head_);
    if (chunked) {
        // llhttp 8.1 reads chunked framing loosely (it skips the CRLF after chunk data
        // unread, and refuses RFC-valid extensions): it skips the body, pauses after the
        // head, and chunked_ reads the body in its place.
        chunked_.start({.max_body_bytes = limits_.max_body_bytes,
                        .max_trailer_bytes = limits_.max_header_bytes,
                        .max_trailer_fields = limits_.max_headers});
        chunked_body_ = true;
        return 1;   // llhttp: no body
    }
    return 0;
}

// llhttp 8.1 in strict mode refuses a bare LF after a field line, but takes one after
// the request line and for the empty line that ends the head. RFC 9112 2.2 lets a
// recipient take them; a proxy in front that does not would read the bytes as another
// request than we do, so all three are refused alike. Runs at the end of the head,
// which is contiguous up to parse_end_ and has its last line terminator behind it.
bool request_parser::bare_lf_ends_a_line() const noexcept {
    if (version_.empty()) {
        return false;   // HTTP/0.9, refused before this
    }
    if (*end_of(version_) != '\r') {
        return true;
    }
    const char* last_line = head_.header_count > 0 ? head_.headers[head_.header_count - 1].name.data()
                                                   : version_.data();
    const auto* lf = static_cast<const char*>(
        std::memchr(last_line, '\n', static_cast<std::size_t>(parse_end_ - last_line)));
    return lf != nullptr && lf + 1 < parse_end_ && lf[1] != '\r';
}

// Whether `length` bytes follow the head in the bytes parsed. Runs at the end of the head
// (contiguous up to parse_end_, with at least one field: Expect).
bool request_parser::content_already_read(std::uint64_t length) const noexcept {
    if (head_.header_count == 0) {
        return false;
    }
    const char* last_line = head_.headers[head_.header_count - 1].name.data();
    constexpr std::string_view end_of_head = "\r\n\r\n";
    const auto* at = static_cast<const char*>(
        ::memmem(last_line, static_cast<std::size_t>(parse_end_ - last_line), end_of_head.data(), end_of_head.size()));
    return at != nullptr && static_cast<std::uint64_t>(parse_end_ - (at + end_of_head.size())) >= length;
}

bool request_parser::request_is_head() const noexcept {
    if (error_status_ != 0) {
        return failed_on_head_;   // the views may point into a read given back since
    }
    if (!in_message_) {
        return false;
    }
    if (in_head_) {
        // HEAD once the SP after the name is read, even if the target that follows is
        // refused at its first byte (before llhttp reports any of it). A method llhttp
        // refused is not HEAD, and its name's bytes may have moved with the line kept
        // for judging it; otherwise the name lies in the bytes parsed, up to parse_end_.
        if (unknown_method_ || head_.method_name != "HEAD") {
            return false;
        }
        const char* after = end_of(head_.method_name);
        return !head_.target.empty() || (after < parse_end_ && *after == ' ');
    }
    return head_.method == method::head;
}

int request_parser::on_body(const char* at, std::size_t n) noexcept {
    // Only Content-Length bodies come here, and their length was checked on the head;
    // this bounds them again in case the two ever disagree.
    body_bytes_ += n;
    if (body_bytes_ > limits_.max_body_bytes) {
        return fail(413, "request body too large");
    }
    if (n != 0) {
        sink_->on_request_body({at, n});
    }
    return 0;
}

int request_parser::on_message_complete() noexcept {
    if (chunked_body_) {
        return HPE_PAUSED;   // the body follows: feed() hands it to chunked_
    }
    return finish_message();
}

int request_parser::finish_message() noexcept {
    in_message_ = false;
    sink_->on_request_complete();
    // After a last request, stop: feed() answers it and closes. After one whose answer
    // comes later, stop too: feed() gives back the rest.
    return head_.keep_alive && !last_request_ && !hold_ ? 0 : HPE_PAUSED;
}

}  // namespace pfd::proto
