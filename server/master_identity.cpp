#include "server/master_identity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>

#include "worker/unique_fd.hpp"

namespace pfd::server {

bool is_master_process(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    unique_fd fd{::open(path, O_RDONLY | O_CLOEXEC)};
    char buf[64] = {};
    const ssize_t n = fd.valid() ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
    return n > 0 && std::string_view{buf, static_cast<std::size_t>(n)}.starts_with("preforkd: master process");
}

std::string own_executable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string{buf, static_cast<std::size_t>(n)} : std::string{};
}

}  // namespace pfd::server
