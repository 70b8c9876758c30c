// Modules (include/preforkd/module.h) over the real example shared objects of this build
// (BUILD/examples/...): what the loader refuses and why, and module routes driven through
// the route table with an exchange, as the worker drives them: the request accessors,
// whole and streamed answers, offloads (run here by the test, as the worker's helpers
// would), a full queue, aborts, settings and init.
//
// Test cases run in the order written: those that load a C++ module come last, since such
// a module stays loaded after dlclose (libstdc++'s STB_GNU_UNIQUE symbols).
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/unique_fd.hpp"
#include "handlers/module_library.hpp"
#include "handlers/route_table.hpp"
#include "tests/unit/handlers/queued_offload.hpp"
#include "tests/unit/temp_files.hpp"

using namespace pfd;
using namespace pfd::handlers;

namespace {

// BUILD/examples/REL, from this binary's place: BUILD/tests/unit_tests.
std::string example(const std::string& rel) {
    const auto build = std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path();
    return (build / "examples" / rel).string();
}

std::string refusal(const std::string& path) {
    auto lib = module_library::load(path);
    REQUIRE_FALSE(lib.has_value());
    return lib.error();
}

std::shared_ptr<const module_library> loaded(const std::string& path) {
    auto lib = module_library::load(path);
    INFO(path << ": " << (lib ? std::string{} : lib.error()));
    REQUIRE(lib.has_value());
    return *lib;
}

using test::queued_offload;

// One module route (a prefix) in a table, as a worker builds it.
struct routed {
    queued_offload helpers;
    std::unique_ptr<route_table> table;

    explicit routed(std::shared_ptr<const module_library> lib, std::string prefix = "/app/",
                    std::vector<std::pair<std::string, std::string>> settings = {}) {
        route_spec r;
        r.prefix = std::move(prefix);
        r.module = std::move(lib);
        r.settings = std::move(settings);
        table = std::make_unique<route_table>(std::vector<route_spec>{r}, mime_overrides{}, &helpers, 3);
    }
};

struct outcome {
    int status = 0;
    std::string head;
    std::string body;
};

// What the exchange holds now (status 0: no answer yet).
outcome answer_of(exchange& ex) {
    outcome o;
    proto::byte_buffer out;
    if (ex.source() == body_source::prepared) {
        o.status = ex.prepared()->status();
        ex.prepared()->write(out, "Sun, 06 Nov 1994 08:49:37 GMT", proto::connection_header::none, true);
        o.head = std::string{out.view()};
        o.body = std::string{ex.prepared()->body()};
    } else if (ex.source() == body_source::built && ex.finished()) {
        o.status = ex.head().status();
        ex.head().write(out, "Sun, 06 Nov 1994 08:49:37 GMT", proto::connection_header::none);
        o.head = std::string{out.view()};
        o.body = std::string{ex.staged_bytes().view()};
    }
    return o;
}

struct req {
    std::string method = "GET";
    std::string target = "/app/x";
    std::vector<proto::header> headers;
    std::vector<std::string> body;   // pieces, as on_body gets them
};

proto::request_head head_of(const req& q) {
    proto::request_head h;
    h.method_name = q.method;
    h.method = q.method == "GET" ? proto::method::get : q.method == "POST" ? proto::method::post : proto::method::other;
    h.target = q.target;
    h.path = std::string_view{q.target}.substr(0, std::string_view{q.target}.find('?'));
    for (const auto& hd : q.headers) {
        h.headers[h.header_count++] = hd;
    }
    h.has_body = !q.body.empty();
    return h;
}

// The request through the table: head, body pieces, end; then (settle) the helper jobs.
outcome ask(routed& rt, exchange& ex, const req& q, bool settle = true) {
    const proto::request_head h = head_of(q);
    ex.begin(false, true, nullptr);
    handler& hd = rt.table->find(h);
    hd.on_head(ex, h);
    for (const auto& piece : q.body) {
        hd.on_body(ex, {piece.data(), piece.size()});
    }
    hd.on_complete(ex);
    if (settle) {
        rt.helpers.run_all();
    }
    return answer_of(ex);
}

outcome ask(routed& rt, exchange& ex, std::string target, bool settle = true) {
    req q;
    q.target = std::move(target);
    return ask(rt, ex, q, settle);
}

}  // namespace

