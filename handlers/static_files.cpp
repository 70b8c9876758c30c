#include "handlers/static_files.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "handlers/method_policy.hpp"
#include "proto/accept_encoding.hpp"
#include "proto/byteranges.hpp"
#include "proto/conditional.hpp"
#include "proto/http_range.hpp"
#include "proto/target_path.hpp"

namespace pfd::handlers {

namespace {
constexpr std::size_t cache_entries = 1024;             // each holds up to three descriptors
constexpr std::size_t cache_bytes = 16 * 1024 * 1024;   // of small files' bytes

// The query of an origin-form target, with its '?'.
std::string_view query_of(std::string_view target) noexcept {
    const auto q = target.find('?');
    return q == std::string_view::npos ? std::string_view{} : target.substr(q);
}
}  // namespace

struct static_files::pending {
    exchange* ex;   // null once the client has gone
    // Owned copies of what request_view points to.
    bool head_only;
    proto::method method;
    std::string path, query, if_match, if_none_match, if_modified_since, if_unmodified_since, if_range, range,
        accept_encoding;
    std::string key, relative;
    bool trailing_slash;
    lookup_outcome outcome;   // written on the helper thread

    [[nodiscard]] request_view view() const noexcept {
        return {head_only, method, path, query, if_match, if_none_match, if_modified_since, if_unmodified_since,
                if_range, range, accept_encoding};
    }
};

static_files::static_files(const route_spec& spec, const mime_types& mime, offload* helpers,
                           const error_pages& errors, const proto::prepared_response& options,
                           const proto::date_cache* date)
    : prefix_{spec.prefix},
      settings_{spec.files.value_or(file_route_settings{})},
      mime_{&mime},
      helpers_{helpers},
      errors_{&errors},
      options_{&options},
      date_{date},
      root_{open_root(settings_.root)},
      cache_{cache_entries, cache_bytes} {
    if (::getrandom(&boundary_seed_, sizeof boundary_seed_, GRND_NONBLOCK) != sizeof boundary_seed_) {
        boundary_seed_ = unix_ms() ^ reinterpret_cast<std::uintptr_t>(this);
    }
}

void static_files::on_head(exchange& ex, const proto::request_head& head) noexcept {
    accept_body(ex, head);
    // Every method looks the file up: a name that is not there is 404 whatever the method
    // (RFC 9110 15.5.6: 405 and OPTIONS's Allow are for a resource that exists).
    try {
        // A field sent on several lines is read as one (RFC 9110 5.3); joined only then.
        std::array<std::string, 7> joined;
        const request_view req{
            .head_only = head.method == proto::method::head,
            .method = head.method,
            .path = head.path,
            .query = head.form == proto::target_form::origin ? query_of(head.target) : std::string_view{},
            .if_match = head.combined_field("If-Match", joined[0]),
            .if_none_match = head.combined_field("If-None-Match", joined[1]),
            .if_modified_since = head.combined_field("If-Modified-Since", joined[2]),
            .if_unmodified_since = head.combined_field("If-Unmodified-Since", joined[3]),
            .if_range = head.combined_field("If-Range", joined[4]),
            .range = head.combined_field("Range", joined[5]),
            .accept_encoding = settings_.precompressed ? head.combined_field("Accept-Encoding", joined[6])
                                                       : std::string_view{},
        };
        proto::target_path target = proto::resolve_target_path(head.path, prefix_, {settings_.allow_dotfiles});
        if (target.status != 0) {
            answer_status(ex, req, target.status);
            return;
        }
        // The cache key is the name, with a '/' for a directory's index: made in place,
        // so a cached answer costs no copy of it.
        std::string& key = target.relative;
        if (target.trailing_slash) {
            key += '/';
        }
        if (const file_entry* e = cache_.find(key, monotonic_coarse_ms())) {
            answer(ex, req, *e);
            return;
        }
        std::string relative = target.trailing_slash ? key.substr(0, key.size() - 1) : key;
        look_up_later(ex, req, std::move(key), std::move(relative), target.trailing_slash);
    } catch (...) {
        ex.respond(errors_->get(500));   // out of memory: this request, not the worker
    }
}

void static_files::look_up_later(exchange& ex, const request_view& req, std::string key, std::string relative,
                                 bool slash) {
    auto p = std::make_shared<pending>(pending{&ex, req.head_only, req.method, std::string{req.path},
                                               std::string{req.query}, std::string{req.if_match},
                                               std::string{req.if_none_match}, std::string{req.if_modified_since},
                                               std::string{req.if_unmodified_since}, std::string{req.if_range},
                                               std::string{req.range}, std::string{req.accept_encoding},
                                               std::move(key), std::move(relative), slash, {}});
    // Registered first: a completion may in principle run before submit returns.
    pending_[&ex] = p;
    ex.defer();
    const bool queued = helpers_ != nullptr &&
                        helpers_->submit([p, root = root_.get(), settings = &settings_, mime = mime_] {
                            p->outcome = look_up_file(root, p->relative, p->trailing_slash, *settings, *mime);
                        }, [this, p] { on_looked_up(p); });
    if (!queued) {
        pending_.erase(&ex);
        ex.respond(errors_->get(503));   // the helpers are that far behind: say so at once
    }
}

void static_files::on_looked_up(const std::shared_ptr<pending>& p) {
    if (p->ex == nullptr) {
        return;   // the client went away meanwhile
    }
    exchange& ex = *std::exchange(p->ex, nullptr);
    pending_.erase(&ex);
    try {
        if (p->outcome.entry != nullptr) {
            p->outcome.entry->checked_ms = monotonic_coarse_ms();
            cache_.put(p->key, p->outcome.entry);
            answer(ex, p->view(), *p->outcome.entry);
        } else {
            if (p->outcome.status == 500) {
                io_errors_.log("worker: %s%s: %s", settings_.root.c_str(), p->path.c_str() + std::min(prefix_.size() - 1, p->path.size()),
                               std::strerror(p->outcome.error));
            }
            answer_status(ex, p->view(), p->outcome.status);
        }
    } catch (...) {
        ex.respond(errors_->get(500));
    }
}

void static_files::on_abort(exchange& ex) noexcept {
    if (const auto it = pending_.find(&ex); it != pending_.end()) {
        it->second->ex = nullptr;
        pending_.erase(it);
    }
}

void static_files::answer_status(exchange& ex, const request_view& req, int status) {
    if (status != 301) {
        ex.respond(errors_->get(status));
        return;
    }
    // A directory named without its '/': relative links inside its index need it.
    // Leading slashes collapsed: "//host/dir" would make Location a link to another host.
    std::string_view path = req.path;
    while (path.size() > 1 && path[1] == '/') {
        path.remove_prefix(1);
    }
    std::string location{path};
    location += '/';
    location += req.query;
    proto::response_head& h = ex.start(301);
    h.add("Location", location);
    h.add("Content-Type", "text/plain");
    constexpr std::string_view body = "Moved Permanently\n";
    h.add_content_length(body.size());
    ex.write(body);
    ex.finish();
}

void static_files::answer(exchange& ex, const request_view& req, const file_entry& e) {
    // Neither evaluates preconditions (13.2.1: OPTIONS selects no representation, and a
    // 405 is not 2xx).
    switch (answer_for(req.method)) {
        case get_like_answer::content: break;
        case get_like_answer::options: ex.respond(*options_); return;
        case get_like_answer::not_allowed: ex.respond(errors_->get(405)); return;
    }
    const file_variant* v = &e.identity;
    std::string_view coding;
    const bool vary = settings_.precompressed && e.has_siblings();
    if (vary) {
        switch (proto::parse_accept_encoding(req.accept_encoding).choose(bool(e.br), bool(e.gzip))) {
            case proto::content_coding::br: v = &e.br; coding = "br"; break;
            case proto::content_coding::gzip: v = &e.gzip; coding = "gzip"; break;
            case proto::content_coding::identity: break;
        }
    }
    const std::string_view etag = v->etag.view();
    // The second of the Date this answer gets: the worker's, which trails the clock by up to
    // a tick. RFC 9110 8.8.2.1: a Last-Modified later than the Date (a file stamped in the
    // future, or changed since the tick) MUST be sent, and compared, as the Date instead.
    const std::time_t now = date_ != nullptr ? date_->second() : unix_seconds_coarse();
    std::time_t modified = v->last_modified;
    std::string_view last_modified{v->last_modified_text.data(), v->last_modified_text.size()};
    std::array<char, proto::http_date_size> now_text{};
    if (modified > now) [[unlikely]] {
        modified = now;
        now_text = proto::format_http_date(now);
        last_modified = {now_text.data(), now_text.size()};
    }
    // Which sibling answers, and so the status and size, depend on Accept-Encoding.
    auto add_vary = [vary](proto::response_head& h) {
        if (vary) {
            h.add("Vary", "Accept-Encoding");
        }
    };
    // Fields of every answer about this representation (a 304 has them as the 200 would).
    auto validators = [&](proto::response_head& h) {
        h.add("ETag", etag);
        h.add("Last-Modified", last_modified);
        if (!settings_.cache_control.empty()) {
            h.add("Cache-Control", settings_.cache_control);
        }
        add_vary(h);
    };
    const proto::conditional_request cond{req.method, req.if_match, req.if_none_match, req.if_modified_since,
                                          req.if_unmodified_since, now};
    switch (proto::evaluate_preconditions(cond, etag, modified)) {
        case proto::precondition::pass: break;
        case proto::precondition::not_modified: {
            validators(ex.start(304));
            ex.finish();
            return;
        }
        case proto::precondition::failed: ex.respond(vary ? precondition_failed_vary_ : errors_->get(412)); return;
    }
    const std::uint64_t size = v->size();
    proto::range_set ranges;
    // RFC 9110 14.2: Range is defined for GET only; HEAD gets the whole answer's head.
    if (!req.range.empty() && req.method == proto::method::get &&
        proto::if_range_allows(req.if_range, etag, modified, now)) {
        ranges = proto::parse_range(req.range, size);
        // Several ranges of a coded variant would be a multipart/byteranges whose parts are
        // gzip or br: no Content-Encoding can say that (RFC 9110 8.4 names the codings of
        // the whole content), so they get the whole 200, which 14.2 allows.
        if (!coding.empty() && ranges.outcome == proto::range_outcome::satisfiable && ranges.count > 1) {
            ranges = {};
        }
    }
    if (ranges.outcome == proto::range_outcome::unsatisfiable) {
        proto::response_head& h = ex.start(416);
        h.add("Content-Range", proto::format_unsatisfied_range(size).view());
        add_vary(h);
        h.add("Content-Type", "text/plain");
        const std::string_view body = errors_->get(416).body();
        h.add_content_length(body.size());
        ex.write(body);
        ex.finish();
        return;
    }
    const bool partial = ranges.outcome == proto::range_outcome::satisfiable;
    proto::response_head& h = ex.start(partial ? 206 : 200);
    validators(h);
    h.add("Accept-Ranges", "bytes");
    if (!coding.empty()) {
        h.add("Content-Encoding", coding);
    }
    if (!partial) {
        h.add("Content-Type", e.content_type);
        h.add_content_length(size);
        write_body(ex, *v, 0, size);
    } else if (ranges.count == 1) {
        const proto::byte_range r = ranges.ranges[0];
        h.add("Content-Type", e.content_type);
        h.add("Content-Range", proto::format_content_range(r, size).view());
        h.add_content_length(r.length());
        write_body(ex, *v, r.first, r.length());
    } else {
        const proto::boundary_text boundary = proto::make_boundary(boundary_seed_ + ++boundaries_);
        h.add("Content-Type", proto::multipart_content_type(boundary.view()).view());
        h.add_content_length(proto::multipart_length(boundary.view(), e.content_type, ranges.view(), size));
        for (const proto::byte_range& r : ranges.view()) {
            scratch_.clear();
            proto::append_part_head(scratch_, boundary.view(), e.content_type, r, size);
            ex.write(scratch_.view());
            write_body(ex, *v, r.first, r.length());
        }
        scratch_.clear();
        proto::append_closing_delimiter(scratch_, boundary.view());
        ex.write(scratch_.view());
    }
    ex.finish();
}

void static_files::write_body(exchange& ex, const file_variant& v, std::uint64_t offset, std::uint64_t length) {
    if (v.bytes != nullptr) {
        ex.write(std::string_view{*v.bytes}.substr(offset, length));
    } else {
        ex.write_file({v.file, offset, length});
    }
}

}  // namespace pfd::handlers
