// The pfd_host functions: a module's view of its requests and of its route, over the
// handler seam. Every function checks that the request can still be answered (a module
// that keeps a pointer past its answer or its abort gets PFD_EGONE, not a crash where
// the check can see it).
#include <algorithm>
#include <string_view>

#include "handlers/module_route.hpp"
#include "proto/http_chars.hpp"
#include "proto/request.hpp"
#include "proto/response.hpp"

namespace pfd::handlers {

namespace {

pfd_str str(std::string_view s) noexcept { return {s.empty() ? nullptr : s.data(), s.size()}; }

const proto::request_head* head_of(const pfd_request* r) noexcept { return r != nullptr ? r->head : nullptr; }

// The request's exchange, if it can still be answered.
exchange* answering(pfd_request* r) noexcept {
    return r != nullptr && r->ex != nullptr && !r->ex->finished() ? r->ex : nullptr;
}

// After an answer is complete, the request is done with its exchange.
int finished(pfd_request* r) noexcept {
    if (!r->in_callback) {
        r->route->detach(*r);
        r->route->release_if_done(*r);
    }
    return PFD_OK;
}

pfd_str host_method(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr ? str(h->method_name) : pfd_str{};
}
pfd_str host_target(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr ? str(h->target) : pfd_str{};
}
pfd_str host_path(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr ? str(h->path) : pfd_str{};
}
pfd_str host_query(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    if (h == nullptr) {
        return {};
    }
    const auto q = h->target.find('?');
    return q == std::string_view::npos ? pfd_str{} : str(h->target.substr(q + 1));
}
pfd_str host_authority(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr ? str(h->effective_authority()) : pfd_str{};
}
size_t host_header_count(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr ? h->header_count : 0;
}
int host_header_at(const pfd_request* r, size_t i, pfd_str* name, pfd_str* value) noexcept {
    const auto* h = head_of(r);
    if (h == nullptr || i >= h->header_count || name == nullptr || value == nullptr) {
        return PFD_EINVAL;
    }
    *name = str(h->headers[i].name);
    *value = str(h->headers[i].value);
    return PFD_OK;
}
pfd_str host_header(const pfd_request* r, const char* name, size_t len) noexcept {
    const auto* h = head_of(r);
    if (h == nullptr || name == nullptr) {
        return {};
    }
    return str(h->find_header({name, len}));
}
int host_has_body(const pfd_request* r) noexcept {
    const auto* h = head_of(r);
    return h != nullptr && h->has_body ? 1 : 0;
}

bool valid_status(int status) noexcept { return status >= 200 && status <= 599; }

// Whether a module's answer with this status may carry content and a length of its own
// (a 205's Content-Length: 0 is the exchange's).
bool status_takes_content(int status) noexcept {
    return proto::content_rule_for(status) == proto::content_rule::any;
}

// Fields the worker writes or rules out itself: the framing, the connection's management
// (a module switches no protocol, so Upgrade would lack the Connection option RFC 9110
// 7.8 requires, and it sends no trailers), and Date and Server (5.3: not twice).
constexpr std::string_view worker_fields[] = {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
                                              "Proxy-Connection", "Upgrade", "Trailer", "Date", "Server"};

// A field line a recipient takes as sent (RFC 9110 5.1, 5.5): a name is a token; a value
// is visible bytes, obs-text, SP and HTAB, so no control byte can break the head.
bool safe_field(std::string_view name, std::string_view value) noexcept {
    if (name.empty() || !std::ranges::all_of(name, proto::is_tchar)) {
        return false;
    }
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
            return false;
        }
    }
    return std::ranges::none_of(worker_fields, [&](std::string_view f) { return proto::iequals(name, f); });
}

int host_respond(pfd_request* r, int status, const char* content_type, const char* body, size_t len) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    const std::string_view type = content_type != nullptr ? std::string_view{content_type} : std::string_view{};
    if (!valid_status(status) || (body == nullptr && len != 0) || ex->answered() || !safe_field("Content-Type", type)) {
        return PFD_EINVAL;
    }
    try {
        proto::response_head& h = ex->start(status);
        if (!type.empty()) {
            h.add("Content-Type", type);
        }
        // RFC 9110 8.6: no Content-Length on a 204; on a 304 only the 200's, which a
        // module answering with a body of its own does not give; a 205's is the exchange's.
        if (status_takes_content(status)) {
            h.add_content_length(len);
        }
        ex->write({body, len});
        ex->finish();
    } catch (...) {
        ex->respond(r->route->busy());
    }
    return finished(r);
}