TEST_CASE("module library: what is refused, and why", "[handlers][module]") {
    test::temp_dir dir;
    CHECK(test::contains(refusal(dir.path + "/none.so"), "No such file or directory"));
    CHECK(refusal(dir.path) == "not a regular file");
    {
        std::ofstream f{dir.path + "/text.so"};
        f << "this is not an ELF object, just some text long enough for a header\n";
    }
    const std::string not_elf = refusal(dir.path + "/text.so");
    CHECK(test::contains(not_elf, "invalid ELF header"));
    CHECK(test::contains(not_elf, dir.path + "/text.so"));   // the user's path, not the memfd's
    CHECK_FALSE(test::contains(not_elf, "/proc/self/fd"));

    CHECK(test::contains(refusal(example("testing/libnoabi.so")), "no preforkd_module descriptor"));
    CHECK(refusal(example("testing/libbadabi.so")) ==
          "built for module ABI version 99, this preforkd runs version 1: rebuild it against this preforkd's module.h");
    CHECK(refusal(example("testing/libtiny.so")) == "its descriptor has 8 bytes, version 1 needs at least 72");
    CHECK(refusal(example("testing/libnohandle.so")) == "its descriptor has no handle callback");
}

TEST_CASE("module library: a module is loaded, its descriptor checked", "[handlers][module]") {
    const auto lib = loaded(example("hello/libhello.so"));
    CHECK(lib->descriptor().abi_version == PFD_MODULE_ABI_VERSION);
    CHECK(lib->descriptor().struct_size == sizeof(pfd_module));
    CHECK(std::string{lib->name()} == "hello");
    CHECK(lib->path() == example("hello/libhello.so"));
}

// Each loaded copy keeps its memfd (and so its "/proc/self/fd/N" name) while loaded:
// glibc knows a library by its name first, so a reused name would hand back the library
// already loaded under it, and every module of a configuration would run the first's code.
TEST_CASE("module library: two modules loaded at once are two modules", "[handlers][module]") {
    const auto hello = loaded(example("hello/libhello.so"));
    const auto sum = loaded(example("sum/libsum.so"));
    CHECK(std::string{hello->name()} == "hello");
    CHECK(std::string{sum->name()} == "sum");
    CHECK(&hello->descriptor() != &sum->descriptor());
}

// A reload loads the file again while the old generation still holds the old copy: the
// new copy must be the rebuilt code.
TEST_CASE("module library: a rebuilt file loaded again runs the new code", "[handlers][module]") {
    test::temp_dir dir;
    const std::string path = dir.path + "/libapp.so";
    std::filesystem::copy_file(example("testing/libversion1.so"), path);
    routed old_gen{loaded(path)};
    std::filesystem::copy_file(example("testing/libversion2.so"), path,
                               std::filesystem::copy_options::overwrite_existing);
    routed new_gen{loaded(path)};
    exchange ex;
    CHECK(ask(old_gen, ex, "/app/x").body == "version 1");
    CHECK(ask(new_gen, ex, "/app/x").body == "version 2");
}

TEST_CASE("module route: an answer at once, and what the route table sends elsewhere", "[handlers][module]") {
    routed rt{loaded(example("hello/libhello.so"))};
    exchange ex;
    const outcome o = ask(rt, ex, "/app/anything?x=1");
    CHECK(o.status == 200);
    CHECK(o.body == "hello word");
    CHECK(test::contains(o.head, "Content-Type: text/plain\r\n"));
    CHECK(test::contains(o.head, "Content-Length: 10\r\n"));
    CHECK(ask(rt, ex, "/app").body == "hello word");    // the prefix without its '/'
    CHECK(ask(rt, ex, "/other").status == 404);
    CHECK(rt.helpers.jobs.empty());
}

