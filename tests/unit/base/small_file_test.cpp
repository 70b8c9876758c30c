#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "base/small_file.hpp"

using pfd::read_small_file;

namespace {
std::string temp_file(const std::string& text) {
    char name[] = "/tmp/preforkd-small-file-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
    return name;
}
}  // namespace

TEST_CASE("read_small_file: the whole file, or up to the limit", "[base][small_file]") {
    std::string big(40000, 'x');
    big[39999] = 'y';
    const std::string path = temp_file(big);
    auto all = read_small_file(path);
    REQUIRE(all);
    CHECK(*all == big);
    auto head = read_small_file(path, 5);
    REQUIRE(head);
    CHECK(*head == "xxxxx");
    ::unlink(path.c_str());
    const std::string empty = temp_file("");
    auto none = read_small_file(empty);
    REQUIRE(none);
    CHECK(none->empty());
    ::unlink(empty.c_str());
}

TEST_CASE("read_small_file: a directory or a missing file is an error, not an empty file", "[base][small_file]") {
    auto dir = read_small_file("/tmp");
    REQUIRE_FALSE(dir);
    CHECK(dir.error().code == EISDIR);
    auto missing = read_small_file("/nonexistent/preforkd");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ENOENT);
    CHECK(std::string{missing.error().call} == "open");
}

TEST_CASE("read_small_file: /proc files, whose size stat does not tell", "[base][small_file]") {
    auto status = read_small_file("/proc/self/status");
    REQUIRE(status);
    CHECK(status->find("\nPid:") != std::string::npos);
}
