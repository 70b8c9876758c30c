#include "worker/file_transfer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>


namespace pfd::worker {

result<bool> file_transfer::ready() noexcept {
    if (read_end_.valid()) {
        return true;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        return fail(errno, "pipe2");
    }
    read_end_.reset(fds[0]);
    write_end_.reset(fds[1]);
    // A bigger pipe moves a large file in fewer steps; past the user's pipe quota the
    // kernel refuses, and the default size (64 KiB) works as well, in more steps.
    static_cast<void>(::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(chunk)));
    return true;
}

}  // namespace pfd::worker