TEST_CASE("module route: offloaded work answers from done; a full queue is 503", "[handlers][module]") {
    routed rt{loaded(example("sum/libsum.so"))};
    exchange ex;
    const outcome pending = ask(rt, ex, "/app/sum?n=10", false);
    CHECK(pending.status == 0);   // kept: the sum runs on a helper
    CHECK(ex.deferred());
    REQUIRE(rt.helpers.jobs.size() == 1);
    rt.helpers.run_all();
    const outcome done = answer_of(ex);
    CHECK(done.status == 200);
    CHECK(done.body == "Sum is 45");

    CHECK(ask(rt, ex, "/app/sum?x=1&n=1000000").body == "Sum is 499999500000");
    for (const char* bad : {"/app/sum", "/app/sum?n=", "/app/sum?n=0", "/app/sum?n=-1", "/app/sum?n=1e9",
                            "/app/sum?n=6000000001", "/app/sum?n=99999999999999999999999", "/app/sum?m=5"}) {
        INFO(bad);
        const outcome o = ask(rt, ex, bad);
        CHECK(o.status == 400);
        CHECK(test::contains(o.body, "n=1..6000000000"));
    }
    req post;
    post.method = "POST";
    post.target = "/app/sum?n=5";
    const outcome not_allowed = ask(rt, ex, post);
    CHECK(not_allowed.status == 405);
    CHECK(test::contains(not_allowed.head, "Allow: GET, HEAD\r\n"));

    rt.helpers.limit = 0;
    const outcome busy = ask(rt, ex, "/app/sum?n=10", false);
    CHECK(busy.status == 503);
    CHECK(test::contains(busy.head, "Retry-After: 1\r\n"));
}

// A request offloaded, then aborted before its work runs; then the work runs while the
// exchange serves another request: done must not answer it (ASan: nothing leaks).
template <class Routed>
void abort_then_run(Routed& rt, exchange& ex, std::string_view target) {
    const req q{"GET", std::string{target}, {}, {}};   // the head's views point into it
    const proto::request_head h = head_of(q);
    ex.begin(false, true, nullptr);
    handler& hd = rt.table->find(h);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    REQUIRE(rt.helpers.jobs.size() == 1);
    hd.on_abort(ex);
    ex.end();
    ex.begin(false, true, nullptr);
    rt.helpers.run_all();
    CHECK(ex.source() == body_source::none);
}

TEST_CASE("module route: a request aborted while offloaded is never answered", "[handlers][module]") {
    routed rt{loaded(example("sum/libsum.so"))};
    exchange ex;
    abort_then_run(rt, ex, "/app/sum?n=100");
    CHECK(ask(rt, ex, "/app/sum?n=3").body == "Sum is 3");   // the route goes on
}

TEST_CASE("module route: settings reach the module; a failed init answers 500", "[handlers][module]") {
    exchange ex;
    {
        routed rt{loaded(example("testing/libversion1.so")), "/app/", {{"greeting", "good day"}}};
        CHECK(ask(rt, ex, "/app/greeting").body == "good day");
        CHECK(ask(rt, ex, "/app/x").body == "version 1");
    }
    {
        routed rt{loaded(example("testing/libversion1.so")), "/app/", {{"init", "fail"}}};
        CHECK(ask(rt, ex, "/app/x").status == 500);
    }
}

// C++ modules from here on (see the top of the file).

