#include "base/cpu_affinity.hpp"

#include <sched.h>

#include <cerrno>

namespace pfd {

std::vector<unsigned> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<unsigned> out;
    if (::sched_getaffinity(0, sizeof set, &set) != 0) {
        return out;
    }
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) {
            out.push_back(cpu);
        }
    }
    return out;
}

unsigned cpu_for_slot(std::span<const unsigned> allowed, unsigned slot) noexcept {
    return allowed[slot % allowed.size()];
}

std::string describe_cpus(std::span<const unsigned> cpus) {
    std::string out;
    for (std::size_t i = 0; i < cpus.size();) {
        std::size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
            ++j;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(cpus[i]);
        if (j > i) {
            out += '-';
            out += std::to_string(cpus[j]);
        }
        i = j + 1;
    }
    return out;
}

result<bool> pin_to_cpu(unsigned cpu) noexcept {
    if (cpu >= CPU_SETSIZE) {
        return fail(EINVAL, "sched_setaffinity");
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) != 0) {
        return fail(errno, "sched_setaffinity");
    }
    return true;
}

}  // namespace pfd
