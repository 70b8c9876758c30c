// preforkd modules in C++20: a thin, header-only layer over the C ABI of module.h.
//
//   struct app {
//       explicit app(preforkd::worker& w);            // init (throwing refuses the route: 500)
//       void handle(preforkd::request& r);            // each request, once its head is in
//       void on_body(preforkd::request& r, std::string_view bytes);   // optional
//       void on_complete(preforkd::request& r);       // optional
//       void on_abort(preforkd::request& r);          // optional
//       void on_message(std::string_view message);    // optional
//       void shutdown();                              // optional; then the destructor runs
//   };
//   PREFORKD_MODULE(app, "app")
//
// The rules of module.h hold: everything on the loop thread, except the `work` of an
// offload; request data only during handle. What this layer adds:
//  - std::string_view accessors and answers;
//  - offload(work, done) with lambdas: work() runs on a helper thread, done(request&) or
//    done(request&, result) on the loop thread. The lambdas live in one heap object that
//    is freed by whichever side lets go last: the helper after work, or the loop after
//    done, the request's abort, or its answer finishing first. So an abort while work
//    runs frees nothing work still uses, and nothing leaks when done never comes.
//    Captures are therefore destroyed on either thread;
//  - exceptions never cross into the server: one escaping a request callback, work or
//    done answers 500 (if the request can still be answered); one escaping the
//    constructor fails init (the route answers 500).
#ifndef PREFORKD_MODULE_HPP
#define PREFORKD_MODULE_HPP

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "preforkd/module.h"

namespace preforkd {

inline std::string_view view(pfd_str s) noexcept {
    return s.size != 0 ? std::string_view{s.data, s.size} : std::string_view{};
}

class request;

namespace detail {

struct context;

// One offload in flight: two owners, the helper (until work returns) and the loop (until
// done, the abort, or the end of the answer).
struct job {
    virtual ~job() = default;
    virtual void run() noexcept = 0;
    virtual void complete(request& r) noexcept = 0;
    void release() noexcept {
        if (owners.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }
    std::atomic<int> owners{2};
    pfd_request* req = nullptr;
    context* ctx = nullptr;
};

// What the glue keeps per route and worker: the host, and the offloads whose done may
// still come (loop thread only).
struct context {
    const pfd_host* host = nullptr;
    pfd_worker* self = nullptr;
    std::vector<job*> pending;

    void forget(job* j) noexcept {
        for (auto& p : pending) {
            if (p == j) {
                p = pending.back();
                pending.pop_back();
                return;
            }
        }
    }
    // The request is gone or answered: its done callbacks will not come.
    void drop(pfd_request* r) noexcept {
        for (std::size_t i = 0; i < pending.size();) {
            if (pending[i]->req == r) {
                job* j = pending[i];
                pending[i] = pending.back();
                pending.pop_back();
                j->release();
            } else {
                ++i;
            }
        }
    }
};

}  // namespace detail

// The route in this worker: its settings and slot.
class worker {
public:
    explicit worker(detail::context& c) noexcept : c_{&c} {}
    // The [route.settings] value as text; empty when absent.
    [[nodiscard]] std::string_view setting(std::string_view key) const noexcept {
        return view(c_->host->setting(c_->self, key.data(), key.size()));
    }
    [[nodiscard]] unsigned slot() const noexcept { return c_->host->worker_slot(c_->self); }
    // slot < 0: every worker of the current generation. PFD_OK or a PFD_E* code.
    int send_message(int slot, std::string_view data) const noexcept {
        return c_->host->send_message(c_->self, slot, data.data(), data.size());
    }
    [[nodiscard]] const pfd_host& host() const noexcept { return *c_->host; }

private:
    detail::context* c_;
};

// One request, as its callbacks see it. Copyable (two pointers); valid as long as the
// pfd_request is (module.h: until its answer is finished, or on_abort).
class request {
public:
    request(detail::context& c, pfd_request* r) noexcept : c_{&c}, r_{r} {}