int host_start(pfd_request* r, int status) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    if (!valid_status(status) || ex->answered()) {
        return PFD_EINVAL;
    }
    ex->start(status);
    return PFD_OK;
}

int host_add_header(pfd_request* r, const char* name, size_t name_len, const char* value, size_t value_len) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    const std::string_view n{name, name != nullptr ? name_len : 0};
    const std::string_view v{value, value != nullptr ? value_len : 0};
    if (ex->source() != body_source::built || ex->head_ready() || !safe_field(n, v)) {
        return PFD_EINVAL;
    }
    try {
        ex->head().add(n, v);
    } catch (...) {
        return PFD_EFULL;
    }
    return PFD_OK;
}

int host_set_length(pfd_request* r, uint64_t length) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    if (ex->source() != body_source::built || ex->head_ready() || ex->head().has_length() ||
        !status_takes_content(ex->head().status())) {
        return PFD_EINVAL;
    }
    ex->head().add_content_length(length);
    return PFD_OK;
}

int host_write(pfd_request* r, const char* data, size_t len) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    if (ex->source() != body_source::built || (data == nullptr && len != 0)) {
        return PFD_EINVAL;
    }
    try {
        // Past its set_length(): what fits is sent, the rest refused.
        return ex->write({data, len}) ? PFD_OK : PFD_EINVAL;
    } catch (...) {
        return PFD_EFULL;
    }
}

int host_finish(pfd_request* r) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    if (ex->source() != body_source::built) {
        return PFD_EINVAL;
    }
    try {
        ex->finish();
    } catch (...) {
        return PFD_EFULL;
    }
    return finished(r);
}

int host_keep(pfd_request* r) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    ex->defer();
    return PFD_OK;
}

int host_offload(pfd_request* r, void (*work)(void*), void (*done)(pfd_request*, void*), void* arg) noexcept {
    exchange* ex = answering(r);
    if (ex == nullptr) {
        return PFD_EGONE;
    }
    if (work == nullptr) {
        return PFD_EINVAL;
    }
    module_route& route = *r->route;
    ex->defer();   // the answer comes from done, after this callback
    ++r->offloads;
    const bool queued = route.helpers() != nullptr &&
                        route.helpers()->submit([work, arg] { work(arg); }, [r, done, arg] {
                            --r->offloads;
                            if (r->ex != nullptr && done != nullptr) {
                                r->in_callback = true;
                                {
                                    const in_module_scope inside{r->route->watch()};
                                    done(r, arg);
                                }
                                r->in_callback = false;
                                if (r->ex != nullptr && r->ex->finished()) {
                                    r->route->detach(*r);
                                }
                            }
                            r->route->release_if_done(*r);
                        });
    if (!queued) {
        --r->offloads;
        ex->respond(route.busy());   // the queue is full: 503 with Retry-After, at once
        finished(r);
        return PFD_EFULL;
    }
    return PFD_OK;
}

pfd_str host_setting(const pfd_worker* w, const char* key, size_t len) noexcept {
    if (w == nullptr || key == nullptr) {
        return {};
    }
    return str(w->route->setting({key, len}));
}

unsigned host_worker_slot(const pfd_worker* w) noexcept { return w != nullptr ? w->route->worker_slot() : 0; }

int host_send_message(pfd_worker* w, int slot, const char* data, size_t len) noexcept {
    if (w == nullptr || (data == nullptr && len != 0) || w->route->messages() == nullptr) {
        return PFD_EINVAL;
    }
    return w->route->messages()->send_message(slot, {data, len});
}

constexpr pfd_host host_api{
    sizeof(pfd_host), host_method,  host_target,    host_path,  host_query,        host_header_count, host_header_at,
    host_header,      host_has_body, host_respond,  host_start, host_add_header,   host_set_length,   host_write,
    host_finish,      host_keep,     host_offload,  host_setting, host_worker_slot, host_send_message,
    host_authority,
};

}  // namespace

const pfd_host& module_host() noexcept { return host_api; }

}  // namespace pfd::handlers
