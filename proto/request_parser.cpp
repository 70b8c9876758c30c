#include "proto/request_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

#include <llhttp.h>

#include "proto/http_chars.hpp"

namespace pfd::proto {

namespace {

request_parser& self(llhttp_t* p) noexcept { return *static_cast<request_parser*>(p->data); }

// The parser's in-place storage for its llhttp_t (constructed there by its constructor).
llhttp_t& as_llhttp(std::byte* storage) noexcept {
    return *std::launder(static_cast<llhttp_t*>(static_cast<void*>(storage)));
}

#define PFD_STR2(x) #x
#define PFD_STR(x) PFD_STR2(x)
constexpr const char* llhttp_version_text =
    PFD_STR(LLHTTP_VERSION_MAJOR) "." PFD_STR(LLHTTP_VERSION_MINOR) "." PFD_STR(LLHTTP_VERSION_PATCH);
#undef PFD_STR
#undef PFD_STR2

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

const char* end_of(std::string_view v) noexcept { return v.data() + v.size(); }

// RFC 9110 7.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ], where uri-host is an
// IP-literal in brackets or a reg-name (which covers IPv4 addresses, and may be empty).
bool valid_host(std::string_view v) noexcept {
    std::string_view host = v;
    std::string_view port;
    if (!v.empty() && v.front() == '[') {
        const auto close = v.find(']');
        if (close == std::string_view::npos || close == 1) {
            return false;
        }
        // IPv6address or IPvFuture: hex digits, ':' and '.', or unreserved / sub-delims.
        for (char c : v.substr(1, close - 1)) {
            if (!is_reg_name_char(c) && c != ':') {
                return false;
            }
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
    return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What a request line whose method llhttp does not know turns out to be, once enough
// of it has arrived: method SP target SP HTTP-version CRLF, or not. Decided at the
// first byte that settles it, so the answer never depends on how the line was split.
enum class line_shape : std::uint8_t { incomplete, well_formed, malformed, too_long, other_version };

line_shape request_line_shape(std::string_view v, std::size_t max_request_line) noexcept {
    std::size_t i = 0;
    while (i < v.size() && is_tchar(v[i])) {
        if (++i > max_request_line) {
            return line_shape::too_long;
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

// RFC 9110 5.6.1 / RFC 9112 6.1: over every Transfer-Encoding field, ignoring empty
// list elements ("chunked," is "chunked"), chunked is the last coding and appears once.
bool chunked_is_final(const request_head& head) noexcept {
    std::string_view last;
    int chunked = 0;
    for (std::size_t i = 0; i < head.header_count; ++i) {
        if (!iequals(head.headers[i].name, "transfer-encoding")) {
            continue;
        }
        std::string_view list = head.headers[i].value;
        while (!list.empty()) {
            const auto comma = list.find(',');
            const std::string_view item = trim_ows(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
            if (!item.empty()) {
                last = item;
                chunked += iequals(item, "chunked") ? 1 : 0;
            }
        }
    }
    return chunked == 1 && iequals(last, "chunked");
}

// RFC 9110 5.6.1: whether a comma-separated list has this element (OWS around each).
bool lists(std::string_view list, std::string_view element) noexcept {
    while (!list.empty()) {
        const auto comma = list.find(',');
        if (iequals(trim_ows(list.substr(0, comma)), element)) {
            return true;
        }
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    return false;
}

bool within(const char* p, const char* begin, const char* end) noexcept {
    return std::less_equal<>{}(begin, p) && std::less<>{}(p, end);
}

// A spill buffer that grew for one large head is released, not kept: an idle
// connection should not hold memory for the largest head it ever sent.
constexpr std::size_t spill_keep_capacity = 4096;
// Bytes of a head besides what the callbacks count (spaces, CRLFs, the version).
constexpr std::size_t head_framing_slack = 1024;

}  // namespace

// llhttp calls plain C functions; these forward to the parser behind p->data.
// llhttp may deliver an empty piece when a token starts exactly at the end of a read;
// it is dropped here so that no view ever holds a pointer without bytes behind it
// (rebase() moves only non-empty views).
struct parser_callbacks {
    static int message_begin(llhttp_t* p) { return self(p).on_message_begin(); }
    static int method(llhttp_t* p, const char* at, std::size_t n) { return n ? self(p).on_method(at, n) : 0; }
    // Called with n == 0 too: the target may end at the very start of a read.
    static int url(llhttp_t* p, const char* at, std::size_t n) { return self(p).on_target(at, n); }
    static int version(llhttp_t* p, const char* at, std::size_t n) { return n ? self(p).on_version(at, n) : 0; }
    static int version_complete(llhttp_t* p) { return self(p).on_version_complete(); }
    static int header_field(llhttp_t* p, const char* at, std::size_t n) {
        return n ? self(p).on_header_name(at, n) : 0;
    }
    static int header_value(llhttp_t* p, const char* at, std::size_t n) {
        return n ? self(p).on_header_value(at, n) : 0;
    }
    static int header_value_complete(llhttp_t* p) { return self(p).on_header_value_complete(); }
    static int headers_complete(llhttp_t* p) { return self(p).on_headers_complete(); }
    static int body(llhttp_t* p, const char* at, std::size_t n) { return self(p).on_body(at, n); }
    static int message_complete(llhttp_t* p) { return self(p).on_message_complete(); }

    static const llhttp_settings_t& settings() noexcept {
        static const llhttp_settings_t s = [] {
            llhttp_settings_t v;
            llhttp_settings_init(&v);
            v.on_message_begin = message_begin;
            v.on_method = method;
            v.on_url = url;
            v.on_version = version;
            v.on_version_complete = version_complete;
            v.on_header_field = header_field;
            v.on_header_value = header_value;
            v.on_header_value_complete = header_value_complete;
            v.on_headers_complete = headers_complete;
            v.on_body = body;
            v.on_message_complete = message_complete;
            return v;
        }();
        return s;
    }
};

const char* llhttp_version() noexcept { return llhttp_version_text; }

request_parser::request_parser(request_sink& sink, parser_limits limits) noexcept
    : sink_{&sink}, limits_{limits} {
    static_assert(sizeof(llhttp_t) <= llhttp_size && alignof(llhttp_t) <= llhttp_align,
                  "request_parser::llhttp_ is too small for this llhttp's llhttp_t: raise llhttp_size");
    static_assert(std::is_trivially_destructible_v<llhttp_t>, "request_parser never destroys its llhttp_t");
    ::new (static_cast<void*>(llhttp_)) llhttp_t{};
    limits_.max_headers = std::min(limits_.max_headers, request_head::max_headers);
    init_llhttp();
}

void request_parser::init_llhttp() noexcept {
    llhttp_t& ll = as_llhttp(llhttp_);
    llhttp_init(&ll, HTTP_REQUEST, &parser_callbacks::settings());
    ll.data = this;
    // Any single-digit version gets through llhttp; on_headers_complete decides (RFC 9110
    // 6.2: HTTP/1.2 is read as 1.1; another major version is a 505). llhttp 8.1 has the
    // flag but no setter for it.
    ll.lenient_flags |= LENIENT_VERSION;
    // Whether a body is chunked is decided by chunked_is_final(), which, unlike llhttp
    // 8.1, ignores empty list elements ("chunked,"); Transfer-Encoding with
    // Content-Length is still refused by llhttp (that is LENIENT_CHUNKED_LENGTH).
    ll.lenient_flags |= LENIENT_TRANSFER_ENCODING;
}

void request_parser::reset() noexcept {
    init_llhttp();
    ows_kept_ = 0;
    if (spilled_.capacity() > spill_keep_capacity) {
        spilled_.release();
    }
    spilled_.clear();
    head_start_ = nullptr;
    header_bytes_ = 0;
    body_bytes_ = 0;
    chunked_body_ = unknown_method_ = last_request_ = in_message_ = in_head_ = left_input_ = false;
    stopped_ = parse_status::need_more;
    error_status_ = 0;
    error_reason_ = "";
}

parse_status request_parser::feed(std::span<const char> bytes) noexcept {
    if (stopped_ != parse_status::need_more) {
        left_input_ = left_input_ || !bytes.empty();
        return stopped_;
    }
    if (bytes.empty()) {
        return parse_status::need_more;
    }
    if (unknown_method_) {
        spilled_.append({bytes.data(), bytes.size()});
        return judge_unknown_method();
    }
    const char* p = bytes.data();
    const std::size_t n = bytes.size();
    const char* end = p + n;
    if (!spilled_.empty()) {
        // A head is in progress: append to its bytes and parse the copy, so the head
        // stays contiguous.
        const std::string_view before = spilled_.view();
        if (spilled_.ensure_writable(n)) {
            rebase(before.data(), end_of(before), spilled_.view().data());
        }
        char* copy = spilled_.grow(n);
        std::memcpy(copy, p, n);
        p = copy;
        end = copy + n;
        if (ows_kept_ != 0) {
            switch (respell_kept_ows()) {
                case respell::reparse:
                    p = spilled_.view().data();
                    break;
                case respell::wait:
                    return parse_status::need_more;
                case respell::refuse:
                    return stop(parse_status::error, nullptr, nullptr);
            }
        }
    }
    for (;;) {
        if (chunked_body_) {
            const auto [st, used, data] = chunked_.feed({p, static_cast<std::size_t>(end - p)});
            p += used;
            if (st == chunked_decoder::status::data) {
                sink_->on_request_body(data);
                continue;
            }
            if (st == chunked_decoder::status::error) {
                fail(chunked_.error_status(), chunked_.error_reason());
                return stop(parse_status::error, end, end);
            }
            if (st == chunked_decoder::status::need_more) {
                keep_partial_head(end);
                return parse_status::need_more;
            }
            chunked_body_ = false;
            if (finish_message() != 0) {
                return stop(parse_status::closed, p, end);
            }
            llhttp_resume(&as_llhttp(llhttp_));
        }
        parse_end_ = end;
        const llhttp_errno_t err = llhttp_execute(&as_llhttp(llhttp_), p, static_cast<std::size_t>(end - p));
        if (err != HPE_OK) {
            if (err == HPE_PAUSED && chunked_body_) {
                // Paused by on_message_complete after a chunked head: the body is ours.
                p = llhttp_get_error_pos(&as_llhttp(llhttp_));
                continue;
            }
            // (An overflow is reported at the end of the bytes, where there is nothing to read.)
            const char* at = llhttp_get_error_pos(&as_llhttp(llhttp_));
            if (err == HPE_INVALID_CONTENT_LENGTH && at != nullptr && at < end && *at == '\t') {
                switch (respell_content_length_ows(at, end)) {
                    case respell::reparse:
                        p = spilled_.view().data();
                        end = end_of(spilled_.view());
                        continue;
                    case respell::wait:
                        return parse_status::need_more;
                    case respell::refuse:
                        break;
                }
            }
        }
        return after_execute(err, end);
    }
}

parse_status request_parser::after_execute(int err, const char* end) noexcept {
    switch (static_cast<llhttp_errno_t>(err)) {
        case HPE_OK:
            keep_partial_head(end);
            if (error_status_ != 0) {
                return stop(parse_status::error, end, end);
            }
            return parse_status::need_more;
        case HPE_PAUSED:
        case HPE_PAUSED_UPGRADE:
            // Paused by on_message_complete after a last request, or by llhttp after a
            // request that asked to switch protocols: we answer it and close.
            return stop(parse_status::closed, llhttp_get_error_pos(&as_llhttp(llhttp_)), end);
        case HPE_INVALID_METHOD:
            return on_unknown_method(end);
        case HPE_INVALID_CONSTANT:
            // In the request line, this is a method llhttp knows only for RTSP or ICE
            // ("DESCRIBE / HTTP/1.1"): to an HTTP server, an unknown method.
            if (in_head_ && version_.empty()) {
                return on_unknown_method(end);
            }
            if (error_status_ == 0) {
                fail(400, llhttp_get_error_reason(&as_llhttp(llhttp_)));
            }
            break;
        case HPE_INVALID_VERSION:
            // Digits of any version pass (LENIENT_VERSION); this is a malformed one:
            // "HTTP/1.10", a space after "HTTP/1.1", a bare CR.
            fail(400, "malformed HTTP version");
            break;
        default:
            if (error_status_ == 0) {
                fail(400, llhttp_get_error_reason(&as_llhttp(llhttp_)));
            }
            break;
    }
    return stop(parse_status::error, end, end);
}

// RFC 9110 9.1: a method we do not implement in a well-formed request line is a 501;
// anything else that llhttp cannot read as a method (a TLS hello, "get" as part of
// junk) is a 400. The line is kept until it can be told apart, whatever the split.
parse_status request_parser::on_unknown_method(const char* end) noexcept {
    // The method began in this read (llhttp's open span), or in the kept head bytes.
    const char* start = head_start_ != nullptr ? head_start_ : static_cast<const char*>(as_llhttp(llhttp_)._span_pos0);
    if (start == nullptr || !std::less<>{}(start, end)) {
        fail(400, "invalid method");
        return stop(parse_status::error, end, end);
    }
    const std::string_view spill = spilled_.view();
    if (!spill.empty() && within(start, spill.data(), end_of(spill))) {
        spilled_.consume(static_cast<std::size_t>(start - spill.data()));
    } else {
        spilled_.clear();
        spilled_.append({start, static_cast<std::size_t>(end - start)});
    }
    unknown_method_ = true;
    return judge_unknown_method();
}

parse_status request_parser::judge_unknown_method() noexcept {
    switch (request_line_shape(spilled_.view(), limits_.max_request_line)) {
        case line_shape::incomplete:
            return parse_status::need_more;   // at most max_request_line + 12 bytes kept
        case line_shape::too_long:
            fail(414, "request line too long");
            break;
        case line_shape::well_formed:
            fail(501, "method not implemented");
            break;
        case line_shape::other_version:
            fail(505, "unsupported HTTP version");
            break;
        case line_shape::malformed:
            fail(400, "invalid method");
            break;
    }
    unknown_method_ = false;
    spilled_.clear();
    return stop(parse_status::error, nullptr, nullptr);
}

parse_status request_parser::stop(parse_status why, const char* stopped_at, const char* end) noexcept {
    stopped_ = why;
    // After an error the client may well be sending more (a body we refused).
    left_input_ = why == parse_status::error || (stopped_at != nullptr && stopped_at < end);
    return why;
}

void request_parser::keep_partial_head(const char* end) noexcept {
    if (!in_head_ || head_start_ == nullptr) {
        if (!spilled_.empty() || spilled_.capacity() > spill_keep_capacity) {
            if (spilled_.capacity() > spill_keep_capacity) {
                spilled_.release();
            }
            spilled_.clear();
        }
        return;
    }
    keep_from_head_start(end);
    if (kept_head_too_large()) {
        fail(version_.empty() ? 414 : 431, "request head too large");
    }
}

// spilled_ becomes the bytes from the head's first one to end, views rebased onto it.
void request_parser::keep_from_head_start(const char* end) noexcept {
    const std::string_view spill = spilled_.view();
    if (!spill.empty() && within(head_start_, spill.data(), end_of(spill))) {
        // Bytes before this head (an earlier request, its body) are done with.
        spilled_.consume(static_cast<std::size_t>(head_start_ - spill.data()));
    } else {
        const auto n = static_cast<std::size_t>(end - head_start_);
        spilled_.clear();
        char* copy = spilled_.grow(n);
        std::memcpy(copy, head_start_, n);
        rebase(head_start_, end, copy);
    }
}

// Limits on the counted parts are checked as bytes arrive; this bounds the rest (padding
// whitespace) so a head can never grow the buffer without limit.
bool request_parser::kept_head_too_large() const noexcept {
    return spilled_.size() > limits_.max_request_line + limits_.max_header_bytes + head_framing_slack;
}

// RFC 9110 5.6.3 / RFC 9112 5.1: OWS is SP or HTAB, and is not part of a field value,
// but llhttp 8.1 takes only SP after the digits of a Content-Length ("38\t" is "invalid
// character"). At that HTAB, the head is kept, the OWS run from it respelled with SP and
// the head parsed again, so llhttp judges exactly what it would with SP: the framing
// checks stay llhttp's own, and any byte that is not OWS still fails where it did. It
// is rare, so it may cost a second pass over one head; an OWS run that reaches the end
// of a read is waited for (not parsed again per byte), so that pass happens once per
// Content-Length field, whatever the split.
request_parser::respell request_parser::respell_content_length_ows(const char* tab, const char* end) noexcept {
    if (!in_head_ || head_start_ == nullptr || error_status_ != 0 || !within(tab, head_start_, end)) {
        return respell::refuse;
    }
    const auto at = static_cast<std::size_t>(tab - head_start_);
    // The head and what follows it in this read (bounded by the read, not by the head
    // limit: only once the OWS reaches the end is all of spilled_ the head).
    keep_from_head_start(end);
    ows_kept_ = at;
    return respell_kept_ows();
}

request_parser::respell request_parser::respell_kept_ows() noexcept {
    char* head = spilled_.writable_view();
    const std::size_t size = spilled_.size();
    std::size_t i = ows_kept_;
    for (; i < size && is_ws(head[i]); ++i) {
        head[i] = ' ';
    }
    if (i == size) {
        ows_kept_ = size;
        if (kept_head_too_large()) {
            fail(431, "request head too large");
            return respell::refuse;
        }
        return respell::wait;
    }
    ows_kept_ = 0;
    init_llhttp();   // its error is final; the head starts over (on_message_begin resets it)
    return respell::reparse;
}

void request_parser::rebase(const char* old_begin, const char* old_end, const char* new_begin) noexcept {
    auto move = [&](std::string_view& v) {
        if (!v.empty() && within(v.data(), old_begin, old_end)) {
            v = {new_begin + (v.data() - old_begin), v.size()};
        }
    };
    if (head_start_ != nullptr && within(head_start_, old_begin, old_end)) {
        head_start_ = new_begin + (head_start_ - old_begin);
    }
    move(head_.method_name);
    move(head_.target);
    move(version_);
    const std::size_t last = std::min<std::size_t>(head_.header_count, request_head::max_headers - 1);
    for (std::size_t i = 0; i <= last; ++i) {
        move(head_.headers[i].name);
        move(head_.headers[i].value);
    }
}

int request_parser::fail(int status, const char* reason) noexcept {
    if (error_status_ == 0) {
        error_status_ = status;
        error_reason_ = reason != nullptr ? reason : "bad request";
    }
    return HPE_USER;
}

int request_parser::on_message_begin() noexcept {
    in_message_ = true;
    in_head_ = true;
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
        for (const char* p = end_of(h.name) + 1; p < at; ++p) {
            if (*p != ' ' && *p != '\t') {
                return fail(400, "obsolete line folding in a header field");
            }
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
    if (!std::all_of(h.name.begin(), h.name.end(), is_tchar)) {
        return fail(400, "invalid character in a header field name");
    }
    h.value = trim_ows(h.value);
    ++head_.header_count;
    if (head_.header_count < request_head::max_headers) {
        head_.headers[head_.header_count] = {};
    }
    return 0;
}

int request_parser::check_target() noexcept {
    std::string_view t = head_.target;
    if (t.find('#') != std::string_view::npos) {
        return fail(400, "fragment in the request target");   // RFC 9112 3.2: never sent
    }
    if (head_.method == method::connect) {
        head_.form = target_form::origin;   // authority-form; refused by method, not syntax
        head_.path = {};
        return 0;
    }
    if (t == "*") {
        if (head_.method != method::options) {
            return fail(400, "asterisk-form target on a method other than OPTIONS");
        }
        head_.form = target_form::asterisk;
        head_.path = t;
        return 0;
    }
    if (!t.empty() && t.front() == '/') {
        head_.form = target_form::origin;
    } else {
        // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]
        const auto sep = t.find("://");
        const std::string_view scheme = sep == std::string_view::npos ? std::string_view{} : t.substr(0, sep);
        if (!iequals(scheme, "http") && !iequals(scheme, "https")) {
            return fail(400, "invalid request target");
        }
        t.remove_prefix(sep + 3);
        const auto path_start = t.find_first_of("/?");
        if (path_start == 0) {
            return fail(400, "absolute-form target without a host");
        }
        head_.form = target_form::absolute;
        t = path_start == std::string_view::npos ? std::string_view{} : t.substr(path_start);
        if (t.empty() || t.front() == '?') {
            head_.path = "/";
            return 0;
        }
    }
    head_.path = t.substr(0, t.find('?'));
    return 0;
}

int request_parser::check_expect(bool expected, bool only_continue) noexcept {
    if (!only_continue) {
        return fail(417, "unsupported expectation");
    }
    // RFC 9110 10.1.1: ignored in HTTP/1.0; pointless without a body.
    head_.expect_continue = expected && head_.version_minor >= 1 && head_.has_body;
    return 0;
}

int request_parser::on_headers_complete() noexcept {
    const llhttp_t& ll = as_llhttp(llhttp_);
    if (ll.http_major != 1) {   // an HTTP/0.9 line ("GET /") has no version to complete
        fail(version_.empty() ? 400 : 505, version_.empty() ? "request line without an HTTP version"
                                                            : "unsupported HTTP version");
        return -1;
    }
    // RFC 9110 6.2: a higher minor version of a major version we speak is read as the
    // highest minor version we speak.
    head_.version_major = 1;
    head_.version_minor = std::min<std::uint8_t>(ll.http_minor, 1);
    head_.method = to_method(ll.method);
    head_.keep_alive = llhttp_should_keep_alive(&ll) != 0 && ll.upgrade == 0;
    int hosts = 0;
    bool host_ok = true;
    bool transfer_encoding = (ll.flags & F_TRANSFER_ENCODING) != 0;
    bool expected = false;
    bool only_continue = true;
    // One pass, by name length first: this runs for every request.
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
                    expected = true;
                    only_continue = only_continue && iequals(h.value, "100-continue");
                }
                break;
            case 10:
                // llhttp 8.1 misses "close" followed by HTAB (OWS): "close\t" is a token to it.
                if (head_.keep_alive && iequals(h.name, "connection")) {
                    head_.keep_alive = !lists(h.value, "close");
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
    // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one ever, and a valid one.
    if (hosts > 1 || (hosts == 0 && head_.version_minor >= 1)) {
        fail(400, hosts == 0 ? "missing Host header" : "more than one Host header");
        return -1;
    }
    if (!host_ok) {
        fail(400, "invalid Host header");
        return -1;
    }
    const bool chunked = transfer_encoding && chunked_is_final(head_);
    if (transfer_encoding && !chunked) {
        // RFC 9112 6.3: a request's body length is unknowable unless chunked is the
        // final coding (6.1: and applied once).
        fail(400, "Transfer-Encoding without chunked as its one final coding");
        return -1;
    }
    if (transfer_encoding && head_.version_minor == 0) {
        // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
        fail(400, "Transfer-Encoding in an HTTP/1.0 request");
        return -1;
    }
    head_.has_body = chunked || ((ll.flags & F_CONTENT_LENGTH) != 0 && ll.content_length > 0);
    if (!chunked && ll.content_length > limits_.max_body_bytes && (ll.flags & F_CONTENT_LENGTH) != 0) {
        fail(413, "request body too large");
        return -1;
    }
    if (check_target() != 0 || check_expect(expected, only_continue) != 0) {
        return -1;
    }
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
    // After a last request, stop: feed() answers it and closes.
    return head_.keep_alive && !last_request_ ? 0 : HPE_PAUSED;
}

std::string_view request_head::find_header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i) {
        if (iequals(headers[i].name, name)) {
            return headers[i].value;
        }
    }
    return {};
}

}  // namespace pfd::proto