    // The head (during handle only).
    [[nodiscard]] std::string_view method() const noexcept { return view(h().method(r_)); }
    [[nodiscard]] std::string_view target() const noexcept { return view(h().target(r_)); }
    [[nodiscard]] std::string_view path() const noexcept { return view(h().path(r_)); }
    [[nodiscard]] std::string_view query() const noexcept { return view(h().query(r_)); }
    // The target's authority in absolute-form, else Host (empty from a server too old to say).
    [[nodiscard]] std::string_view authority() const noexcept {
        return h().struct_size > offsetof(pfd_host, authority) ? view(h().authority(r_)) : std::string_view{};
    }
    [[nodiscard]] std::string_view header(std::string_view name) const noexcept {
        return view(h().header(r_, name.data(), name.size()));
    }
    [[nodiscard]] std::size_t header_count() const noexcept { return h().header_count(r_); }
    [[nodiscard]] std::pair<std::string_view, std::string_view> header_at(std::size_t i) const noexcept {
        pfd_str n{}, v{};
        if (h().header_at(r_, i, &n, &v) != PFD_OK) {
            return {};
        }
        return {view(n), view(v)};
    }
    [[nodiscard]] bool has_body() const noexcept { return h().has_body(r_) != 0; }

    // The answer: respond() whole, or start(), add_header()..., write()..., finish().
    // content_type: a C string (or null for none).
    int respond(int status, const char* content_type, std::string_view body) noexcept {
        return answered(h().respond(r_, status, content_type, body.data(), body.size()));
    }
    int start(int status) noexcept { return h().start(r_, status); }
    int add_header(std::string_view name, std::string_view value) noexcept {
        return h().add_header(r_, name.data(), name.size(), value.data(), value.size());
    }
    int set_length(std::uint64_t n) noexcept { return h().set_length(r_, n); }
    int write(std::string_view bytes) noexcept { return h().write(r_, bytes.data(), bytes.size()); }
    int finish() noexcept { return answered(h().finish(r_)); }
    int keep() noexcept { return h().keep(r_); }

    // work() on a helper thread, then done(*this) (work returns void) or
    // done(*this, result) on the loop thread; not if the request went away meanwhile.
    // PFD_EFULL: the queue was full and the server answered 503 (neither runs). If work()
    // throws, done is not called and the request answers 500.
    template <class Work, class Done>
    int offload(Work&& work, Done&& done) noexcept {
        using W = std::decay_t<Work>;
        using D = std::decay_t<Done>;
        using R = std::invoke_result_t<W&>;
        struct nothing {};
        using stored = std::conditional_t<std::is_void_v<R>, nothing, R>;
        struct job final : detail::job {
            job(Work&& w, Done&& d) : work_{std::forward<Work>(w)}, done_{std::forward<Done>(d)} {}
            void run() noexcept override {
                try {
                    if constexpr (std::is_void_v<R>) {
                        work_();
                        result_.emplace();
                    } else {
                        result_.emplace(work_());
                    }
                } catch (...) {
                }
            }
            void complete(request& r) noexcept override {
                try {
                    if (!result_.has_value()) {
                        r.respond(500, "text/plain", "module error\n");
                    } else if constexpr (std::is_void_v<R>) {
                        done_(r);
                    } else {
                        done_(r, std::move(*result_));
                    }
                } catch (...) {
                    r.respond(500, "text/plain", "module error\n");
                }
            }
            W work_;
            D done_;
            std::optional<stored> result_;
        };
        job* j = nullptr;
        try {
            c_->pending.reserve(c_->pending.size() + 1);   // so that the push below cannot fail
            j = new job(std::forward<Work>(work), std::forward<Done>(done));
        } catch (...) {
            return PFD_EFULL;
        }
        j->req = r_;
        j->ctx = c_;
        const int rc = h().offload(r_, &run_job, &complete_job, static_cast<detail::job*>(j));
        if (rc != PFD_OK) {
            delete j;   // neither side runs
            if (rc == PFD_EFULL) {
                c_->drop(r_);   // answered 503: earlier offloads' done will not come either
            }
            return rc;
        }
        c_->pending.push_back(j);
        return PFD_OK;
    }

    [[nodiscard]] pfd_request* raw() const noexcept { return r_; }
    [[nodiscard]] const pfd_host& host() const noexcept { return h(); }

private:
    const pfd_host& h() const noexcept { return *c_->host; }
    int answered(int rc) noexcept {
        if (rc == PFD_OK) {
            c_->drop(r_);   // finished: no done of this request will come
        }
        return rc;
    }
    static void run_job(void* arg) noexcept {
        auto* j = static_cast<detail::job*>(arg);
        j->run();
        j->release();
    }
    static void complete_job(pfd_request* r, void* arg) noexcept {
        auto* j = static_cast<detail::job*>(arg);
        j->ctx->forget(j);
        request rq{*j->ctx, r};
        j->complete(rq);
        j->release();
    }

