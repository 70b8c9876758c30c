// What waking a sleeping task costs on this machine: two processes play ping-pong over
// pipes, once on two different CPUs and once on the same one, and the pinging side times
// its write() (which wakes the other side) and the whole round trip. On a virtual machine
// whose idle vCPUs halt, waking a task on another CPU costs the waker an exit to the
// hypervisor for the interrupt, and the woken side the halted vCPU's return: costs a
// server pays when its answers wake a client asleep on another CPU, and one doing
// everything on one busy CPU mostly does not. bench.py records the line, every report
// prints it.
//
// usage: wake_cost [--rounds N]     prints one line; exits 1 if it cannot measure
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

bool pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
}

struct timing {
    double write_us = 0;   // median time of the write() that wakes the peer
    double round_us = 0;   // median round trip
    bool ok = false;
};

double median(std::vector<double>& v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

timing ping_pong(int my_cpu, int peer_cpu, int rounds) {
    int to_peer[2];
    int to_me[2];
    if (pipe(to_peer) != 0 || pipe(to_me) != 0) {
        return {};
    }
    const pid_t pid = fork();
    if (pid < 0) {
        return {};
    }
    if (pid == 0) {
        close(to_peer[1]);   // or its read would never see the end
        close(to_me[0]);
        if (!pin(peer_cpu)) {
            _exit(1);
        }
        char c;
        while (read(to_peer[0], &c, 1) == 1 && write(to_me[1], &c, 1) == 1) {
        }
        _exit(0);
    }
    close(to_peer[0]);
    close(to_me[1]);
    std::vector<double> writes;
    std::vector<double> rounds_us;
    writes.reserve(rounds);
    rounds_us.reserve(rounds);
    char c = 'x';
    bool failed = !pin(my_cpu);
    using clock = std::chrono::steady_clock;
    for (int i = 0; i < rounds && !failed; ++i) {
        const auto t0 = clock::now();
        failed = write(to_peer[1], &c, 1) != 1;
        const auto t1 = clock::now();
        failed = failed || read(to_me[0], &c, 1) != 1;
        const auto t2 = clock::now();
        writes.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        rounds_us.push_back(std::chrono::duration<double, std::micro>(t2 - t0).count());
        // The peer must be asleep in read() when we write, as a worker is between
        // batches: a short pause after its answer lets it get back there.
        usleep(50);
    }
    close(to_peer[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    close(to_me[0]);
    if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || writes.empty()) {
        return {};
    }
    return {median(writes), median(rounds_us), true};
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 2000;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = std::max(1, std::atoi(argv[++i]));
        } else {
            std::fprintf(stderr, "usage: wake_cost [--rounds N]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);   // a peer that died early shows as a failed write, not a kill
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        std::perror("wake_cost: sched_getaffinity");
        return 1;
    }
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &allowed)) {
            cpus.push_back(cpu);
        }
    }
    const timing same = ping_pong(cpus[0], cpus[0], rounds);
    if (!same.ok) {
        std::fprintf(stderr, "wake_cost: the ping-pong failed\n");
        return 1;
    }
    if (cpus.size() < 2) {
        std::printf("waking a sleeping task: round trip %.1f us on the one CPU allowed (medians of %d)\n",
                    same.round_us, rounds);
        return 0;
    }
    const timing other = ping_pong(cpus[0], cpus[1], rounds);
    if (!other.ok) {
        std::fprintf(stderr, "wake_cost: the ping-pong across CPUs failed\n");
        return 1;
    }
    // On one CPU the woken side usually runs inside the waker's write (a wake-up
    // preemption), so only the round trip compares.
    std::printf("waking a task asleep on another CPU: the waker's write %.1f us, the round trip %.1f us "
                "(on one CPU: round trip %.1f us); medians of %d\n",
                other.write_us, other.round_us, same.round_us, rounds);
    return 0;
}
