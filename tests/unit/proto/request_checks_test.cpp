#include <catch2/catch.hpp>

#include <initializer_list>
#include <string_view>
#include <tuple>
#include <vector>

#include "proto/request_checks.hpp"

using namespace pfd::proto;

namespace {

transfer_codings codings(const std::vector<header>& fields) { return read_transfer_codings({fields.data(), fields.size()}); }
bool chunked_final(const std::vector<header>& fields) { return codings(fields).chunked_final; }

expectations expect(std::initializer_list<std::string_view> fields) {
    expectations e;
    for (std::string_view f : fields) {
        add_expectations(f, e);
    }
    return e;
}

}  // namespace

TEST_CASE("valid_host: reg-names, IP literals, ports", "[proto][checks]") {
    for (std::string_view ok : {"example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:80",
                                "[::1]", "[::1]:8080", "[v1.fe80::a+en1]", "a%20b", "x-y_z~!$&'()*+,;=",
                                "host:", "[2001:db8::1]", "[::ffff:192.0.2.1]:443", "[1:2:3:4:5:6:7:8]",
                                "[VF.x]"}) {
        INFO(ok);
        CHECK(valid_host(ok));
    }
    for (std::string_view bad : {"", ":80", ":",   // an empty host (RFC 9110 4.2.1)
                                 "exa mple.com", "example.com:80a", "[::1", "[]", "[::1]x", "[::1]:8x",
                                 "a%2", "a%zz", "a/b", "a@b", "[::1/]", "host:80:80", "a\tb",
                                 // IP literals that are neither IPv6address nor IPvFuture
                                 "[zz]", "[1.2.3.4]", "[:::::::::]", "[1::2::3]", "[12345::1]",
                                 "[1:2:3:4:5:6:7:8:9]", "[::1%25eth0]", "[v.x]", "[v1.]", "[vg.x]", "[v1]",
                                 "[::1.2.3]"}) {
        INFO(bad);
        CHECK_FALSE(valid_host(bad));
    }
}

TEST_CASE("list_has: elements with OWS, case-insensitive, empty ones skipped", "[proto][checks]") {
    CHECK(list_has("close", "close"));
    CHECK(list_has("Keep-Alive, CLOSE", "close"));
    CHECK(list_has(" ,\tclose\t, ", "close"));
    CHECK_FALSE(list_has("closed", "close"));
    CHECK_FALSE(list_has("keep-alive, upgrade", "close"));
    CHECK_FALSE(list_has("", "close"));
    CHECK_FALSE(list_has("cl ose", "close"));
}

