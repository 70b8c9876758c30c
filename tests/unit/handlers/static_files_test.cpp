// The file route through the route table, over real files: what it answers at once
// (from its cache), what it looks up on a helper thread (here: jobs the test runs), and
// that a client gone meanwhile is never answered.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <vector>

#include "handlers/route_table.hpp"
#include "tests/unit/handlers/queued_offload.hpp"
#include "tests/unit/temp_files.hpp"

using namespace pfd;
using namespace pfd::handlers;

namespace {

using test::queued_offload;

void write_file(const std::string& path, std::string_view bytes) {
    std::ofstream f{path, std::ios::binary};
    f << bytes;
}

struct fixture {
    test::temp_dir dir;
    queued_offload helpers;
    proto::date_cache date;   // the Date "the worker" sends
    std::unique_ptr<route_table> table;

    fixture() {
        write_file(dir.path + "/a.txt", "alpha");
        REQUIRE(::mkdir((dir.path + "/sub").c_str(), 0755) == 0);
        write_file(dir.path + "/sub/index.html", "<p>sub</p>");
        write_file(dir.path + "-secret", "secret");
        REQUIRE(::symlink((dir.path + "-secret").c_str(), (dir.path + "/out").c_str()) == 0);
        std::vector<route_spec> routes{route_spec::fixed("/static/exact", "fixed", "text/plain")};
        route_spec files;
        files.prefix = "/static/";
        files.files = file_route_settings{};
        files.files->root = dir.path;
        routes.push_back(files);
        table = std::make_unique<route_table>(routes, mime_overrides{}, &helpers, 0, nullptr, nullptr,
                                              builtin_factory{}, &date);
    }
    ~fixture() { ::unlink((dir.path + "-secret").c_str()); }
};

proto::request_head get(std::string_view path) {
    proto::request_head h;
    h.method = proto::method::get;
    h.path = path;
    h.target = path;
    return h;
}

struct outcome {
    int status = 0;
    std::string head;
    std::string body;
};

// Asks the table; `settle` runs the helper jobs before looking at the answer.
outcome ask(fixture& f, exchange& ex, std::string_view path, bool settle = true) {
    const proto::request_head h = get(path);
    ex.begin(false, true, nullptr);
    handler& hd = f.table->find(h);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    if (settle) {
        f.helpers.run_all();
    }
    outcome o;
    if (ex.source() == body_source::prepared) {
        o.status = ex.prepared()->status();
        o.body = std::string{ex.prepared()->body()};
    } else if (ex.source() == body_source::built && ex.finished()) {
        o.status = ex.head().status();
        proto::byte_buffer out;
        ex.head().write(out, "Sun, 06 Nov 1994 08:49:37 GMT", proto::connection_header::none);
        o.head = std::string{out.view()};
        o.body = std::string{ex.staged_bytes().view()};
    }
    return o;
}

}  // namespace

TEST_CASE("static files: a file is looked up off the loop, then answered from the cache", "[handlers][static]") {
    fixture f;
    exchange ex;
    const outcome first = ask(f, ex, "/static/a.txt", false);
    CHECK(first.status == 0);          // not answered inside on_head: a lookup is queued
    CHECK(ex.deferred());
    REQUIRE(f.helpers.jobs.size() == 1);
    f.helpers.run_all();
    REQUIRE(ex.finished());
    CHECK(ex.head().status() == 200);
    CHECK(std::string{ex.staged_bytes().view()} == "alpha");

    const outcome again = ask(f, ex, "/static/a.txt", false);
    CHECK(f.helpers.jobs.empty());     // cached: no helper involved
    CHECK(again.status == 200);
    CHECK(again.body == "alpha");
    CHECK(test::contains(again.head, "Content-Type: text/plain; charset=utf-8\r\n"));
    CHECK(test::contains(again.head, "Content-Length: 5\r\n"));
    CHECK(test::contains(again.head, "ETag: \""));
    CHECK(test::contains(again.head, "Accept-Ranges: bytes\r\n"));
}

TEST_CASE("static files: routing, directories, refusals", "[handlers][static]") {
    fixture f;
    exchange ex;
    CHECK(ask(f, ex, "/static/exact").body == "fixed");   // an exact path wins over the prefix
    CHECK(ask(f, ex, "/static/sub/").body == "<p>sub</p>");
    const outcome redirect = ask(f, ex, "/static/sub");
    CHECK(redirect.status == 301);
    CHECK(test::contains(redirect.head, "Location: /static/sub/\r\n"));
    CHECK(ask(f, ex, "/static").status == 301);
    CHECK(ask(f, ex, "/static/none").status == 404);
    CHECK(ask(f, ex, "/static/../x").status == 403);
    const outcome out = ask(f, ex, "/static/out");   // a symlink leaving the root
    CHECK(out.status == 403);
    CHECK_FALSE(test::contains(out.body, "secret"));
    CHECK(ask(f, ex, "/other").status == 404);
}

TEST_CASE("static files: a client gone before the lookup ends is not answered", "[handlers][static]") {
    fixture f;
    exchange ex;
    const proto::request_head h = get("/static/a.txt");
    ex.begin(false, true, nullptr);
    handler& hd = f.table->find(h);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    REQUIRE(f.helpers.jobs.size() == 1);
    hd.on_abort(ex);
    ex.end();
    ex.begin(false, true, nullptr);   // the exchange serves someone else now
    f.helpers.run_all();
    CHECK(ex.source() == body_source::none);
}

TEST_CASE("static files: helpers that far behind answer 503 at once", "[handlers][static]") {
    fixture f;
    f.helpers.limit = 0;
    exchange ex;
    const outcome o = ask(f, ex, "/static/a.txt", false);
    CHECK(o.status == 503);
}

// RFC 9110 8.8.2.1: never a Last-Modified later than the Date. The worker's Date trails the
// clock by up to a tick, so a file changed since then is Last-Modified at the Date's second.
TEST_CASE("static files: Last-Modified is never later than the Date the answer gets", "[handlers][static]") {
    fixture f;
    const std::time_t an_hour_ago = std::time(nullptr) - 3600;
    f.date.refresh(an_hour_ago);
    exchange ex;
    const outcome o = ask(f, ex, "/static/a.txt");
    REQUIRE(o.status == 200);
    const std::string date = "Last-Modified: " + std::string{f.date.view()} + "\r\n";
    CHECK(test::contains(o.head, date));
    // A validator taken from that answer still matches it.
    proto::request_head h = get("/static/a.txt");
    const std::string since{f.date.view()};
    h.headers[0] = {"If-Modified-Since", since};
    h.header_count = 1;
    ex.begin(false, true, nullptr);
    handler& hd = f.table->find(h);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    REQUIRE(ex.finished());
    CHECK(ex.head().status() == 304);
}
