// request_parser: llhttp driven over a connection's reads. feed() runs llhttp, hands
// a chunked body to chunked_decoder, keeps a head that spans reads contiguous in
// spilled_ (rebasing its views), and stops after an error or a last request; the
// callbacks that assemble the head from llhttp's tokens are in
// request_parser_callbacks.cpp, the RFC checks they apply in request_checks.cpp.
#include "proto/request_parser.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

#include "proto/http_chars.hpp"
#include "proto/request_checks.hpp"
#include "proto/request_parser_llhttp.hpp"

namespace pfd::proto {

using detail::as_llhttp;
using detail::end_of;

namespace {

request_parser& self(llhttp_t* p) noexcept { return *static_cast<request_parser*>(p->data); }

#define PFD_STR2(x) #x
#define PFD_STR(x) PFD_STR2(x)
constexpr const char* llhttp_version_text =
    PFD_STR(LLHTTP_VERSION_MAJOR) "." PFD_STR(LLHTTP_VERSION_MINOR) "." PFD_STR(LLHTTP_VERSION_PATCH);
#undef PFD_STR
#undef PFD_STR2

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
    // Whether a body is chunked is decided by read_transfer_codings(), which, unlike llhttp
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
    chunked_body_ = unknown_method_ = last_request_ = hold_ = in_message_ = in_head_ = left_input_ = false;
    held_back_ = 0;
    simple_memo_ = {};
    stopped_ = parse_status::need_more;
    error_status_ = 0;
    error_reason_ = "";
    failed_on_head_ = false;
    content_with_head_ = false;
}

parse_status request_parser::feed(std::span<const char> bytes) noexcept {
    if (stopped_ == parse_status::held) {
        held_back_ = bytes.size();   // still waiting for the answer: nothing is parsed
        return stopped_;
    }
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
    if (simple_heads_ && spilled_.empty() && !in_message_ && !chunked_body_) {
        p = read_simple_heads(p, end);
        if (stopped_ != parse_status::need_more) {
            return stopped_;
        }
        if (p == end) {
            return parse_status::need_more;
        }
    }
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
                return holds_after_message() ? hold_at(p, end) : stop(parse_status::closed, p, end);
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
            // (An overflow shares the errno and points past the digit that overflowed, which
            // may be an HTAB: only an invalid character is respelled, or the outcome would
            // depend on whether a read ended right after that digit.)
            if (err == HPE_INVALID_CONTENT_LENGTH && at != nullptr && at < end && *at == '\t' &&
                std::strcmp(llhttp_get_error_reason(&as_llhttp(llhttp_)), "Invalid character in Content-Length") == 0) {
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

// Between requests, the heads read_simple_head takes are handled here, one after the
// other, as llhttp's callbacks would handle them; the first it declines is left to
// llhttp, which has not seen these bytes and so still waits for a request's start.
// Returns where the bytes not yet parsed begin (the parser may have stopped).
const char* request_parser::read_simple_heads(const char* p, const char* end) noexcept {
    while (p < end) {
        const std::size_t used = read_simple_head({p, static_cast<std::size_t>(end - p)}, limits_, head_, simple_memo_);
        if (used == 0) {
            break;
        }
        p += used;
        in_message_ = true;
        in_head_ = false;
        version_ = {};
        head_start_ = nullptr;
        sink_->on_request_head(head_);
        if (finish_message() != 0) {
            if (holds_after_message()) {
                hold_at(p, end);
            } else {
                stop(parse_status::closed, p, end);
            }
            return p;
        }
    }
    return p;
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
            if (holds_after_message()) {
                return hold_at(llhttp_get_error_pos(&as_llhttp(llhttp_)), end);
            }
            [[fallthrough]];
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
    const refusal r = unknown_method_refusal(request_line_shape(spilled_.view(), limits_.max_request_line));
    if (!r) {
        return parse_status::need_more;   // incomplete: at most max_request_line + 12 bytes kept
    }
    fail(r.status, r.reason);
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

// The request just completed is the whole of what was parsed: nothing of a head is kept
// (the bytes after it go back to the caller).
parse_status request_parser::hold_at(const char* stopped_at, const char* end) noexcept {
    held_back_ = stopped_at != nullptr && stopped_at < end ? static_cast<std::size_t>(end - stopped_at) : 0;
    keep_partial_head(end);
    stopped_ = parse_status::held;
    return stopped_;
}

void request_parser::release_hold() noexcept {
    hold_ = false;
    held_back_ = 0;
    if (stopped_ == parse_status::held) {
        stopped_ = parse_status::need_more;
        llhttp_resume(&as_llhttp(llhttp_));
    }
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
    if (parse_end_ != nullptr && within(parse_end_ - 1, old_begin, old_end)) {
        parse_end_ = new_begin + (parse_end_ - old_begin);   // request_is_head reads up to it
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
        failed_on_head_ = request_is_head();
        error_status_ = status;
        error_reason_ = reason != nullptr ? reason : "bad request";
    }
    return HPE_USER;
}

}  // namespace pfd::proto