TEST_CASE("chunked_is_final: chunked once and last over every Transfer-Encoding", "[proto][checks]") {
    CHECK(chunked_final({{"Transfer-Encoding", "chunked"}}));
    CHECK_FALSE(codings({{"Transfer-Encoding", "chunked,"}}).others);
    CHECK(codings({{"transfer-encoding", "gzip, chunked"}}).others);
    CHECK(codings({{"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "chunked"}}).others);
    CHECK(chunked_final({{"transfer-encoding", "gzip, chunked"}}));
    CHECK(chunked_final({{"Transfer-Encoding", "chunked,"}}));
    CHECK(chunked_final({{"Transfer-Encoding", "gzip"}, {"Host", "x"}, {"TRANSFER-ENCODING", " Chunked "}}));
    CHECK_FALSE(chunked_final({{"Transfer-Encoding", "chunked, gzip"}}));
    CHECK_FALSE(chunked_final({{"Transfer-Encoding", "chunked, chunked"}}));
    CHECK_FALSE(chunked_final({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}));
    CHECK_FALSE(chunked_final({{"Transfer-Encoding", ""}}));
    CHECK_FALSE(chunked_final({{"Transfer-Encoding", "chunkedx"}}));
    CHECK_FALSE(chunked_final({{"X-Transfer-Encoding", "chunked"}}));
    CHECK_FALSE(chunked_final({}));
}

TEST_CASE("valid_field_name and only_ows", "[proto][checks]") {
    CHECK(valid_field_name("Content-Length"));
    CHECK(valid_field_name("x!#$%&'*+-.^_`|~9"));
    CHECK(valid_field_name(""));   // emptiness is llhttp's to refuse
    CHECK_FALSE(valid_field_name("Host "));
    CHECK_FALSE(valid_field_name("a:b"));
    CHECK_FALSE(valid_field_name("a\"b"));
    CHECK_FALSE(valid_field_name("a\x7f"));
    CHECK(only_ows(""));
    CHECK(only_ows(" \t "));
    CHECK_FALSE(only_ows(" \r\n "));
    CHECK_FALSE(only_ows(" x"));
}

TEST_CASE("request_line_shape: decided at the byte that settles it", "[proto][checks]") {
    constexpr std::size_t max = 16;
    CHECK(request_line_shape("", max) == line_shape::incomplete);
    CHECK(request_line_shape("BREW", max) == line_shape::incomplete);
    CHECK(request_line_shape("BREW /pot HTTP/1.", max) == line_shape::incomplete);
    CHECK(request_line_shape("BREW /pot HTTP/1.1\r", max) == line_shape::incomplete);
    CHECK(request_line_shape("BREW /pot HTTP/1.1\r\n", max) == line_shape::well_formed);
    CHECK(request_line_shape("BREW /pot HTTP/1.9\r\nHost: x\r\n", max) == line_shape::well_formed);
    CHECK(request_line_shape("BREW /pot HTTP/2.0\r\n", max) == line_shape::other_version);
    CHECK(request_line_shape("BREW /pot HTTP/1.1\n", max) == line_shape::malformed);
    CHECK(request_line_shape("BREW  /pot", max) == line_shape::malformed);
    CHECK(request_line_shape(" BREW", max) == line_shape::malformed);
    CHECK(request_line_shape("\x16\x03\x01", max) == line_shape::malformed);   // a TLS hello
    CHECK(request_line_shape("BREW /pot HTTP/1.10\r\n", max) == line_shape::malformed);
    CHECK(request_line_shape("BREW /pot http/1.1\r\n", max) == line_shape::malformed);
    CHECK(request_line_shape("ABCDEFGHIJKLMNOPQ", max) == line_shape::method_too_long);
    CHECK(request_line_shape("ABCDEFGHIJKLMNOP", max) == line_shape::incomplete);
    // Method and target together are bounded as for a known method.
    CHECK(request_line_shape("BREW /0123456789ab", max) == line_shape::too_long);
    CHECK(request_line_shape("BREW /0123456789a", max) == line_shape::incomplete);
}

TEST_CASE("unknown_method_refusal: 501 only for a well-formed line", "[proto][checks]") {
    CHECK_FALSE(unknown_method_refusal(line_shape::incomplete));
    CHECK(unknown_method_refusal(line_shape::well_formed).status == 501);
    CHECK(unknown_method_refusal(line_shape::other_version).status == 505);
    CHECK(unknown_method_refusal(line_shape::too_long).status == 414);
    CHECK(unknown_method_refusal(line_shape::method_too_long).status == 501);
    CHECK(unknown_method_refusal(line_shape::malformed).status == 400);
    CHECK(std::string_view{unknown_method_refusal(line_shape::malformed).reason} == "invalid method");
}

TEST_CASE("classify_target: forms and paths", "[proto][checks]") {
    struct row {
        std::string_view target;
        method m;
        target_form form;
        std::string_view path;
    };
    for (const row& r : std::vector<row>{
             {"/", method::get, target_form::origin, "/"},
             {"/a/b?q=1", method::get, target_form::origin, "/a/b"},
             {"/a?", method::head, target_form::origin, "/a"},
             {"*", method::options, target_form::asterisk, "*"},
             {"http://example.com", method::get, target_form::absolute, "/"},
             {"HTTPS://example.com?x", method::get, target_form::absolute, "/"},
             {"http://example.com/p?q", method::post, target_form::absolute, "/p"},
             {"http://example.com:80/p/", method::get, target_form::absolute, "/p/"},
             {"example.com:443", method::connect, target_form::origin, ""},
             {"http://[::1]:8080/v6", method::get, target_form::absolute, "/v6"},
             // What browsers send unencoded (WHATWG URL): "[ ] | ^" in a path, and in a
             // query "\\ ` { }" too.
             {"/a[1]|b^c", method::get, target_form::origin, "/a[1]|b^c"},
             {"/s?a[]=1&b={x}|y^z`w\\v", method::get, target_form::origin, "/s"},
             {"http://h/p?{q}", method::get, target_form::absolute, "/p"},
         }) {
        INFO(r.target);
        request_head head;
        head.target = r.target;
        head.method = r.m;
        head.form = target_form::asterisk;
        head.path = "unset";
        CHECK_FALSE(classify_target(head));
        CHECK(head.form == r.form);
        CHECK(head.path == r.path);
    }
    for (auto [target, m, reason] : std::vector<std::tuple<std::string_view, method, std::string_view>>{
             {"/a#frag", method::get, "fragment in the request target"},
             {"*#", method::options, "fragment in the request target"},
             {"host:443#x", method::connect, "fragment in the request target"},
             {"*", method::get, "asterisk-form target on a method other than OPTIONS"},
             {"ftp://example.com/", method::get, "invalid request target"},
             {"example.com/a", method::get, "invalid request target"},
             {"", method::get, "invalid request target"},
             {"http:///a", method::get, "absolute-form target without a host"},
             {"http://?q", method::get, "absolute-form target without a host"},
             {"http://:80/a", method::get, "absolute-form target without a host"},   // RFC 9110 4.2.1
             {"http://:/a", method::get, "absolute-form target without a host"},
             {"http://a:abc/", method::get, "invalid authority in an absolute-form target"},
             {"http://a%zz/", method::get, "invalid authority in an absolute-form target"},
             {"http://[zz]/", method::get, "invalid authority in an absolute-form target"},
             {"http://u@a/", method::get, "invalid authority in an absolute-form target"},
             {"http://a b/", method::get, "invalid authority in an absolute-form target"},
             {"/x\"y", method::get, "invalid character in the request target"},
             {"/x<y>", method::get, "invalid character in the request target"},
             {"/?q=<y>", method::get, "invalid character in the request target"},
             {"/?q=\"", method::get, "invalid character in the request target"},
             {"/{id}", method::get, "invalid character in the request target"},
             {"/a`b", method::get, "invalid character in the request target"},
             {"/a\\b", method::get, "invalid character in the request target"},
             {"http://h/{id}", method::get, "invalid character in the request target"},
             {"http://h?<", method::get, "invalid character in the request target"},
         }) {
        INFO(target);
        request_head head;
        head.target = target;
        head.method = m;
        const refusal r = classify_target(head);
        CHECK(r.status == 400);
        CHECK(std::string_view{r.reason} == reason);
    }
}

TEST_CASE("classify_target: an absolute-form target's authority is the effective one", "[proto][checks]") {
    request_head head;
    head.headers[0] = {"Host", "from-host"};
    head.header_count = 1;
    head.method = method::get;
    head.target = "http://[::1]:8080/p?q";
    REQUIRE_FALSE(classify_target(head));
    CHECK(head.authority == "[::1]:8080");
    CHECK(head.effective_authority() == "[::1]:8080");
    head.target = "HTTPS://h?q";
    REQUIRE_FALSE(classify_target(head));
    CHECK(head.effective_authority() == "h");
    head.target = "/p";
    REQUIRE_FALSE(classify_target(head));
    CHECK(head.effective_authority() == "from-host");   // RFC 9112 3.2.2: else Host
}

TEST_CASE("check_host, check_transfer_encoding, check_content_length, expectations", "[proto][checks]") {
    CHECK(check_host(0, true, 1).status == 400);   // missing in HTTP/1.1
    CHECK(std::string_view{check_host(0, true, 1).reason} == "missing Host header");
    CHECK_FALSE(check_host(0, true, 0));            // optional in HTTP/1.0
    CHECK_FALSE(check_host(1, true, 1));
    CHECK(std::string_view{check_host(1, false, 1).reason} == "invalid Host header");
    CHECK(std::string_view{check_host(2, true, 0).reason} == "more than one Host header");
    CHECK(std::string_view{check_host(2, false, 1).reason} == "more than one Host header");

    const transfer_codings none{};
    const transfer_codings chunked{.chunked_final = true};
    const transfer_codings gzip_chunked{.chunked_final = true, .others = true};
    const transfer_codings gzip{.chunked_final = false, .others = true};
    CHECK_FALSE(check_transfer_encoding(false, none, 1));
    CHECK_FALSE(check_transfer_encoding(false, none, 0));
    CHECK_FALSE(check_transfer_encoding(true, chunked, 1));
    CHECK(check_transfer_encoding(true, none, 1).status == 400);
    CHECK(check_transfer_encoding(true, gzip, 1).status == 400);   // the length is unknowable: not a 501
    CHECK(std::string_view{check_transfer_encoding(true, chunked, 0).reason} ==
          "Transfer-Encoding in an HTTP/1.0 request");
    CHECK(check_transfer_encoding(true, gzip_chunked, 0).status == 400);
    CHECK(check_transfer_encoding(true, gzip_chunked, 1).status == 501);

    CHECK_FALSE(check_content_length(true, false, 100, 100));
    CHECK(check_content_length(true, false, 101, 100).status == 413);
    CHECK_FALSE(check_content_length(false, false, 101, 100));
    CHECK_FALSE(check_content_length(true, true, 101, 100));   // chunked: bounded as it comes

    CHECK_FALSE(check_expect(expect({})));
    CHECK_FALSE(check_expect(expect({"100-continue"})));
    CHECK(expect({"100-Continue"}).continue_asked);
    // RFC 9110 5.6.1: empty elements are ignored; an empty field asks for nothing.
    CHECK_FALSE(check_expect(expect({"100-continue,", " , 100-continue", ""})));
    CHECK(expect({"100-continue,", ""}).continue_asked);
    CHECK_FALSE(expect({"", " , "}).continue_asked);
    CHECK_FALSE(check_expect(expect({"", " , "})));
    CHECK(check_expect(expect({"foo"})).status == 417);
    CHECK(check_expect(expect({"100-continue, foo"})).status == 417);
    CHECK(check_expect(expect({"100-continue", "100-continue;x"})).status == 417);
    CHECK(wants_continue(true, 1, true));
    CHECK_FALSE(wants_continue(false, 1, true));
    CHECK_FALSE(wants_continue(true, 0, true));
    CHECK_FALSE(wants_continue(true, 1, false));
}
