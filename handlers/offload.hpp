#pragma once
// Work a handler must not do on the worker's loop thread (opening files, anything that
// may block or take long): it runs on one of the worker's helper threads, and its
// completion runs back on the loop thread, where the handler may answer its exchange.
#include <functional>

namespace pfd::handlers {

class offload {
public:
    using work = std::function<void()>;   // runs on a helper thread: touches no exchange
    using done = std::function<void()>;   // runs on the loop thread, after work

    offload() = default;
    offload(const offload&) = delete;
    offload& operator=(const offload&) = delete;

    // False if the queue is full (the handler answers 503); `work` and `done` are then dropped.
    [[nodiscard]] virtual bool submit(work w, done d) noexcept = 0;

protected:
    ~offload() = default;
};

}  // namespace pfd::handlers