TEST_CASE("module route: the request's accessors, through echo", "[handlers][module]") {
    routed rt{loaded(example("echo/libecho.so")), "/app/echo/"};
    exchange ex;
    req q;
    q.method = "POST";
    q.target = "/app/echo/a%20b?x=1&y=\"2\"";
    q.headers = {{"Host", "example"}, {"X-Two", "first"}, {"x-two", "second"}, {"X-Bytes", "caf\xc3\xa9 \x01 \xff"}};
    q.body = {"hello ", "\"body\"\n"};
    const outcome o = ask(rt, ex, q);
    CHECK(o.status == 200);
    CHECK(test::contains(o.head, "Content-Type: application/json\r\n"));
    CHECK(o.body ==
          "{\"method\":\"POST\",\"target\":\"/app/echo/a%20b?x=1&y=\\\"2\\\"\",\"path\":\"/app/echo/a%20b\","
          "\"query\":\"x=1&y=\\\"2\\\"\",\"authority\":\"example\",\"has_body\":true,"
          "\"headers\":[[\"Host\",\"example\"],[\"X-Two\",\"first\"],"
          "[\"x-two\",\"second\"],[\"X-Bytes\",\"caf\xc3\xa9 \\u0001 \\u00ff\"]],\"body\":\"hello \\\"body\\\"\\n\"}\n");

    const outcome plain = ask(rt, ex, "/app/echo/");
    CHECK(plain.body ==
          "{\"method\":\"GET\",\"target\":\"/app/echo/\",\"path\":\"/app/echo/\",\"query\":\"\",\"authority\":\"\","
          "\"has_body\":false,\"headers\":[],\"body\":\"\"}\n");

    req binary;
    binary.method = "PUT";
    binary.body = {std::string{"\x00\xff\x80", 3}};
    binary.target = "/app/echo/b";
    CHECK(test::contains(ask(rt, ex, binary).body, ",\"body_base64\":\"AP+A\"}"));
}

TEST_CASE("module route: the C++ layer streams, offloads, and lets aborted work go", "[handlers][module]") {
    routed rt{loaded(example("testing/libsleepy.so")), "/t/"};
    exchange ex;
    const outcome stream = ask(rt, ex, "/t/stream");
    CHECK(stream.status == 200);
    CHECK(test::contains(stream.head, "X-Module: sleepy\r\n"));
    CHECK(test::contains(stream.head, "Transfer-Encoding: chunked\r\n"));
    CHECK(stream.body == "4\r\none \r\n4\r\ntwo \r\n5\r\nthree\r\n0\r\n\r\n");

    CHECK(ask(rt, ex, "/t/sleep?ms=1").body == "slept 1");
    CHECK(ask(rt, ex, "/t/throw").status == 500);

    // Aborted before its work ran, then the work runs: done does not, nothing leaks.
    abort_then_run(rt, ex, "/t/sleep?ms=0");
    const req q{"GET", "/t/sleep?ms=0", {}, {}};
    const proto::request_head h = head_of(q);
    handler& hd = rt.table->find(h);
    // Aborted after its work ran (its done still queued): the same.
    ex.begin(false, true, nullptr);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    REQUIRE(rt.helpers.jobs.size() == 1);
    rt.helpers.jobs[0].first();
    hd.on_abort(ex);
    ex.end();
    ex.begin(false, true, nullptr);
    rt.helpers.jobs[0].second();
    rt.helpers.jobs.clear();
    CHECK(ex.source() == body_source::none);

    CHECK(ask(rt, ex, "/t/stats").body == "works 3 dones 1 aborts 2");

    rt.helpers.limit = 0;
    CHECK(ask(rt, ex, "/t/sleep?ms=1", false).status == 503);
}

// After a C++ module was let go, a load that gets its memfd number again must still load
// its own file (a C++ module may stay loaded after dlclose: its name stays taken).
TEST_CASE("module library: a module loaded after a C++ module is itself", "[handlers][module]") {
    // sleepy has libstdc++'s unique symbols in every build (std::to_string, make_shared).
    { const auto sticky = loaded(example("testing/libsleepy.so")); }
    const auto hello = loaded(example("hello/libhello.so"));
    CHECK(std::string{hello->name()} == "hello");
}
