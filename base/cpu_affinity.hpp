#pragma once
// Which CPUs a process may use, and pinning to one: [server] cpu_affinity = "auto" (worker
// slot i on the i-th CPU the master may use) and the offload pool's nudge thread.
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace pfd {

// The CPUs this process may run on (its sched_getaffinity mask), in increasing order.
// Empty if the kernel does not say.
[[nodiscard]] std::vector<unsigned> allowed_cpus();

// Slot i's CPU: allowed[i % allowed.size()] (allowed is not empty).
[[nodiscard]] unsigned cpu_for_slot(std::span<const unsigned> allowed, unsigned slot) noexcept;

// "0-3,6", for the log line.
[[nodiscard]] std::string describe_cpus(std::span<const unsigned> cpus);

// Pins the calling thread to `cpu` (called before a process starts threads: the process).
// Threads it starts later (the offload helpers, and any a module starts) inherit the
// mask; io_uring's own io-wq workers follow the ring's settings, not this mask.
result<bool> pin_to_cpu(unsigned cpu) noexcept;

}  // namespace pfd
