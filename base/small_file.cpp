#include "base/small_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/unique_fd.hpp"

namespace pfd {

result<std::string> read_small_file(const std::string& path, std::size_t limit) {
    unique_fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd.valid()) {
        return fail(errno, "open");
    }
    std::string text;
    constexpr std::size_t chunk = 16384;
    while (text.size() < limit) {
        const std::size_t have = text.size();
        text.resize(have + std::min(chunk, limit - have));
        const ssize_t n = ::read(fd.get(), text.data() + have, text.size() - have);
        if (n < 0 && errno == EINTR) {
            text.resize(have);
            continue;
        }
        if (n < 0) {
            return fail(errno, "read");
        }
        text.resize(have + static_cast<std::size_t>(n));
        if (n == 0) {
            break;
        }
    }
    return text;
}

}  // namespace pfd
