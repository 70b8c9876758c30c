#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>

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

TEST_CASE("a prepared 304 or 204 has no Content-Type or Content-Length", "[proto][response]") {
    // RFC 9110 8.6: a 304's Content-Length would claim the 200's content is empty.
    for (int status : {304, 204}) {
        prepared_response r{status, "text/plain", ""};
        byte_buffer out;
        r.write(out, date, connection_header::keep_alive, true);
        CHECK(out.view() == "HTTP/1.1 " + std::to_string(status) + " " + std::string{reason_phrase(status)} +
                                "\r\nServer: preforkd\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                "Connection: keep-alive\r\n\r\n");
    }
}

TEST_CASE("http date is IMF-fixdate", "[proto][date]") {
    auto d = format_http_date(784111777);
    CHECK(std::string_view(d.data(), d.size()) == date);
    auto epoch = format_http_date(0);
    CHECK(std::string_view(epoch.data(), epoch.size()) == "Thu, 01 Jan 1970 00:00:00 GMT");
}

// prepared_response::write keeps the common answer (no Connection header, with its body)
// whole for the Date it was last made with; everything else goes out in pieces. Each
// answer below is compared with bytes built here, so a stale or wrongly reused whole
// answer shows as a wrong Date, Connection header or body.
namespace {

constexpr std::string_view date_a = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr std::string_view date_b = "Sun, 06 Nov 1994 08:49:38 GMT";   // the next second, same size

std::string expected_answer(std::string_view status_line, std::string_view content_type, std::string_view body,
                            std::string_view extra, std::string_view when, connection_header conn,
                            bool with_body) {
    std::string s{status_line};
    s.append("\r\nServer: preforkd\r\nDate: ").append(when).append("\r\n");
    if (!content_type.empty()) {
        s.append("Content-Type: ").append(content_type).append("\r\n");
    }
    s.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n").append(extra);
    if (conn == connection_header::keep_alive) {
        s.append("Connection: keep-alive\r\n");
    } else if (conn == connection_header::close) {
        s.append("Connection: close\r\n");
    }
    s.append("\r\n");
    if (with_body) {
        s.append(body);
    }
    return s;
}

// One answer into a fresh buffer, as a string.
std::string written(const prepared_response& r, std::string_view when, connection_header conn, bool with_body) {
    byte_buffer out;
    r.write(out, when, conn, with_body);
    return std::string{out.view()};
}

}  // namespace

TEST_CASE("prepared response: the whole answer follows the Date, A then B then A", "[proto][response]") {
    const std::string body = "hello world";
    const prepared_response r{200, "text/plain", body, "Allow: GET, HEAD\r\n"};
    const auto expect = [&](std::string_view when) {
        return expected_answer("HTTP/1.1 200 OK", "text/plain", body, "Allow: GET, HEAD\r\n", when,
                               connection_header::none, true);
    };
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a));   // from the kept answer
    CHECK(written(r, date_b, connection_header::none, true) == expect(date_b));
    CHECK(written(r, date_b, connection_header::none, true) == expect(date_b));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a));

    // Appended after what the buffer holds, the kept answer as well as a remade one.
    byte_buffer out;
    out.append("previous");
    r.write(out, date_a, connection_header::none, true);
    r.write(out, date_a, connection_header::none, true);
    r.write(out, date_b, connection_header::none, true);
    CHECK(out.view() == "previous" + expect(date_a) + expect(date_a) + expect(date_b));

    // The Date is compared whole: one differing byte anywhere in it is another Date.
    for (std::size_t at = 0; at < date_a.size(); ++at) {
        std::string other{date_a};
        other[at] = other[at] == '#' ? '$' : '#';
        INFO("Date byte " << at);
        REQUIRE(written(r, date_a, connection_header::none, true) == expect(date_a));
        CHECK(written(r, other, connection_header::none, true) == expect(other));
    }
}