    detail::context* c_;
    pfd_request* r_;
};

namespace detail {

template <class T>
struct instance {
    context ctx;
    worker self;
    T app;
    instance(const pfd_host* h, pfd_worker* w) : ctx{h, w, {}}, self{ctx}, app{self} {}
};

// An exception escaping a request callback: answer 500 if the request still can be.
inline void failed(request& r) noexcept { r.respond(500, "text/plain", "module error\n"); }

template <class T>
struct glue {
    static instance<T>& of(void* state) noexcept { return *static_cast<instance<T>*>(state); }

    static int init(pfd_worker* w, const pfd_host* h, void** state) noexcept {
        try {
            *state = new instance<T>(h, w);
            return 0;
        } catch (...) {
            return -1;
        }
    }
    static void handle(void* state, pfd_request* r) noexcept {
        auto& in = of(state);
        request rq{in.ctx, r};
        try {
            in.app.handle(rq);
        } catch (...) {
            failed(rq);
        }
    }
    static void on_body(void* state, pfd_request* r, const char* data, std::size_t len) noexcept {
        auto& in = of(state);
        request rq{in.ctx, r};
        try {
            in.app.on_body(rq, std::string_view{data, len});
        } catch (...) {
            failed(rq);
        }
    }
    static void on_complete(void* state, pfd_request* r) noexcept {
        auto& in = of(state);
        request rq{in.ctx, r};
        try {
            in.app.on_complete(rq);
        } catch (...) {
            failed(rq);
        }
    }
    static void on_abort(void* state, pfd_request* r) noexcept {
        auto& in = of(state);
        in.ctx.drop(r);
        if constexpr (requires(T& t, request& q) { t.on_abort(q); }) {
            request rq{in.ctx, r};
            try {
                in.app.on_abort(rq);
            } catch (...) {
            }
        }
    }
    static void on_message(void* state, const char* data, std::size_t len) noexcept {
        try {
            of(state).app.on_message(std::string_view{data, len});
        } catch (...) {
        }
    }
    static void shutdown(void* state) noexcept {
        auto* in = static_cast<instance<T>*>(state);
        if constexpr (requires(T& t) { t.shutdown(); }) {
            try {
                in->app.shutdown();
            } catch (...) {
            }
        }
        for (job* j : in->ctx.pending) {
            j->release();   // their done will not come
        }
        in->ctx.pending.clear();
        delete in;
    }
};

template <class T>
constexpr pfd_module describe(const char* name) noexcept {
    static_assert(std::is_constructible_v<T, worker&>, "a module class is constructed from preforkd::worker&");
    static_assert(requires(T& t, request& r) { t.handle(r); }, "a module class has handle(preforkd::request&)");
    pfd_module m{};
    m.abi_version = PFD_MODULE_ABI_VERSION;
    m.struct_size = sizeof(pfd_module);
    m.name = name;
    m.init = &glue<T>::init;
    m.handle = &glue<T>::handle;
    if constexpr (requires(T& t, request& r, std::string_view b) { t.on_body(r, b); }) {
        m.on_body = &glue<T>::on_body;
    }
    if constexpr (requires(T& t, request& r) { t.on_complete(r); }) {
        m.on_complete = &glue<T>::on_complete;
    }
    // Always: offloads of an aborted request are let go here.
    m.on_abort = &glue<T>::on_abort;
    if constexpr (requires(T& t, std::string_view b) { t.on_message(b); }) {
        m.on_message = &glue<T>::on_message;
    }
    m.shutdown = &glue<T>::shutdown;
    return m;
}

}  // namespace detail

}  // namespace preforkd

// Defines the descriptor preforkd looks up, for the class APP (see the top of this file).
#define PREFORKD_MODULE(APP, NAME)                                                           \
    extern "C" __attribute__((visibility("default"))) const pfd_module preforkd_module =    \
        ::preforkd::detail::describe<APP>(NAME);

#endif
