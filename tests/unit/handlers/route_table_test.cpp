#include <catch2/catch.hpp>

#include "handlers/route_table.hpp"
#include "proto/byte_buffer.hpp"

using namespace pfd::handlers;
using pfd::proto::method;
using pfd::proto::request_head;
using pfd::proto::target_form;

namespace {

constexpr std::string_view date = "Sun, 06 Nov 1994 08:49:37 GMT";

request_head head_of(method m, std::string_view path, target_form form = target_form::origin) {
    request_head h;
    h.method = m;
    h.path = path;
    h.form = form;
    return h;
}

// What a request gets from the table, as the worker would write it.
struct answer {
    int status = 0;
    std::string bytes;
    bool continue_100 = false;
};

answer ask(route_table& t, const request_head& h) {
    exchange ex;
    ex.begin(h.method == method::head, true, nullptr);
    handler& hd = t.find(h);
    hd.on_head(ex, h);
    hd.on_complete(ex);
    answer a;
    a.continue_100 = ex.take_continue();
    REQUIRE(ex.source() == body_source::prepared);
    a.status = ex.prepared()->status();
    pfd::proto::byte_buffer out;
    ex.prepared()->write(out, date, pfd::proto::connection_header::none, !ex.head_only());
    a.bytes = std::string{out.view()};
    return a;
}

}  // namespace

TEST_CASE("route table: exact path, 404 otherwise", "[handlers][routes]") {
    route_table t{{route_spec::fixed("/", "hello word", "text/plain"), route_spec::fixed("/a", "A", "text/html")}};
    auto root = ask(t, head_of(method::get, "/"));
    CHECK(root.status == 200);
    // The ETag hashes the content type and the body (FNV-1a): the same in every worker and
    // across reloads that keep them.
    CHECK(root.bytes.ends_with("Content-Type: text/plain\r\nContent-Length: 10\r\nETag: \"61a54b2d1c6a9133\"\r\n\r\nhello word"));
    auto a = ask(t, head_of(method::get, "/a"));
    CHECK(a.bytes.ends_with("Content-Type: text/html\r\nContent-Length: 1\r\nETag: \"4cd2710c7b382df1\"\r\n\r\nA"));
    CHECK(ask(t, head_of(method::get, "/b")).status == 404);
    CHECK(ask(t, head_of(method::get, "/a/")).status == 404);
}

TEST_CASE("route table: HEAD has the headers of GET and no body", "[handlers][routes]") {
    route_table t{{route_spec::fixed("/", "hello word", "text/plain")}};
    auto h = ask(t, head_of(method::head, "/"));
    CHECK(h.status == 200);
    CHECK(h.bytes.ends_with("Content-Length: 10\r\nETag: \"61a54b2d1c6a9133\"\r\n\r\n"));
}

TEST_CASE("route table: method dispatch, OPTIONS and 405 with Allow", "[handlers][routes]") {
    route_table t{{route_spec::fixed("/", "x", "text/plain")}};
    for (method m : {method::post, method::put, method::del, method::connect, method::other}) {
        auto r = ask(t, head_of(m, "/"));
        CHECK(r.status == 405);
        CHECK(r.bytes.find("\r\nAllow: GET, HEAD, OPTIONS\r\n") != std::string::npos);
        // RFC 9110 15.5.6: a 405 is for a resource that exists; an unknown path is 404
        // whatever the method (a module route may take any of them).
        CHECK(ask(t, head_of(m, "/nowhere")).status == (m == method::connect ? 405 : 404));
    }
    auto o = ask(t, head_of(method::options, "/"));
    CHECK(o.status == 200);
    CHECK(o.bytes.find("\r\nAllow: GET, HEAD, OPTIONS\r\n") != std::string::npos);
    CHECK(o.bytes.ends_with("Content-Length: 0\r\nAllow: GET, HEAD, OPTIONS\r\n\r\n"));
    CHECK(ask(t, head_of(method::options, "/nowhere")).status == 404);
    CHECK(ask(t, head_of(method::options, "*", target_form::asterisk)).status == 200);
    CHECK(ask(t, head_of(method::get, "*", target_form::asterisk)).status == 404);
}

TEST_CASE("route table: a body the client waits to send is asked for", "[handlers][routes]") {
    route_table t{{route_spec::fixed("/", "x", "text/plain")}};
    auto h = head_of(method::post, "/");
    h.has_body = true;
    h.expect_continue = true;
    CHECK(ask(t, h).continue_100);
    h.path = "/nowhere";
    CHECK(ask(t, h).continue_100);
    CHECK_FALSE(ask(t, head_of(method::get, "/")).continue_100);
}

TEST_CASE("error pages: short text bodies, 500 for a status without a page", "[handlers][errors]") {
    error_pages pages;
    pfd::proto::byte_buffer out;
    pages.get(413).write(out, date, pfd::proto::connection_header::close, true);
    CHECK(out.view().starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    CHECK(out.view().ends_with("Connection: close\r\n\r\nContent Too Large\n"));
    CHECK(pages.get(499).status() == 500);
    CHECK(pages.get(405).status() == 405);
}
