#pragma once
// Files and directories the unit tests make, and reading them back.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "base/small_file.hpp"

namespace pfd::test {

// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/pfd-unit-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

// The whole file, or "" if it cannot be read.
inline std::string slurp(const std::string& path) {
    auto text = read_small_file(path);
    return text ? *text : std::string{};
}

inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

}  // namespace pfd::test
