#include "handlers/file_lookup.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace pfd::handlers {

namespace {

int open_beneath(int root_fd, const std::string& name, bool follow_symlinks) noexcept {
    open_how how{};
    // O_NONBLOCK: a FIFO opened for reading would wait for a writer (it is refused once
    // fstat shows what it is); regular files ignore the flag, and it is cleared anyway.
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS);
    // EAGAIN: a rename raced the lookup (RESOLVE_BENEATH), worth a retry or two; or a
    // write lease on the file is being broken (O_NONBLOCK), which retrying would only spin on.
    long fd = -1;
    for (int attempt = 0; attempt < 3; ++attempt) {
        fd = ::syscall(SYS_openat2, root_fd, name.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) {
            break;
        }
    }
    return static_cast<int>(fd);
}

// What an open failure tells the client: nothing is there (404), or something is there
// that this route will not serve (403: a symlink, a path that would leave the root).
int refusal(int err) noexcept {
    switch (err) {
        case ENOENT:
        case ENOTDIR:
        case ENAMETOOLONG:
            return 404;
        case ENXIO:    // a socket (or a device without its driver): never served
        case ENODEV:
        case ELOOP:    // a symlink, with RESOLVE_NO_SYMLINKS
        case EXDEV:    // resolution would leave the root
        case EACCES:
        case EPERM:
            return 403;
        case EAGAIN:   // still racing a rename, or the file is leased to a writer: try again later
            return 503;
        default:
            return 500;
    }
}

std::int64_t mtime_ns(const struct stat& st) noexcept {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000LL + st.st_mtim.tv_nsec;
}

// The whole of a small file, if it stays as it was while read (a writer mid-way gives
// a retry, then the file is sent from its descriptor, where the send checks it).
std::shared_ptr<const std::string> read_whole(const open_file& f) noexcept {
    for (int attempt = 0; attempt < 3; ++attempt) {
        try {
            auto bytes = std::make_shared<std::string>(f.size, '\0');
            std::size_t got = 0;
            while (got < f.size) {
                const ssize_t n = ::pread(f.fd.get(), bytes->data() + got, f.size - got, static_cast<off_t>(got));
                if (n <= 0) {
                    if (n < 0 && errno == EINTR) {
                        continue;
                    }
                    break;
                }
                got += static_cast<std::size_t>(n);
            }
            struct stat after {};
            if (got == f.size && ::fstat(f.fd.get(), &after) == 0 && static_cast<std::uint64_t>(after.st_size) == f.size &&
                mtime_ns(after) == f.mtime_ns) {
                return bytes;
            }
        } catch (...) {
            return nullptr;
        }
    }
    return nullptr;
}

// Opens `name` as a variant: only a regular file is one. status: 0, or why not.
file_variant open_variant(int root_fd, const std::string& name, bool follow, int& status, bool& is_dir,
                          int& error) noexcept {
    file_variant v;
    is_dir = false;
    unique_fd fd{open_beneath(root_fd, name, follow)};
    if (!fd.valid()) {
        error = errno;
        status = refusal(error);
        return v;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        error = errno;
        status = 500;
        return v;
    }
    if (S_ISDIR(st.st_mode)) {
        is_dir = true;
        status = 0;
        return v;
    }
    if (!S_ISREG(st.st_mode)) {
        status = 403;   // FIFOs, devices, sockets are never served
        return v;
    }
    ::fcntl(fd.get(), F_SETFL, O_RDONLY);   // back to blocking reads (splice, pread)
    auto f = std::make_shared<open_file>();
    f->size = static_cast<std::uint64_t>(st.st_size);
    f->mtime_ns = mtime_ns(st);
    f->inode = st.st_ino;
    f->device = st.st_dev;
    f->fd = std::move(fd);
    v.etag = proto::make_etag(f->inode, f->size, st.st_mtim.tv_sec, static_cast<std::uint32_t>(st.st_mtim.tv_nsec));
    v.last_modified = st.st_mtim.tv_sec;
    v.last_modified_text = proto::format_http_date(v.last_modified);
    if (f->size <= inline_file_max) {
        v.bytes = read_whole(*f);
    }
    v.file = std::move(f);
    status = 0;
    return v;
}

}  // namespace

std::size_t file_entry::memory() const noexcept {
    std::size_t n = sizeof(file_entry);
    for (const file_variant* v : {&identity, &br, &gzip}) {
        if (v->bytes != nullptr) {
            n += v->bytes->size();
        }
    }
    return n;
}

unique_fd open_root(const std::string& root) noexcept {
    return unique_fd{::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)};
}

lookup_outcome look_up_file(int root_fd, const std::string& relative, bool trailing_slash,
                            const file_route_settings& settings, const mime_types& mime) noexcept {
    lookup_outcome out;
    if (root_fd < 0) {
        out.status = 500;
        out.error = EBADF;
        return out;
    }
    try {
        std::string name = relative.empty() ? std::string{"."} : relative;
        bool is_dir = false;
        file_variant v = open_variant(root_fd, name, settings.follow_symlinks, out.status, is_dir, out.error);
        if (out.status != 0) {
            return out;
        }
        if (is_dir) {
            if (!trailing_slash) {
                out.status = 301;
                return out;
            }
            if (settings.index.empty()) {
                out.status = 403;   // no listing of directories
                return out;
            }
            name = relative.empty() ? settings.index : relative + "/" + settings.index;
            v = open_variant(root_fd, name, settings.follow_symlinks, out.status, is_dir, out.error);
            if (out.status == 404 || is_dir) {
                out.status = 403;   // a directory without its index
            }
            if (out.status != 0) {
                return out;
            }
        } else if (trailing_slash) {
            out.status = 404;   // "file.txt/" names no directory
            return out;
        }
        auto e = std::make_shared<file_entry>();
        e->content_type = mime.content_type(name);
        e->identity = std::move(v);
        if (settings.precompressed) {
            int ignored = 0;
            int no_error = 0;
            bool dir = false;
            e->br = open_variant(root_fd, name + ".br", settings.follow_symlinks, ignored, dir, no_error);
            e->gzip = open_variant(root_fd, name + ".gz", settings.follow_symlinks, ignored, dir, no_error);
        }
        out.entry = std::move(e);
    } catch (...) {
        out.status = 500;
        out.entry.reset();
    }
    return out;
}

}  // namespace pfd::handlers
