#pragma once
// The classic BPF program a reuseport group runs for each new connection (its SYN) to
// choose the socket, by index in join order (slot order here), that queues it.
#include <linux/filter.h>

#include <span>
#include <vector>

namespace pfd::server {

struct steering {
    unsigned sockets = 1;   // choose among the first `sockets` of the group
    bool by_cpu = false;    // balance = "cpu": socket k when CPU k took the SYN in
    unsigned cpus = 1;      // CPUs the kernel may run on (get_nprocs_conf)
    // Sockets whose worker takes no more (full, or none in the slot): skipped, unless
    // that leaves none. Sorted, each below `sockets`.
    std::span<const unsigned> skipped{};
};

// The program:
//   by_cpu: index = cpu + cpus * (random % ceil(sockets / cpus)); cpu when that is
//           `sockets` or more; random below `sockets` when cpu is too. So with more
//           sockets than CPUs, CPU k's connections go to one of k, k + cpus, ... at random.
//   else:   random below `sockets`.
// Then, if the index is a skipped socket, one of the others at random instead. (Without
// skipped sockets and by_cpu, a group may as well keep the kernel's own hash.)
[[nodiscard]] std::vector<sock_filter> steering_program(const steering& s);

}  // namespace pfd::server
