#include "handlers/module_library.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.hpp"

namespace pfd::handlers {

namespace {

// The descriptor of ABI version 1 ends with its last callback.
constexpr std::size_t descriptor_v1_size = offsetof(pfd_module, shutdown) + sizeof(pfd_module::shutdown);

tl::expected<unique_fd, std::string> fresh_copy(const std::string& path) {
    unique_fd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!in.valid()) {
        return tl::unexpected(std::string{std::strerror(errno)});
    }
    struct stat st {};
    if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        return tl::unexpected(std::string{"not a regular file"});
    }
    unique_fd copy{::memfd_create("preforkd-module", MFD_CLOEXEC)};
    if (!copy.valid()) {
        return tl::unexpected("memfd_create: " + std::string{std::strerror(errno)});
    }
    off_t at = 0;
    while (at < st.st_size) {
        const ssize_t n = ::sendfile(copy.get(), in.get(), &at, static_cast<std::size_t>(st.st_size - at));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return tl::unexpected("copying it: " + std::string{n < 0 ? std::strerror(errno) : "file shrank"});
        }
    }
    return copy;
}

}  // namespace

tl::expected<std::shared_ptr<const module_library>, std::string> module_library::load(const std::string& path) {
    auto copy = fresh_copy(path);
    if (!copy) {
        return tl::unexpected(copy.error());
    }
    const std::string via = "/proc/self/fd/" + std::to_string(copy->get());
    void* handle = ::dlopen(via.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        std::string why = ::dlerror();
        // dlerror names the /proc path of the copy: name the file the user wrote.
        if (const auto at = why.find(via); at != std::string::npos) {
            why.replace(at, via.size(), path);
        }
        return tl::unexpected(why);
    }
    auto refuse = [handle](std::string why) -> tl::expected<std::shared_ptr<const module_library>, std::string> {
        ::dlclose(handle);
        return tl::unexpected(std::move(why));
    };
    const auto* d = static_cast<const pfd_module*>(::dlsym(handle, PFD_MODULE_SYMBOL));
    if (d == nullptr) {
        return refuse("no " PFD_MODULE_SYMBOL " descriptor (a module exports `const pfd_module " PFD_MODULE_SYMBOL
                      "`, declared extern \"C\" in C++)");
    }
    if (d->abi_version != PFD_MODULE_ABI_VERSION) {
        return refuse("built for module ABI version " + std::to_string(d->abi_version) + ", this preforkd runs version " +
                      std::to_string(PFD_MODULE_ABI_VERSION) + ": rebuild it against this preforkd's module.h");
    }
    if (d->struct_size < descriptor_v1_size) {
        return refuse("its descriptor has " + std::to_string(d->struct_size) + " bytes, version " +
                      std::to_string(PFD_MODULE_ABI_VERSION) + " needs at least " + std::to_string(descriptor_v1_size));
    }
    if (d->handle == nullptr) {
        return refuse("its descriptor has no handle callback");
    }
    return std::shared_ptr<const module_library>(new module_library(handle, d, path, std::move(*copy)));
}

module_library::~module_library() {
    ::dlclose(handle_);
    // A library may stay loaded after dlclose (C++ code's STB_GNU_UNIQUE symbols pin it):
    // then its name must stay taken, or the next module given this descriptor number would
    // be handed this one's code.
    const std::string via = "/proc/self/fd/" + std::to_string(copy_.get());
    if (void* still = ::dlopen(via.c_str(), RTLD_NOLOAD | RTLD_LAZY)) {
        ::dlclose(still);
        static_cast<void>(copy_.release());
    }
}

const char* module_library::name() const noexcept {
    return descriptor_->name != nullptr ? descriptor_->name : path_.c_str();
}

}  // namespace pfd::handlers
