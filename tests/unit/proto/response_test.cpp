#include <catch2/catch.hpp>

#include "proto/http_date.hpp"
#include "proto/response.hpp"

using namespace pfd::proto;

namespace {
constexpr std::string_view date = "Sun, 06 Nov 1994 08:49:37 GMT";
}

TEST_CASE("a prepared response writes exact bytes", "[proto][response]") {
    prepared_response r{200, "text/plain", "hello word"};
    byte_buffer out;
    r.write(out, date, connection_header::none, true);
    CHECK(out.view() ==
          "HTTP/1.1 200 OK\r\nServer: preforkd\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
          "Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nhello word");
}

TEST_CASE("connection header variants and HEAD", "[proto][response]") {
    prepared_response r{200, "text/plain", "abc"};
    byte_buffer out;
    r.write(out, date, connection_header::close, false);
    CHECK(out.view().ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"));
    out.clear();
    r.write(out, date, connection_header::keep_alive, true);
    CHECK(out.view().ends_with("Content-Length: 3\r\nConnection: keep-alive\r\n\r\nabc"));
}

TEST_CASE("http date is IMF-fixdate", "[proto][date]") {
    auto d = format_http_date(784111777);
    CHECK(std::string_view(d.data(), d.size()) == date);
    auto epoch = format_http_date(0);
    CHECK(std::string_view(epoch.data(), epoch.size()) == "Thu, 01 Jan 1970 00:00:00 GMT");
}