TEST_CASE("prepared response: Connection headers and HEAD after the whole answer was kept", "[proto][response]") {
    const std::string body = "abc";
    const prepared_response r{200, "text/html", body};
    const auto expect = [&](std::string_view when, connection_header conn, bool with_body) {
        return expected_answer("HTTP/1.1 200 OK", "text/html", body, {}, when, conn, with_body);
    };
    for (connection_header conn : {connection_header::keep_alive, connection_header::close}) {
        INFO("connection " << static_cast<int>(conn));
        CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));
        CHECK(written(r, date_a, conn, true) == expect(date_a, conn, true));
        CHECK(written(r, date_a, conn, false) == expect(date_a, conn, false));
        CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));
        CHECK(written(r, date_b, conn, true) == expect(date_b, conn, true));
        CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));
    }
    // HEAD: the same head, no body, whether the whole answer is kept for this Date or not.
    CHECK(written(r, date_a, connection_header::none, false) == expect(date_a, connection_header::none, false));
    CHECK(written(r, date_b, connection_header::none, false) == expect(date_b, connection_header::none, false));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));

    // The two paths agree: the kept answer is the HEAD answer and the body.
    CHECK(written(r, date_a, connection_header::none, true) ==
          written(r, date_a, connection_header::none, false) + body);

    // A HEAD first, before anything was kept; then the answer with its body.
    const prepared_response fresh{404, "", "gone"};
    CHECK(written(fresh, date_a, connection_header::none, false) ==
          expected_answer("HTTP/1.1 404 Not Found", "", "gone", {}, date_a, connection_header::none, false));
    CHECK(written(fresh, date_a, connection_header::none, true) ==
          expected_answer("HTTP/1.1 404 Not Found", "", "gone", {}, date_a, connection_header::none, true));
}

TEST_CASE("prepared response: a Date of another size goes out in pieces", "[proto][response]") {
    const std::string body = "hello";
    const prepared_response r{200, "text/plain", body};
    const auto expect = [&](std::string_view when) {
        return expected_answer("HTTP/1.1 200 OK", "text/plain", body, {}, when, connection_header::none, true);
    };
    // In a heap buffer of exactly its size: ASan sees any read of a 29th byte.
    constexpr std::string_view short_text = "Sun, 6 Nov 1994 08:49:37 GMT";
    static_assert(short_text.size() == 28);
    const auto short_buf = std::make_unique<char[]>(short_text.size());
    std::memcpy(short_buf.get(), short_text.data(), short_text.size());
    const std::string_view short_date{short_buf.get(), short_text.size()};

    CHECK(written(r, short_date, connection_header::none, true) == expect(short_date));   // nothing kept yet
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a));
    CHECK(written(r, short_date, connection_header::none, true) == expect(short_date));   // A is kept
    CHECK(written(r, short_date, connection_header::none, true) == expect(short_date));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a));
    CHECK(written(r, date_a.substr(0, 28), connection_header::none, true) == expect(date_a.substr(0, 28)));
    CHECK(written(r, date_b, connection_header::none, true) == expect(date_b));
}

TEST_CASE("prepared response: a body past the whole limit is written right for each Date", "[proto][response]") {
    std::string body(20 * 1024, 'x');
    for (std::size_t i = 0; i < body.size(); i += 97) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    const prepared_response r{200, "application/octet-stream", body};
    const auto expect = [&](std::string_view when, connection_header conn, bool with_body) {
        return expected_answer("HTTP/1.1 200 OK", "application/octet-stream", body, {}, when, conn, with_body);
    };
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));
    CHECK(written(r, date_b, connection_header::none, true) == expect(date_b, connection_header::none, true));
    CHECK(written(r, date_a, connection_header::close, true) == expect(date_a, connection_header::close, true));
    CHECK(written(r, date_a, connection_header::none, false) == expect(date_a, connection_header::none, false));
    CHECK(written(r, date_a, connection_header::none, true) == expect(date_a, connection_header::none, true));

    // Just under the limit and just over it, around the size the whole answer is kept to.
    const std::size_t head_size = expect(date_a, connection_header::none, false).size();
    for (std::size_t total : {std::size_t{16 * 1024 - 1}, std::size_t{16 * 1024}, std::size_t{16 * 1024 + 1}}) {
        // Content-Length has the same digit count across these sizes, so the head does too.
        const std::string edge_body(total - head_size, 'y');
        const prepared_response edge{200, "application/octet-stream", edge_body};
        const auto edge_expect = [&](std::string_view when) {
            return expected_answer("HTTP/1.1 200 OK", "application/octet-stream", edge_body, {}, when,
                                   connection_header::none, true);
        };
        INFO("total " << total);
        CHECK(edge_expect(date_a).size() == total);
        CHECK(written(edge, date_a, connection_header::none, true) == edge_expect(date_a));
        CHECK(written(edge, date_b, connection_header::none, true) == edge_expect(date_b));
        CHECK(written(edge, date_a, connection_header::none, true) == edge_expect(date_a));
    }
}
