#include "worker/offload_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/cpu_affinity.hpp"
#include "base/log.hpp"

namespace pfd::worker {

namespace {

// Keeps the calling thread on the (slot mod n)-th of the n CPUs it may use; nothing if
// it may use only one (cpu_affinity pinned the worker) or the kernel does not say.
void stay_on_cpu_for(std::uint32_t slot) noexcept {
    try {
        const std::vector<unsigned> allowed = allowed_cpus();
        if (allowed.size() > 1) {
            static_cast<void>(pin_to_cpu(cpu_for_slot(allowed, slot)));
        }
    } catch (...) {
        // out of memory: the nudge runs unpinned
    }
}

}  // namespace

offload_pool::offload_pool(unsigned threads, std::size_t max_queued, std::chrono::milliseconds nudge,
                           std::uint32_t slot) noexcept
    : thread_count_{threads == 0 ? 1 : threads},
      max_queued_{max_queued},
      nudge_{nudge},
      slot_{slot},
      wake_{::eventfd(0, EFD_CLOEXEC)} {}

offload_pool::~offload_pool() {
    {
        const std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    ready_.notify_all();
    {
        const std::lock_guard lock{nudge_mutex_};
        nudge_stopping_ = true;
    }
    job_started_.notify_all();
    nudge_stop_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
}

bool offload_pool::start() noexcept {
    try {
        while (threads_.size() < thread_count_) {
            threads_.emplace_back([this] { serve(); });
        }
    } catch (...) {
        log_line("worker: cannot start offload threads (%zu of %u started)", threads_.size(), thread_count_);
    }
    if (threads_.empty()) {
        return false;
    }
    if (nudge_.count() > 0) {
        try {
            threads_.emplace_back([this] { nudge_scheduler(); });
        } catch (...) {
            log_line("worker: cannot start the offload nudge thread; offloaded jobs run without it");
        }
    }
    return true;
}

bool offload_pool::submit(work w, done d) noexcept {
    if (!wake_.valid() || (threads_.empty() && !start())) {
        return false;
    }
    try {
        const std::lock_guard lock{mutex_};
        if (in_flight_ >= max_queued_) {
            return false;
        }
        queue_.push_back({std::move(w), std::move(d)});
        ++in_flight_;
    } catch (...) {
        return false;
    }
    ready_.notify_one();
    return true;
}

std::size_t offload_pool::queued() const noexcept {
    const std::lock_guard lock{mutex_};
    return in_flight_;
}

void offload_pool::serve() noexcept {
    // Below the loop threads: CPU-heavy work must not take the CPU from the connections
    // the loops serve when the machine is busy. SCHED_IDLE weighs 3 against a normal
    // thread's 1024: offloaded work runs on what the loops leave, and still runs.
    const sched_param idle{};
    static_cast<void>(::sched_setscheduler(0, SCHED_IDLE, &idle));
    static_cast<void>(::pthread_setname_np(::pthread_self(), "pfd-offload"));   // for top -H, ps -L
    std::unique_lock lock{mutex_};
    for (;;) {
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;   // what is left is dropped with the pool: the worker is exiting
        }
        job j = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        job_starts();
        if (j.w) {
            j.w();
        }
        jobs_running_.fetch_sub(1, std::memory_order_relaxed);
        lock.lock();
        const bool first = finished_.empty();
        try {
            finished_.push_back(std::move(j.d));
        } catch (...) {
            --in_flight_;   // out of memory: this completion is lost, not the worker
            continue;
        }
        if (first) {
            // Only the first completion of a batch needs to wake the loop. Written after
            // unlocking: the loop, woken, would otherwise preempt this idle-priority
            // thread and then wait for it to let go of the lock.
            lock.unlock();
            const std::uint64_t one = 1;
            static_cast<void>(::write(wake_.get(), &one, sizeof one));
            lock.lock();
        }
    }
}

void offload_pool::job_starts() noexcept {
    if (jobs_running_.fetch_add(1, std::memory_order_relaxed) == 0 && nudge_.count() > 0) {
        // Taking the nudge's lock orders this start after its last look at jobs_running_:
        // it is either not yet waiting (and will see the job) or waiting (and is woken).
        { const std::lock_guard lock{nudge_mutex_}; }
        job_started_.notify_one();
    }
}

void offload_pool::nudge_scheduler() noexcept {
    static_cast<void>(::pthread_setname_np(::pthread_self(), "pfd-nudge"));
    stay_on_cpu_for(slot_);
    std::unique_lock lock{nudge_mutex_};
    for (;;) {
        job_started_.wait(lock, [this] {
            return nudge_stopping_ || jobs_running_.load(std::memory_order_relaxed) > 0;
        });
        // The wake-up at the end of this sleep is the nudge; only the pool's end cuts it short.
        if (nudge_stopping_ || nudge_stop_.wait_for(lock, nudge_, [this] { return nudge_stopping_; })) {
            return;
        }
    }
}

void offload_pool::run_completions() noexcept {
    {
        const std::lock_guard lock{mutex_};
        running_.swap(finished_);
        in_flight_ -= running_.size();
    }
    for (done& d : running_) {
        if (d) {
            d();
        }
    }
    running_.clear();
}

}  // namespace pfd::worker
