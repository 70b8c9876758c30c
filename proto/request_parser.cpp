#include "proto/request_parser.hpp"

#include <cstring>

namespace pfd::proto {

namespace {

request_parser& self(llhttp_t* p) noexcept { return *static_cast<request_parser*>(p->data); }

method to_method(std::uint8_t m) noexcept {
    switch (static_cast<llhttp_method>(m)) {
        case HTTP_GET: return method::get;
        case HTTP_HEAD: return method::head;
        case HTTP_POST: return method::post;
        case HTTP_PUT: return method::put;
        case HTTP_DELETE: return method::del;
        case HTTP_OPTIONS: return method::options;
        default: return method::other;
    }
}

std::string_view trim_trailing_ows(std::string_view v) noexcept {
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) {
        v.remove_suffix(1);
    }
    return v;
}

// Released rather than kept when a spilled head made the buffer this large:
// idle connections should not hold memory for the largest head they ever sent.
constexpr std::size_t spill_keep_capacity = 4096;

}  // namespace

// llhttp calls plain C functions; these forward to the parser behind p->data.
struct parser_callbacks {
    static int message_begin(llhttp_t* p) { return self(p).on_message_begin(); }
    static int method(llhttp_t* p, const char* at, std::size_t n) { return self(p).on_method(at, n); }
    static int url(llhttp_t* p, const char* at, std::size_t n) { return self(p).on_target(at, n); }
    static int header_field(llhttp_t* p, const char* at, std::size_t n) {
        return self(p).on_header_name(at, n);
    }
    static int header_value(llhttp_t* p, const char* at, std::size_t n) {
        return self(p).on_header_value(at, n);
    }
    static int header_value_complete(llhttp_t* p) { return self(p).on_header_value_complete(); }
    static int headers_complete(llhttp_t* p) { return self(p).on_headers_complete(); }
    static int message_complete(llhttp_t* p) { return self(p).on_message_complete(); }

    static const llhttp_settings_t& settings() noexcept {
        static const llhttp_settings_t s = [] {
            llhttp_settings_t v;
            llhttp_settings_init(&v);
            v.on_message_begin = message_begin;
            v.on_method = method;
            v.on_url = url;
            v.on_header_field = header_field;
            v.on_header_value = header_value;
            v.on_header_value_complete = header_value_complete;
            v.on_headers_complete = headers_complete;
            v.on_message_complete = message_complete;
            return v;
        }();
        return s;
    }
};

request_parser::request_parser(request_sink& sink, parser_limits limits) noexcept
    : sink_{&sink}, limits_{limits} {
    llhttp_init(&llhttp_, HTTP_REQUEST, &parser_callbacks::settings());
    llhttp_.data = this;
}

void request_parser::reset() noexcept {
    llhttp_init(&llhttp_, HTTP_REQUEST, &parser_callbacks::settings());
    llhttp_.data = this;
    spilled_.release();
    head_start_ = nullptr;
    header_bytes_ = 0;
    in_message_ = in_head_ = is_spilled_ = false;
    stopped_ = parse_status::need_more;
    error_status_ = 0;
    error_reason_ = "";
}

parse_status request_parser::feed(std::span<const char> bytes) noexcept {
    if (stopped_ != parse_status::need_more) {
        return stopped_;
    }
    const char* end = bytes.data() + bytes.size();
    const llhttp_errno_t err = llhttp_execute(&llhttp_, bytes.data(), bytes.size());
    switch (err) {
        case HPE_OK:
            spill(end);
            return parse_status::need_more;
        case HPE_PAUSED:
        case HPE_PAUSED_UPGRADE:
            // Paused by on_message_complete for a last request, or by llhttp after a
            // request that asked to switch protocols: we answer it and close.
            stopped_ = parse_status::closed;
            return stopped_;
        case HPE_INVALID_VERSION:
            fail(505, "unsupported HTTP version");
            break;
        default:
            if (error_status_ == 0) {
                fail(400, llhttp_get_error_reason(&llhttp_));
            }
            break;
    }
    stopped_ = parse_status::error;
    return stopped_;
}

int request_parser::fail(int status, const char* reason) noexcept {
    error_status_ = status;
    error_reason_ = reason ? reason : "bad request";
    return HPE_USER;
}

int request_parser::on_message_begin() noexcept {
    in_message_ = true;
    in_head_ = true;
    head_start_ = nullptr;
    header_bytes_ = 0;
    head_.method_name = {};
    head_.target = {};
    head_.header_count = 0;
    head_.headers[0] = {};
    return 0;
}

