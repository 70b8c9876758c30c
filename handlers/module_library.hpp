#pragma once
// A module's shared object, loaded and checked (include/preforkd/module.h). Each load is
// a fresh copy: the file is copied into a memfd and opened from there, because dlopen of
// a path already loaded returns the copy in memory, and a reload must run the rebuilt
// code. The configuration loads it (so `-t` and a reload refuse a bad module with the
// reason); workers inherit it across fork.
#include <memory>
#include <string>

#include <tl/expected.hpp>

#include "base/unique_fd.hpp"
#include "preforkd/module.h"

namespace pfd::handlers {

class module_library {
public:
    // The reason on failure reads after "module PATH: " (a dlerror text, or what is wrong).
    static tl::expected<std::shared_ptr<const module_library>, std::string> load(const std::string& path);

    module_library(const module_library&) = delete;
    module_library& operator=(const module_library&) = delete;
    ~module_library();

    [[nodiscard]] const pfd_module& descriptor() const noexcept { return *descriptor_; }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] const char* name() const noexcept;

private:
    module_library(void* handle, const pfd_module* d, std::string path, unique_fd copy) noexcept
        : handle_{handle}, descriptor_{d}, path_{std::move(path)}, copy_{std::move(copy)} {}

    void* handle_;
    const pfd_module* descriptor_;
    std::string path_;
    // Kept open while loaded: dlopen knows a library by its name first, and the copy's name,
    // /proc/self/fd/N, would otherwise be the next module's too.
    unique_fd copy_;
};

}  // namespace pfd::handlers
