// Output that comes outside a read: a handler that deferred its answer gives it (or a
// piece of it) from the loop thread, typically from the completion of offloaded work,
// which the offload pool's eventfd brings into the ring.
#include "worker/event_loop.hpp"

namespace pfd::worker {

void event_loop::output_ready(std::uint32_t slot) noexcept {
    if (slot >= conns_.size() || conns_[slot].state != conn_state::open) {
        return;
    }
    connection& c = conns_[slot];
    queue_flush(slot);
    // The answer that held the pipeline back is done, and what it held was parsed: if
    // that produced nothing to send, no send's completion would resume reading.
    if (c.input == input_state::paused && c.sess != nullptr && !c.sess->backlogged() && !c.sess->output_full() &&
        !c.sess->awaiting_answer()) {
        c.input = input_state::reading;
        if (c.recv == recv_op::idle && !c.rearm_queued) {
            c.rearm_queued = true;
            rearm_list_.push(slot);
        }
    }
}

void event_loop::arm_wake() noexcept {
    if (offload_.wake_fd() >= 0) {
        submit_.read(offload_.wake_fd(), &wake_count_, sizeof wake_count_, encode(op::wake));
    }
}

void event_loop::on_wake(int res) noexcept {
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        return;   // the eventfd is gone: nothing more will come
    }
    offload_.run_completions();
    arm_wake();
}

}  // namespace pfd::worker
