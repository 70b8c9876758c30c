#pragma once
// A route answered by a module (include/preforkd/module.h): the handler seam turned
// into the module's C ABI. The module's requests are pfd_request objects, pooled per
// route; each lives until its answer is finished (or the client is gone) and no
// offloaded work of it is left.
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"
#include "handlers/module_library.hpp"
#include "handlers/offload.hpp"
#include "handlers/route_spec.hpp"

namespace pfd::handlers {
class module_route;

// Where a worker notes which module route's code it runs (the scoreboard's in_module), so
// that the master can name the route and module if the worker dies inside it.
struct module_watch {
    std::atomic<std::uint32_t>* in_module = nullptr;
    std::uint32_t route_number = 0;   // 1 + the route's index in the configuration
};

// While a module callback runs: the watch says this route (restored after, as callbacks nest).
class in_module_scope {
public:
    explicit in_module_scope(const module_watch& w) noexcept
        : at_{w.in_module}, before_{at_ != nullptr ? at_->load(std::memory_order_relaxed) : 0} {
        if (at_ != nullptr) {
            at_->store(w.route_number, std::memory_order_relaxed);
        }
    }
    ~in_module_scope() {
        if (at_ != nullptr) {
            at_->store(before_, std::memory_order_relaxed);
        }
    }
    in_module_scope(const in_module_scope&) = delete;
    in_module_scope& operator=(const in_module_scope&) = delete;

private:
    std::atomic<std::uint32_t>* at_;
    std::uint32_t before_;
};
}

struct pfd_request;
struct pfd_worker {
    pfd::handlers::module_route* route;
};

namespace pfd::handlers {

// Where a module's send_message goes: the worker's message channel to the master.
class message_sender {
public:
    message_sender() = default;
    message_sender(const message_sender&) = delete;
    message_sender& operator=(const message_sender&) = delete;

    // To every worker of the current generation (slot < 0) or one slot. A PFD_* code
    // (PFD_E2BIG, PFD_EFULL, PFD_EINVAL without a channel); never blocks.
    [[nodiscard]] virtual int send_message(int slot, std::span<const char> data) noexcept = 0;

protected:
    ~message_sender() = default;
};

class module_route final : public handler {
public:
    module_route(const route_spec& spec, offload* helpers, const error_pages& errors, unsigned worker_slot,
                 message_sender* messages = nullptr, module_watch watch = {});
    ~module_route() override;

    void on_head(exchange& ex, const proto::request_head& head) noexcept override;
    void on_body(exchange& ex, std::span<const char> bytes) noexcept override;
    void on_complete(exchange& ex) noexcept override;
    void on_abort(exchange& ex) noexcept override;
    // A message from send_message (any worker's, or `preforkd ctl send`).
    void on_message(std::span<const char> data) noexcept;

    // For the host functions (module_host.cpp).
    [[nodiscard]] std::string_view setting(std::string_view key) const noexcept;
    [[nodiscard]] unsigned worker_slot() const noexcept { return slot_; }
    [[nodiscard]] offload* helpers() const noexcept { return helpers_; }
    [[nodiscard]] message_sender* messages() const noexcept { return messages_; }
    [[nodiscard]] const proto::prepared_response& busy() const noexcept { return busy_; }
    [[nodiscard]] void* state() const noexcept { return state_; }
    [[nodiscard]] const module_watch& watch() const noexcept { return watch_; }
    [[nodiscard]] const pfd_module& module() const noexcept { return *mod_; }
    // The request no longer answers through its exchange (answered, or the client left).
    void detach(pfd_request& r) noexcept;
    // Back to the pool once nothing refers to it any more.
    void release_if_done(pfd_request& r) noexcept;

private:
    pfd_request& acquire();
    // Runs one of the module's callbacks for r: marked as inside a callback (answers are
    // taken at its end) and in the scoreboard's in_module (a crash names the route).
    template <class F>
    void in_callback(pfd_request& r, F&& call) noexcept;   // in module_route.cpp
    // After a callback that may have answered: detached once finished, pooled once done.
    void settle(pfd_request& r) noexcept;

    std::shared_ptr<const module_library> lib_;
    const pfd_module* mod_;
    std::vector<std::pair<std::string, std::string>> settings_;
    offload* helpers_;
    message_sender* messages_;
    const error_pages* errors_;
    proto::prepared_response busy_;   // 503 with Retry-After: the offload queue is full
    unsigned slot_;
    module_watch watch_;
    pfd_worker self_{this};
    void* state_ = nullptr;
    bool ready_ = false;
    std::vector<std::unique_ptr<pfd_request>> all_;
    std::vector<pfd_request*> free_;
};

// The functions a module calls (module_host.cpp).
const pfd_host& module_host() noexcept;

}  // namespace pfd::handlers

// One request as a module sees it.
struct pfd_request {
    pfd::handlers::module_route* route = nullptr;
    pfd::handlers::exchange* ex = nullptr;           // null once answered or aborted
    const pfd::proto::request_head* head = nullptr;  // during handle only
    unsigned offloads = 0;                           // work in flight
    bool in_callback = false;                        // a module callback is running on it
};
