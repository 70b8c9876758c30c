#include "handlers/module_route.hpp"

#include "base/log.hpp"
#include "handlers/method_policy.hpp"

namespace pfd::handlers {

module_route::module_route(const route_spec& spec, offload* helpers, const error_pages& errors, unsigned worker_slot,
                           message_sender* messages, module_watch watch)
    : lib_{spec.module},
      mod_{&lib_->descriptor()},
      settings_{spec.settings},
      helpers_{helpers},
      messages_{messages},
      errors_{&errors},
      busy_{503, "text/plain", "Service Unavailable\n", "Retry-After: 1\r\n"},
      slot_{worker_slot},
      watch_{watch} {
    if (mod_->init == nullptr) {
        ready_ = true;
        return;
    }
    const in_module_scope inside{watch_};
    const int rc = mod_->init(&self_, &module_host(), &state_);
    ready_ = rc == 0;
    if (!ready_) {
        log_line("worker: module %s (%s): init failed (%d): its route answers 500", lib_->name(),
                 lib_->path().c_str(), rc);
    }
}

module_route::~module_route() {
    if (ready_ && mod_->shutdown != nullptr) {
        const in_module_scope inside{watch_};
        mod_->shutdown(state_);
    }
}

std::string_view module_route::setting(std::string_view key) const noexcept {
    for (const auto& [k, v] : settings_) {
        if (k == key) {
            return v;
        }
    }
    return {};
}

pfd_request& module_route::acquire() {
    if (free_.empty()) {
        all_.push_back(std::make_unique<pfd_request>());
        free_.push_back(all_.back().get());
    }
    pfd_request* r = free_.back();
    free_.pop_back();
    *r = pfd_request{};
    r->route = this;
    return *r;
}

void module_route::detach(pfd_request& r) noexcept {
    if (r.ex != nullptr && r.ex->handler_state == &r) {
        r.ex->handler_state = nullptr;
    }
    r.ex = nullptr;
}

void module_route::release_if_done(pfd_request& r) noexcept {
    if (r.ex == nullptr && r.offloads == 0 && !r.in_callback) {
        r.route = nullptr;
        free_.push_back(&r);
    }
}

template <class F>
void module_route::in_callback(pfd_request& r, F&& call) noexcept {
    r.in_callback = true;
    {
        const in_module_scope inside{watch_};
        call();
    }
    r.in_callback = false;
}

void module_route::settle(pfd_request& r) noexcept {
    if (r.ex != nullptr && r.ex->finished()) {
        detach(r);
    }
    release_if_done(r);
}

void module_route::on_head(exchange& ex, const proto::request_head& head) noexcept {
    if (!ready_) {
        ex.respond(errors_->get(500));
        return;
    }
    accept_body(ex, head);
    pfd_request* r = nullptr;
    try {
        r = &acquire();
    } catch (...) {
        ex.respond(errors_->get(500));
        return;
    }
    r->ex = &ex;
    r->head = &head;
    ex.handler_state = r;
    in_callback(*r, [&] { mod_->handle(state_, r); });
    r->head = nullptr;
    settle(*r);
}

void module_route::on_body(exchange& ex, std::span<const char> bytes) noexcept {
    auto* r = static_cast<pfd_request*>(ex.handler_state);
    if (r != nullptr && mod_->on_body != nullptr) {
        in_callback(*r, [&] { mod_->on_body(state_, r, bytes.data(), bytes.size()); });
        settle(*r);
    }
}

void module_route::on_complete(exchange& ex) noexcept {
    auto* r = static_cast<pfd_request*>(ex.handler_state);
    if (r != nullptr && mod_->on_complete != nullptr) {
        in_callback(*r, [&] { mod_->on_complete(state_, r); });
        settle(*r);
    }
}

void module_route::on_abort(exchange& ex) noexcept {
    auto* r = static_cast<pfd_request*>(ex.handler_state);
    if (r == nullptr) {
        return;
    }
    detach(*r);
    if (mod_->on_abort != nullptr) {
        in_callback(*r, [&] { mod_->on_abort(state_, r); });
    }
    release_if_done(*r);
}

void module_route::on_message(std::span<const char> data) noexcept {
    if (ready_ && mod_->on_message != nullptr) {
        {
            const in_module_scope inside{watch_};
            mod_->on_message(state_, data.empty() ? nullptr : data.data(), data.size());
        }
    }
}

}  // namespace pfd::handlers