int request_parser::on_method(const char* at, std::size_t n) noexcept {
    if (head_start_ == nullptr) {
        head_start_ = at;
    }
    return extend(head_.method_name, at, n);
}

int request_parser::on_target(const char* at, std::size_t n) noexcept {
    if (head_.target.size() + n > limits_.max_request_line) {
        return fail(414, "request target too long");
    }
    return extend(head_.target, at, n);
}

int request_parser::on_header_name(const char* at, std::size_t n) noexcept {
    if (head_.header_count >= request_head::max_headers) {
        return fail(431, "too many header fields");
    }
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    return extend(head_.headers[head_.header_count].name, at, n);
}

int request_parser::on_header_value(const char* at, std::size_t n) noexcept {
    header_bytes_ += n;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    return extend(head_.headers[head_.header_count].value, at, n);
}

int request_parser::on_header_value_complete() noexcept {
    // ": " and CRLF count toward the limit too, so many empty fields cannot evade it.
    header_bytes_ += 4;
    if (header_bytes_ > limits_.max_header_bytes) {
        return fail(431, "header fields too large");
    }
    auto& h = head_.headers[head_.header_count];
    h.value = trim_trailing_ows(h.value);
    ++head_.header_count;
    if (head_.header_count < request_head::max_headers) {
        head_.headers[head_.header_count] = {};
    }
    return 0;
}

int request_parser::on_headers_complete() noexcept {
    head_.version_major = llhttp_.http_major;
    head_.version_minor = llhttp_.http_minor;
    if (head_.version_major != 1) {
        fail(505, "unsupported HTTP version");
        return -1;
    }
    head_.method = to_method(llhttp_.method);
    head_.keep_alive = llhttp_should_keep_alive(&llhttp_) != 0 && llhttp_.upgrade == 0;
    if (head_.version_minor >= 1) {
        int hosts = 0;
        for (std::size_t i = 0; i < head_.header_count; ++i) {
            hosts += iequals(head_.headers[i].name, "host") ? 1 : 0;
        }
        // RFC 9112 3.2: exactly one Host in HTTP/1.1, else 400.
        if (hosts != 1) {
            fail(400, hosts == 0 ? "missing Host header" : "more than one Host header");
            return -1;
        }
    }
    in_head_ = false;
    sink_->on_request_head(head_);
    if (is_spilled_) {
        is_spilled_ = false;
        if (spilled_.capacity() > spill_keep_capacity) {
            spilled_.release();
        } else {
            spilled_.clear();
        }
    }
    return 0;
}

int request_parser::on_message_complete() noexcept {
    in_message_ = false;
    sink_->on_request_complete();
    if (!head_.keep_alive) {
        return HPE_PAUSED;
    }
    return 0;
}

int request_parser::extend(std::string_view& token, const char* at, std::size_t n) noexcept {
    if (n == 0) {
        return 0;
    }
    if (is_spilled_) {
        if (spilled_.size() + n > spilled_.capacity()) {
            const std::string_view before = spilled_.view();
            spilled_.reserve(spilled_.size() + n);
            rebase(before.data(), before.data() + before.size(), spilled_.view().data());
        }
        char* copy = spilled_.grow(n);
        std::memcpy(copy, at, n);
        at = copy;
    }
    // The pieces of one token are adjacent: within one read, or appended in order to
    // the spill buffer.
    token = token.empty() ? std::string_view{at, n} : std::string_view{token.data(), token.size() + n};
    return 0;
}

void request_parser::spill(const char* chunk_end) noexcept {
    if (!in_head_ || is_spilled_ || head_start_ == nullptr) {
        return;
    }
    const auto n = static_cast<std::size_t>(chunk_end - head_start_);
    spilled_.clear();
    char* copy = spilled_.grow(n);
    std::memcpy(copy, head_start_, n);
    rebase(head_start_, chunk_end, copy);
    head_start_ = copy;
    is_spilled_ = true;
}

void request_parser::rebase(const char* old_begin, const char* old_end, const char* new_begin) noexcept {
    auto move = [&](std::string_view& v) {
        if (!v.empty() && v.data() >= old_begin && v.data() < old_end) {
            v = {new_begin + (v.data() - old_begin), v.size()};
        }
    };
    move(head_.method_name);
    move(head_.target);
    const std::size_t last = head_.header_count < request_head::max_headers ? head_.header_count
                                                                             : head_.header_count - 1;
    for (std::size_t i = 0; i <= last; ++i) {
        move(head_.headers[i].name);
        move(head_.headers[i].value);
    }
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    auto lower = [](char c) noexcept {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
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
