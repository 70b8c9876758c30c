"""RFC 9112 / RFC 9110 conformance of preforkd's HTTP/1.1 front end: a table-driven
suite over raw sockets.

Each case in the tables below names the bytes a client sends (possibly in several
pieces, with interim reads, pauses or a byte-at-a-time trickle) and what RFC 9110/9112
and preforkd's documented limits allow in return: the statuses of the responses in
order (a set only where the RFC allows alternatives), headers that must be present or
absent, and whether the server must close the connection (True), keep it (False) or
may do either as long as it says so (None). Unless a case opts out, a pipelined
"GET /" follows the case's bytes in the same send: it must be answered when the
connection stays open and must not be answered when the server closes. After every
case a fresh connection must still get "hello word" (the worker keeps serving).

Every response is also checked for well-formedness: "HTTP/1.1 NNN Reason", Server,
an IMF-fixdate Date, a Content-Length that matches the body, no bare CR/LF, and
"Connection: close" when the server closes — received before the close.
"""
import re
import select
import socket
import threading
import time
from dataclasses import dataclass

import pytest

from conftest import Client, ConnectionClosed, Server, get, wait_until
from helpers import ROUTES_ROOT_AND_A

# --------------------------------------------------------------------------- servers

ROUTES = ROUTES_ROOT_AND_A

BIG_BODY_BYTES = 4 * 1024 * 1024
BIG_ROUTE = f"""
[[route]]
path = "/big"
body = "{'x' * BIG_BODY_BYTES}"
content_type = "application/octet-stream"
"""

# The main server: small limits so every limit is cheap to hit; long timeouts.
MAIN_LIMITS = """[limits]
max_request_line = 256
max_header_bytes = 2048
max_headers = 20
max_body_bytes = "10KiB"
max_requests_per_connection = 0
header_timeout = "10s"
body_timeout = "10s"
keepalive_timeout = "10s"
"""
MAX_BODY = 10 * 1024

# Short timeouts, all different so each case shows which deadline fired.
HEADER_T, BODY_T, KEEPALIVE_T, SEND_T = 1.0, 1.5, 2.0, 1.0
TIMEOUT_LIMITS = """[limits]
header_timeout = "1s"
body_timeout = "1500ms"
keepalive_timeout = "2s"
send_timeout = "1s"
"""

MAXREQ_LIMITS = """[limits]
max_requests_per_connection = 3
"""

SERVER_CONFIGS = {
    "main": dict(workers=2, extra=MAIN_LIMITS, routes=ROUTES),
    "timeouts": dict(workers=1, extra=TIMEOUT_LIMITS, routes=ROUTES + BIG_ROUTE),
    "maxreq": dict(workers=1, extra=MAXREQ_LIMITS, routes=ROUTES),
}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Module-scoped servers, started on first use, by name. At the end of the module no
    worker of any of them may have ended at all: nothing in this file crashes one or asks
    one to go, so any end is a worker that died of what a client sent."""
    started = {}
    base = tmp_path_factory.mktemp("rfc9112")

    def by_name(name):
        if name not in started:
            started[name] = Server(base, **SERVER_CONFIGS[name]).start()
        return started[name]

    yield by_name
    failures = []
    for s in started.values():
        try:
            s.assert_no_worker_died()
        except AssertionError as e:
            failures.append(str(e))
        s.stop()
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- request bytes

GET_ROOT = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def req(method="GET", target="/", version="HTTP/1.1", headers=(("Host", "x"),), body=b""):
    """Request bytes; header values may be str or bytes (bytes go out unchanged)."""
    out = f"{method} {target} {version}\r\n".encode("latin-1")
    for name, value in headers:
        v = value if isinstance(value, bytes) else value.encode("latin-1")
        out += name.encode("latin-1") + b": " + v + b"\r\n"
    return out + b"\r\n" + body


def head_with(*lines, method="GET", target="/", version="HTTP/1.1"):
    """A request head from raw header lines (bytes, without CRLF)."""
    out = f"{method} {target} {version}\r\n".encode()
    for line in lines:
        out += line + b"\r\n"
    return out + b"\r\n"


def chunked(*chunks, trailers=b""):
    out = b""
    for c in chunks:
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


# --------------------------------------------------------------------------- expectations

ALLOW = "GET, HEAD, OPTIONS"
ABSENT = None


@dataclass(frozen=True)
class Exp:
    """One expected response."""
    status: object                 # int, or a frozenset of acceptable statuses
    body: bytes = None             # exact body, when given
    headers: tuple = ()            # (name, value or ABSENT)
    head: bool = False             # answer to HEAD: no body follows

    def statuses(self):
        return self.status if isinstance(self.status, frozenset) else frozenset([self.status])


def one_of(*statuses):
    return frozenset(statuses)


HELLO = Exp(200, b"hello word", (("Content-Type", "text/plain"), ("Content-Length", "10")))
HELLO_KA = Exp(200, b"hello word", HELLO.headers + (("Connection", ABSENT),))
HELLO_10_KA = Exp(200, b"hello word", (("Connection", "keep-alive"),))
ROUTE_A = Exp(200, b"route a body", (("Content-Type", "text/html"),))
NOT_FOUND = Exp(404)
NOT_ALLOWED = Exp(405, headers=(("Allow", ALLOW),))
OPTIONS_OK = Exp(200, b"", (("Allow", ALLOW), ("Content-Length", "0")))


# --------------------------------------------------------------------------- steps

class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


CONTINUE = _Marker("CONTINUE")   # read exactly "HTTP/1.1 100 Continue\r\n\r\n" before going on
READ = _Marker("READ")           # read the next expected response now
MARK = _Marker("MARK")           # timing (within=) is measured from here (default: connect)


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Sends data one byte every `interval` s, stopping as soon as the server answers or closes."""
    data: bytes
    interval: float = 0.05


@dataclass
class Case:
    id: str
    steps: list
    expect: list
    close: object                  # True: must close; False: must stay open; None: as the last response says
    trailer: bool = True           # append a pipelined GET / to the last bytes sent
    server: str = "main"
    within: tuple = None           # (lo, hi): seconds from MARK/connect to the first answer or the close
    gap: float = 0.01              # pause between pieces
    note: str = ""
    discrepancy: str = ""          # set where preforkd does not behave as specified: the case is xfail


def C(id, steps, expect, close, **kw):
    if isinstance(steps, bytes):
        steps = [steps]
    return Case(id, list(steps), list(expect), close, **kw)


def bad(id, raw, status=400, **kw):
    """An error that must be answered and then the connection closed."""
    return C(id, raw, [Exp(status)], True, **kw)


# --------------------------------------------------------------------------- the tables

H = (("Host", "x"),)


def hdrs(*pairs):
    return H + tuple(pairs)


TWENTY_HEADERS = H + tuple((f"X-H{i}", "v") for i in range(19))                  # 20 fields
TWENTY_ONE_HEADERS = H + tuple((f"X-H{i}", "v") for i in range(20))              # 21 fields
HUNDRED_HEADERS = H + tuple((f"X-H{i}", "v") for i in range(99))                 # 100 fields
HUNDRED_ONE_HEADERS = H + tuple((f"X-H{i}", "v") for i in range(100))            # 101 fields

POST_CL5 = req("POST", headers=hdrs(("Content-Length", "5")), body=b"hello")
CHUNKED_HEAD = head_with(b"Host: x", b"Transfer-Encoding: chunked", method="POST")

# llhttp 8.1 (Debian 12) puts SP into field names: "X-A : b" becomes the field "X-A " (only Host is
# caught, as a missing Host), "X A: b" is accepted.
CASES = [
    # ---------------------------------------------------------------- routing, GET/HEAD
    C("get-origin-form", req(), [HELLO_KA], False),
    C("get-route-a", req(target="/a"), [ROUTE_A], False),
    C("get-query-ignored-for-routing", req(target="/a?x=1&y"), [ROUTE_A], False),
    C("get-unknown-path-404", req(target="/nope"), [NOT_FOUND], False),
    C("head-like-get-without-body", req("HEAD"),
      [Exp(200, headers=(("Content-Length", "10"), ("Content-Type", "text/plain")), head=True)], False),
    C("head-unknown-path-404", req("HEAD", "/nope"), [Exp(404, head=True)], False),
    C("request-in-3-byte-pieces", [GET_ROOT[i:i + 3] for i in range(0, len(GET_ROOT), 3)], [HELLO], False),
    C("request-split-inside-crlf", [b"GET /a HTTP/1.1\r", b"\nHost: x\r\n\r", b"\n"], [ROUTE_A], False),
    C("leading-empty-line-ignored", b"\r\n" + req(), [HELLO], False,
      note="RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line"),
    C("three-pipelined-in-order", req() + req(target="/nope") + req(target="/a"),
      [HELLO, NOT_FOUND, ROUTE_A], False),
    C("150-pipelined-unlimited-requests", req() * 150, [HELLO_KA] * 150, False,
      note="max_requests_per_connection = 0 means unlimited"),
    bad("host-empty-value", req(headers=(("Host", ""),)),
        note="RFC 9110 4.2.1: the target URI would have an empty host, which MUST be rejected"),
    C("host-name-and-port-allowed", req(headers=(("Host", "example.com:9000"),)), [HELLO], False),
    C("host-ipv6-literal-allowed", req(headers=(("Host", "[::1]:9000"),)), [HELLO], False),
    *[bad(f"host-invalid-{name}-400", req(headers=(("Host", value),)),
          note="RFC 9112 3.2: a Host with an invalid value MUST get 400")
      for name, value in (("space", "a b"), ("slash", "a/b"), ("userinfo", "user@a"), ("port", "a:abc"),
                          ("unclosed-ip-literal", "[::1"), ("ip-literal-not-ipv6", "[zz]"),
                          ("ipv4-in-brackets", "[1.2.3.4]"), ("ip-literal-colons", "[:::::::::]"))],
    C("host-name-case-insensitive", head_with(b"hOsT: x"), [HELLO], False),
    C("htab-inside-value-allowed", head_with(b"Host: x", b"X-A: a\tb"), [HELLO], False),
    C("obs-text-in-value-allowed", head_with(b"Host: x", b"X-A: caf\xe9"), [HELLO], False),
    C("ows-around-value-allowed", head_with(b"Host: x", b"X-A: \t a b \t"), [HELLO], False),
    C("no-space-after-colon-allowed", head_with(b"Host:x", b"X-A:b"), [HELLO], False),
    C("20-header-fields-at-limit", req(headers=TWENTY_HEADERS), [HELLO], False),
    C("header-bytes-under-limit", req(headers=hdrs(("X-A", "y" * 1500))), [HELLO], False),
    C("request-line-at-limit-256", req(target="/" + "a" * 252), [NOT_FOUND], False,
      note="method (3) + target (253) = 256 = max_request_line"),

    # ---------------------------------------------------------------- absolute-form, asterisk-form
    C("absolute-form-routes-by-path", req(target="http://anything/"), [HELLO], False),
    C("absolute-form-route-a-with-query", req(target="http://anything/a?q=1"), [ROUTE_A], False),
    C("absolute-form-https-without-path", req(target="https://anything"), [HELLO], False),
    C("absolute-form-scheme-case-insensitive", req(target="HTTP://anything/a"), [ROUTE_A], False),
    C("absolute-form-host-header-differs", req(target="http://anything/", headers=(("Host", "other"),)),
      [HELLO], False, note="RFC 9112 3.2.2: the target's authority wins over Host"),
    C("absolute-form-unknown-path-404", req(target="http://anything/nope"), [NOT_FOUND], False),
    C("head-absolute-form", req("HEAD", "http://h/a"), [Exp(200, headers=(("Content-Length", "12"),), head=True)],
      False),
    bad("absolute-form-missing-host-400", b"GET http://anything/ HTTP/1.1\r\n\r\n"),
    *[bad(f"absolute-form-invalid-authority-{name}-400", req(target=f"http://{authority}/"),
          note="RFC 9112 3.2.2: the target's authority replaces Host, so it is held to Host's syntax")
      for name, authority in (("port", "a:abc"), ("pct", "a%zz"), ("ip-literal", "[zz]"), ("userinfo", "u@a"))],
    C("absolute-form-ipv6-authority", req(target="http://[::1]:9000/a"), [ROUTE_A], False),
    bad("absolute-form-empty-authority-400", req(target="http:///a")),
    bad("absolute-form-unknown-scheme-400", req(target="ftp://h/")),
    bad("target-without-slash-400", req(target="a")),
    bad("target-scheme-without-authority-400", req(target="http:/x")),
    bad("get-asterisk-400", req(target="*")),
    C("head-asterisk-400", req("HEAD", "*"), [Exp(400, head=True)], True),
    C("options-asterisk-200", req("OPTIONS", "*"), [OPTIONS_OK], False),
    C("options-asterisk-http10-closes", req("OPTIONS", "*", "HTTP/1.0", headers=()), [OPTIONS_OK], True),
    C("options-existing-route-200", req("OPTIONS", "/"), [OPTIONS_OK], False),
    C("options-route-with-query-200", req("OPTIONS", "/a?x"), [OPTIONS_OK], False),
    C("options-absolute-form-200", req("OPTIONS", "http://h/a"), [OPTIONS_OK], False),
    C("options-unknown-path-404", req("OPTIONS", "/nope"), [NOT_FOUND], False),

    # ---------------------------------------------------------------- other methods, bodies
    *[C(f"{m.lower()}-405-with-allow", req(m, headers=hdrs(("Content-Length", "0"))), [NOT_ALLOWED], False)
      for m in ("POST", "PUT", "DELETE", "PATCH")],
    C("post-content-length-body-then-get", POST_CL5, [NOT_ALLOWED], False),
    C("put-body-in-pieces", [req("PUT", headers=hdrs(("Content-Length", "11"))), b"hello", b" worl", b"d"],
      [NOT_ALLOWED], False),
    C("post-body-that-looks-like-a-request", req("POST", headers=hdrs(("Content-Length", str(len(req(target="/nope"))))),
                                                  body=req(target="/nope")),
      [NOT_ALLOWED], False, note="the body must not be parsed as a request (no 404)"),
    C("get-with-content-length-body", req(headers=hdrs(("Content-Length", "5")), body=b"hello"), [HELLO], False),
    C("post-chunked-then-get", CHUNKED_HEAD + chunked(b"hello", b" world"), [NOT_ALLOWED], False),
    C("post-chunked-extensions-and-trailers",
      CHUNKED_HEAD + b'5;a=b\r\nhello\r\n6;c="d e";f\r\n world\r\n0;g=h\r\nX-T: 1\r\nX-U: 2\r\n\r\n',
      [NOT_ALLOWED], False),
    C("post-chunked-extensions-with-bws", CHUNKED_HEAD + b'5 ;a=b\r\nhello\r\n6\t; c = "d\\"e" ;f\r\n world\r\n0\r\n\r\n',
      [NOT_ALLOWED], False, note="RFC 9112 7.1.1: BWS around ';' and '=', several extensions, quoted-pair"),
    C("post-chunked-in-pieces", [CHUNKED_HEAD, b"5\r\nhel", b"lo\r\n0\r", b"\n\r", b"\n"], [NOT_ALLOWED], False),
    C("post-chunked-uppercase-hex-size", CHUNKED_HEAD + b"A\r\n0123456789\r\n0\r\n\r\n", [NOT_ALLOWED], False),
    C("post-content-length-at-limit", req("POST", headers=hdrs(("Content-Length", str(MAX_BODY))),
                                          body=b"b" * MAX_BODY), [NOT_ALLOWED], False),
    C("post-chunked-at-limit", CHUNKED_HEAD + chunked(*[b"c" * 1024] * 10), [NOT_ALLOWED], False),
    C("connect-authority-form", b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", [Exp(one_of(400, 405, 501))],
      None, note="no tunnel from an origin server"),
    bad("unknown-method-501", req("FOO"), 501, note="RFC 9110 9.1: an unrecognised method SHOULD get 501"),
    bad("lowercase-method-501", req("get"), 501, note="methods are case-sensitive: 'get' is not GET"),
    bad("unknown-method-in-pieces-501", [b"FO", b"O / HT", b"TP/1.1\r", b"\nHost: x\r\n\r\n"], 501),
    bad("unknown-method-without-version-400", b"FOO /\r\n\r\n"),

    # ---------------------------------------------------------------- connection management
    C("http11-connection-close", req(headers=hdrs(("Connection", "close"))),
      [Exp(200, b"hello word", (("Connection", "close"),))], True),
    C("http11-connection-close-mixed-case", req(headers=hdrs(("Connection", "Close"))), [HELLO], True),
    C("http11-connection-list-with-close", req(headers=hdrs(("Connection", "keep-alive, close"))), [HELLO], True),
    C("http10-closes-by-default", b"GET / HTTP/1.0\r\n\r\n", [HELLO], True),
    C("http10-with-host-closes", b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", [ROUTE_A], True),
    C("http10-keep-alive-kept", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", [HELLO_10_KA], False,
      trailer=False),
    C("http10-keep-alive-then-plain-http10",
      b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a HTTP/1.0\r\n\r\n", [HELLO_10_KA, ROUTE_A], True),
    C("connection-close-in-mid-pipeline", req() + req(target="/a", headers=hdrs(("Connection", "close"))) + req(),
      [HELLO, ROUTE_A], True),
    C("http10-upgrade-ignored-keep-alive-kept",
      b"GET / HTTP/1.0\r\nConnection: Upgrade, keep-alive\r\nUpgrade: websocket\r\n\r\nGET /a HTTP/1.0\r\n\r\n",
      [HELLO_10_KA, ROUTE_A], True, note="RFC 9110 7.8: a server MUST ignore Upgrade in HTTP/1.0"),
    C("upgrade-request-answered-normally",
      req(headers=hdrs(("Connection", "Upgrade"), ("Upgrade", "websocket"))), [HELLO], None,
      note="RFC 9110 7.8: a server may ignore Upgrade"),

    # ---------------------------------------------------------------- 100-continue, Expect
    C("expect-100-continue-before-body", [req("POST", headers=hdrs(("Content-Length", "5"), ("Expect", "100-continue"))),
                                          CONTINUE, b"hello"], [NOT_ALLOWED], False),
    C("expect-100-continue-body-already-sent",
      req("POST", headers=hdrs(("Content-Length", "5"), ("Expect", "100-continue")), body=b"hello"), [NOT_ALLOWED],
      False, note="RFC 9110 10.1.1: the 100 may be omitted once the content is here; the answer comes alone"),
    C("expect-100-continue-part-of-body-sent",
      [req("POST", headers=hdrs(("Content-Length", "5"), ("Expect", "100-continue")), body=b"he"), CONTINUE, b"llo"],
      [NOT_ALLOWED], False),
    C("expect-100-continue-on-get-with-body",
      [req(headers=hdrs(("Content-Length", "5"), ("Expect", "100-continue"))), CONTINUE, b"hello"], [HELLO], False),
    C("expect-100-continue-chunked", [CHUNKED_HEAD[:-2] + b"Expect: 100-continue\r\n\r\n", CONTINUE,
                                      chunked(b"hello")], [NOT_ALLOWED], False),
    C("expect-100-continue-case-insensitive",
      [req("PUT", headers=hdrs(("Content-Length", "2"), ("Expect", "100-Continue"))), CONTINUE, b"ok"],
      [NOT_ALLOWED], False),
    C("expect-100-continue-ignored-in-http10",
      req("POST", version="HTTP/1.0", headers=(("Content-Length", "5"), ("Expect", "100-continue")), body=b"hello"),
      [NOT_ALLOWED], True, note="RFC 9110 10.1.1: no 100 for HTTP/1.0; the first response is the 405"),
    C("expect-100-continue-without-body", req(headers=hdrs(("Expect", "100-continue"))), [HELLO], False),
    C("expect-100-continue-content-length-0",
      req("POST", headers=hdrs(("Content-Length", "0"), ("Expect", "100-continue"))), [NOT_ALLOWED], False),
    bad("expect-unknown-417", req(headers=hdrs(("Expect", "something-else"))), 417),
    bad("expect-100-continue-plus-other-417", req(headers=hdrs(("Expect", "100-continue, foo"))), 417),
    C("expect-empty-elements-ignored", [req("PUT", headers=hdrs(("Content-Length", "2"), ("Expect", ", 100-continue,"))),
                                        CONTINUE, b"ok"], [NOT_ALLOWED], False,
      note="RFC 9110 5.6.1: a recipient MUST ignore empty list elements"),
    C("expect-empty-asks-for-nothing", req(headers=hdrs(("Expect", ""))), [HELLO], False),
    # RFC 9110 9.3.2: no content in an answer to HEAD, an error's included.
    C("head-expect-unknown-417-without-body", req("HEAD", headers=hdrs(("Expect", "foo"))), [Exp(417, head=True)],
      True),
    C("head-invalid-host-400-without-body", req("HEAD", headers=(("Host", "a b"),)), [Exp(400, head=True)], True),
    C("head-target-too-long-414-without-body", req("HEAD", "/" + "a" * 300), [Exp(414, head=True)], True),
    C("head-authority-form-400-without-body", req("HEAD", "a:80"), [Exp(400, head=True)], True,
      note="the target is refused at its first byte; the method was already known to be HEAD"),
    C("head-authority-form-400-without-body-split", [b"HEAD ", req("HEAD", "a:80")[5:]], [Exp(400, head=True)],
      True),
    C("head-control-byte-in-target-400-without-body", [b"HEAD /a", req("HEAD", "/a\x7fb")[7:]],
      [Exp(400, head=True)], True),
    C("head-unknown-method-path-404", req("POST", "/nope", headers=hdrs(("Content-Length", "0"))), [NOT_FOUND], False,
      note="RFC 9110 15.5.6: 405 is for a resource that exists"),
    bad("expect-100-continue-over-body-limit-413",
        req("POST", headers=hdrs(("Content-Length", str(MAX_BODY + 1)), ("Expect", "100-continue"))), 413,
        trailer=False, note="the final status instead of 100; the body is never sent"),

    # ---------------------------------------------------------------- message framing (RFC 9112 6)
    bad("te-chunked-with-content-length", head_with(b"Host: x", b"Transfer-Encoding: chunked", b"Content-Length: 5",
                                                    method="POST") + b"0\r\n\r\n"),
    bad("content-length-with-te-chunked", head_with(b"Host: x", b"Content-Length: 5", b"Transfer-Encoding: chunked",
                                                    method="POST") + b"0\r\n\r\n"),
    bad("duplicate-content-length-same", head_with(b"Host: x", b"Content-Length: 5", b"Content-Length: 5",
                                                   method="POST") + b"hello",
        note="RFC 9110 8.6 would also allow accepting identical values; preforkd rejects"),
    bad("duplicate-content-length-differing", head_with(b"Host: x", b"Content-Length: 5", b"Content-Length: 6",
                                                        method="POST") + b"hello!"),
    bad("content-length-list", head_with(b"Host: x", b"Content-Length: 1, 1", method="POST") + b"a"),
    bad("content-length-negative", head_with(b"Host: x", b"Content-Length: -1", method="POST")),
    bad("content-length-plus-sign", head_with(b"Host: x", b"Content-Length: +1", method="POST") + b"a"),
    bad("content-length-letters", head_with(b"Host: x", b"Content-Length: abc", method="POST")),
    bad("content-length-inner-space", head_with(b"Host: x", b"Content-Length: 1 2", method="POST")),
    bad("content-length-empty", head_with(b"Host: x", b"Content-Length:", method="POST")),
    C("content-length-overflow", head_with(b"Host: x", b"Content-Length: 99999999999999999999999", method="POST"),
      [Exp(one_of(400, 413))], True, note="invalid (400) or too large (413)"),
    bad("te-gzip-400", head_with(b"Host: x", b"Transfer-Encoding: gzip", method="POST") + b"abc",
        note="RFC 9112 6.1: chunked not final -> MUST 400 and close"),
    bad("te-chunked-then-gzip-400", head_with(b"Host: x", b"Transfer-Encoding: chunked, gzip", method="POST")),
    bad("te-identity-400", head_with(b"Host: x", b"Transfer-Encoding: identity", method="POST")),
    bad("te-chunked-twice-400", head_with(b"Host: x", b"Transfer-Encoding: chunked, chunked", method="POST")
        + b"0\r\n\r\n", note="RFC 9112 6.1: chunked MUST NOT be applied more than once"),
    bad("te-gzip-then-chunked-501", head_with(b"Host: x", b"Transfer-Encoding: gzip, chunked", method="POST")
        + b"0\r\n\r\n", 501, note="framing is valid (chunked last); an unknown coding SHOULD get 501"),
    bad("te-unknown-coding-in-first-field-501", head_with(b"Host: x", b"Transfer-Encoding: foo",
                                                         b"Transfer-Encoding: chunked", method="POST")
        + b"0\r\n\r\n", 501),
    C("te-chunked-trailing-comma", head_with(b"Host: x", b"Transfer-Encoding: chunked,", method="POST")
      + chunked(b"hello"), [NOT_ALLOWED], False, note="RFC 9110 5.6.1: empty list elements are ignored"),
    C("te-chunked-empty-elements", head_with(b"Host: x", b"Transfer-Encoding: , chunked , ,", method="POST")
      + chunked(b"hello"), [NOT_ALLOWED], False),
    bad("te-chunked-twice-across-empty-400", head_with(b"Host: x", b"Transfer-Encoding: chunked,,chunked",
                                                      method="POST") + b"0\r\n\r\n"),
    bad("te-empty-400", head_with(b"Host: x", b"Transfer-Encoding:"),
        note="RFC 9112 6.3: a Transfer-Encoding without chunked last: the length is unknowable"),
    bad("te-whitespace-only-400", head_with(b"Host: x", b"Transfer-Encoding: \t ")),
    bad("te-empty-with-content-length-400",
        head_with(b"Host: x", b"Transfer-Encoding:", b"Content-Length: 5", method="POST") + b"hello",
        note="TE and CL together: 400 and close, never framed by CL"),
    bad("te-empty-then-chunked-body-400", head_with(b"Host: x", b"Transfer-Encoding:", method="POST")
        + b"5\r\nhello\r\n0\r\n\r\n", note="one message, one framing: never answered twice"),
    bad("te-in-http10-400", head_with(b"Transfer-Encoding: chunked", method="POST", version="HTTP/1.0")
        + b"0\r\n\r\n"),
    bad("chunk-size-not-hex", CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n"),
    bad("chunk-size-negative", CHUNKED_HEAD + b"-5\r\nhello\r\n0\r\n\r\n"),
    bad("chunk-size-empty", CHUNKED_HEAD + b"\r\nhello\r\n0\r\n\r\n"),
    bad("chunk-size-trailing-space", CHUNKED_HEAD + b"5 \r\nhello\r\n0\r\n\r\n",
        note="RFC 9112 7.1: BWS only before ';'"),
    bad("chunk-size-over-body-limit-413-at-once", CHUNKED_HEAD + b"FFFFFFFFFFFFFFF\r\nhello", 413, trailer=False,
        note="refused on the chunk-size line, without waiting for its data"),
    bad("target-with-fragment-400", req(target="/#frag"), note="RFC 9112 3.2: a fragment is never sent"),
    C("chunk-size-overflow", CHUNKED_HEAD + b"fffffffffffffffffffff\r\nx\r\n", [Exp(400)], True,
      note="no 64 bits hold it: malformed (RFC 9112 7.1), not merely too large"),
    bad("chunk-data-longer-than-size", CHUNKED_HEAD + b"3\r\nhello\r\n0\r\n\r\n"),
    bad("chunk-bare-lf", CHUNKED_HEAD + b"5\nhello\r\n0\r\n\r\n"),
    bad("chunk-ext-trailing-bws", CHUNKED_HEAD + b"5;a=b \r\nhello\r\n0\r\n\r\n", note="RFC 9112 7.1.1: BWS only before ';'"),
    bad("chunk-ext-without-name", CHUNKED_HEAD + b"5;=b\r\nhello\r\n0\r\n\r\n"),
    bad("chunk-last-then-request-without-empty-line", CHUNKED_HEAD + b"0\r\n" + req(),
        note="the request where the empty line belongs is read as a trailer field, and refused"),
    bad("chunk-trailer-obs-fold", CHUNKED_HEAD + b"0\r\nX-T: a\r\n b\r\n\r\n"),
    bad("chunk-trailer-space-before-colon", CHUNKED_HEAD + b"0\r\nX-T : a\r\n\r\n"),

    # ---------------------------------------------------------------- field syntax (RFC 9112 5, RFC 9110 5)
    bad("bare-cr-after-colon-moves-head-end", head_with(b"Host: x", b"Content-Length: 5", b"X:\rY", method="POST")
        + b"hel" + req(target="/smuggled"), note="loose llhttp took the byte after a bare CR for its LF"),
    bad("bare-cr-ends-head", b"GET / HTTP/1.1\r\nHost: x\r\n\rX"),
    bad("space-before-colon", head_with(b"Host : x")),
    bad("space-before-colon-other-field", head_with(b"Host: x", b"X-A : b")),
    bad("htab-before-colon", head_with(b"Host: x", b"X-A\t: b")),
    bad("space-before-colon-split-reads", [b"GET / HTTP/1.1\r\nHost: x\r\nX-A", b" : b\r\n\r\n"]),
    bad("space-before-colon-host-split-reads", [b"GET / HTTP/1.1\r\nHost", b" : x\r\n\r\n"]),
    bad("obs-fold-space", head_with(b"Host: x", b"X-A: b", b" c")),
    bad("obs-fold-htab", head_with(b"Host: x", b"X-A: b", b"\tc")),
    bad("obs-fold-split-after-crlf", [b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n", b" c\r\n\r\n"]),
    bad("whitespace-before-first-field", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n"),
    bad("nul-in-value", head_with(b"Host: x", b"X-A: a\x00b")),
    bad("bare-cr-in-value", head_with(b"Host: x", b"X-A: a\rb")),
    bad("bare-lf-ends-field-line", b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    bad("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: x\n\n"),
    bad("ctl-0x01-in-value", head_with(b"Host: x", b"X-A: a\x01b")),
    bad("ctl-0x7f-in-value", head_with(b"Host: x", b"X-A: a\x7fb")),
    bad("ctl-esc-in-value", head_with(b"Host: x", b"X-A: \x1b[31m")),
    bad("space-in-field-name", head_with(b"Host: x", b"X A: b")),
    bad("paren-in-field-name", head_with(b"Host: x", b"X(A): b")),
    bad("at-sign-in-field-name", head_with(b"Host: x", b"X@A: b")),
    bad("slash-in-field-name", head_with(b"Host: x", b"X/A: b")),
    bad("empty-field-name", head_with(b"Host: x", b": b")),
    bad("field-without-colon", head_with(b"Host: x", b"no-colon-here")),
    bad("missing-host-http11", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"),
    bad("two-host-fields", head_with(b"Host: a", b"Host: b")),
    bad("two-host-fields-same-value-mixed-case", head_with(b"Host: a", b"HOST: a")),
    bad("two-host-fields-http10", head_with(b"Host: a", b"Host: b", version="HTTP/1.0")),

    # ---------------------------------------------------------------- request line (RFC 9112 3)
    bad("two-spaces-after-method", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("two-spaces-before-version", b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("trailing-space-after-version", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n"),
    bad("htab-as-separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("leading-space-before-method", b" GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("space-inside-target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("nul-in-target", b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("bare-cr-ends-request-line", b"GET / HTTP/1.1\rHost: x\r\n\r\n"),
    # RFC 9112 2.2: a recipient MAY accept a bare LF as a line terminator. preforkd refuses
    # every one (llhttp would take these two), so no proxy in front reads other requests.
    bad("bare-lf-ends-request-line", b"GET / HTTP/1.1\nHost: x\r\n\r\n"),
    bad("bare-lf-http10-request", b"GET / HTTP/1.0\n\n"),
    bad("bare-lf-ends-head", b"GET / HTTP/1.1\r\nHost: x\r\n\n"),
    bad("bare-lf-ends-head-before-a-body", head_with(b"Host: x", b"Content-Length: 5", method="POST")[:-2]
        + b"\nhello"),
    bad("method-longer-than-any-501", req("A" * 300), 501,
        note="RFC 9112 3: a method longer than any implemented SHOULD get 501"),
    bad("quote-in-target-400", req(target='/x"y'), note="RFC 9112 3: an invalid request-line SHOULD get 400"),
    bad("angle-brackets-in-query-400", req(target="/a?q=<b>")),
    bad("braces-in-path-400", req(target="/{id}")),
    C("what-browsers-send-unencoded-in-a-path", req(target="/a|b[1]^"), [NOT_FOUND], False,
      note="WHATWG URL leaves these unencoded in a path: refusing them would refuse browsers"),
    C("what-browsers-send-unencoded-in-a-query", req(target="/a?x[]={1}|`\\^"), [ROUTE_A], False),
    bad("lowercase-protocol-name", b"GET / http/1.1\r\nHost: x\r\n\r\n"),
    bad("bad-method-char", b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n"),
    bad("garbage-tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32),
    bad("garbage-text-line", b"HELLO THERE\r\n\r\n"),
    bad("method-only", b"GET\r\n\r\n"),
    C("version-without-minor", b"GET / HTTP/1\r\nHost: x\r\n\r\n", [Exp(one_of(400, 505))], True),

    # ---------------------------------------------------------------- versions: 505
    bad("http09-version-505", b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505),
    C("http12-served-as-http11", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", [HELLO_KA], False,
      note="RFC 9110 6.2: a higher minor version is processed as the highest one implemented"),
    bad("http12-without-host-400", b"GET / HTTP/1.2\r\n\r\n", note="read as HTTP/1.1, so Host is required"),
    bad("http20-version-505", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    bad("http30-version-505", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    bad("http09-simple-request-400", b"GET /\r\n\r\n",
        note="RFC 9112 3: no HTTP-version, so not an HTTP/1.x request line; nothing to answer 505 about"),
    C("h2-prior-knowledge-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [Exp(one_of(400, 505))], True),

    # ---------------------------------------------------------------- request line without a version
    # RFC 9112 3: request-line = method SP request-target SP HTTP-version; without the version it is
    # HTTP/0.9, whose client sends no header section: answered 400 at the end of the line, not after
    # a head that never comes (header_timeout is 10 s on this server).
    bad("request-line-without-version-400-at-once", b"GET /path\r\n", trailer=False, within=(0.0, 1.0)),
    bad("request-line-without-version-lf-400-at-once", b"GET /a\n", trailer=False, within=(0.0, 1.0)),
    bad("request-line-without-version-split-400", [b"GET /path", b"\r", b"\n"], trailer=False, within=(0.0, 1.0)),
    bad("request-line-without-version-then-fields-400", b"GET /a\r\nHost: x\r\n\r\n"),
    C("request-line-without-version-after-a-good-request", req() + b"GET /a\r\n", [HELLO, Exp(400)], True,
      trailer=False),

    # ---------------------------------------------------------------- OWS is SP or HTAB (RFC 9110 5.6.3)
    # RFC 9112 5.1: a field value excludes leading and trailing OWS, HTAB as much as SP.
    C("content-length-htab-ows", head_with(b"Host: x", b"Content-Length:\t5\t", method="POST") + b"hello",
      [NOT_ALLOWED], False),
    C("content-length-38-htab-ows", head_with(b"Host: x", b"Content-Length:\t38\t", method="PUT") + b"b" * 38,
      [NOT_ALLOWED], False),
    C("host-htab-ows", head_with(b"Host:\tx\t"), [HELLO], False),
    C("host-and-content-length-htab-ows",
      head_with(b"Host:\ta\t", b"Content-Length:\t38\t") + b"b" * 38, [HELLO], False,
      note="a GET with a body: the body is framed by the Content-Length, then the pipelined GET"),
    C("content-length-htab-ows-mixed-with-sp", head_with(b"Host: x", b"Content-Length: \t5 \t \t", method="POST")
      + b"hello", [NOT_ALLOWED], False),
    C("content-length-htab-ows-in-pieces",
      [b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5", b"\t", b"\t", b"\r\n\r\nhel", b"lo"],
      [NOT_ALLOWED], False),
    C("content-length-htab-ows-then-body-in-pieces",
      [head_with(b"Host: x", b"Content-Length: 11\t", method="POST"), b"hello", b" worl", b"d"], [NOT_ALLOWED], False),
    bad("content-length-htab-over-limit-413", head_with(b"Host: x", b"Content-Length:\t%d\t" % (MAX_BODY + 1),
                                                        method="POST"), 413, trailer=False),
    C("connection-close-htab-closes", head_with(b"Host: x", b"Connection: close\t"),
      [Exp(200, b"hello word", (("Connection", "close"),))], True),
    C("expect-100-continue-htab-ows",
      [head_with(b"Host: x", b"Content-Length: 5", b"Expect:\t100-continue\t", method="POST"), CONTINUE, b"hello"],
      [NOT_ALLOWED], False),
    # What HTAB must not open: framing stays as strict as with SP.
    bad("content-length-htab-between-digits-400", head_with(b"Host: x", b"Content-Length: 1\t2", method="POST")
        + b"x" * 12),
    bad("content-length-htab-then-letter-400", head_with(b"Host: x", b"Content-Length: 5\tx", method="POST")
        + b"hello"),
    bad("content-length-htab-then-bare-cr-400",
        head_with(b"Host: x", b"Content-Length: 5\t\rX: y", method="POST") + b"hello"),
    bad("content-length-htab-then-nul-400", head_with(b"Host: x", b"Content-Length: 5\t\x00", method="POST")
        + b"hello"),
    bad("content-length-htab-obs-fold-400", head_with(b"Host: x", b"Content-Length: 5\t", b"\t6", method="POST")
        + b"hello!"),
    bad("content-length-htab-twice-400", head_with(b"Host: x", b"Content-Length:\t5\t", b"Content-Length:\t5\t",
                                                   method="POST") + b"hello"),
    bad("content-length-htab-with-te-chunked-400",
        head_with(b"Host: x", b"Content-Length:\t5\t", b"Transfer-Encoding: chunked", method="POST") + b"0\r\n\r\n"),
    bad("htab-ows-then-control-byte-400", head_with(b"Host: x", b"X-A:\ta\x01\t")),

    # ---------------------------------------------------------------- limits: 414, 431, 413
    bad("request-line-over-limit-414", req(target="/" + "a" * 253), 414,
        note="method (3) + target (254) = 257 > 256"),
    bad("request-line-over-limit-before-crlf-414", b"GET /" + b"a" * 600, 414, trailer=False,
        note="refused as bytes arrive, no end of line needed"),
    bad("header-bytes-over-limit-431", req(headers=hdrs(("X-A", "y" * 2100))), 431),
    bad("header-bytes-over-limit-before-end-431", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"y" * 3000, 431,
        trailer=False, note="refused as bytes arrive"),
    bad("21-header-fields-431", req(headers=TWENTY_ONE_HEADERS), 431),
    bad("content-length-over-limit-413-at-once",
        req("POST", headers=hdrs(("Content-Length", str(MAX_BODY + 1)))), 413, trailer=False,
        note="refused on the head alone; the body is never sent"),
    bad("chunked-over-limit-413-as-bytes-arrive",
        [CHUNKED_HEAD + b"1000\r\n" + b"c" * 4096 + b"\r\n", b"1000\r\n" + b"c" * 4096 + b"\r\n",
         b"1000\r\n" + b"c" * 4096 + b"\r\n"], 413, trailer=False,
        note="12288 > 10240 bytes of chunk data, the last chunk never sent"),

    # ---------------------------------------------------------------- max_requests_per_connection = 3
    C("max-requests-pipelined-third-closes", req() * 3, [HELLO_KA, HELLO_KA, HELLO], True, server="maxreq"),
    C("max-requests-sequential-third-closes", [req(), READ, req(target="/a"), READ, req()],
      [HELLO_KA, ROUTE_A, Exp(200, b"hello word", (("Connection", "close"),))], True, server="maxreq"),
    C("max-requests-http10-keep-alive-third-closes",
      b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 3, [HELLO_10_KA, HELLO_10_KA, HELLO], True,
      server="maxreq", trailer=False),

    # ---------------------------------------------------------------- default max_headers (100)
    C("100-header-fields-default-limit", req(headers=HUNDRED_HEADERS), [HELLO], False, server="timeouts"),
    bad("101-header-fields-431", req(headers=HUNDRED_ONE_HEADERS), 431, server="timeouts"),

    # ---------------------------------------------------------------- timeouts (header 1 s, body 1.5 s,
    # keep-alive 2 s; timer resolution 100 ms)
    C("silent-connection-closed-quietly-at-header-timeout", [], [], True, server="timeouts", trailer=False,
      within=(HEADER_T - 0.2, HEADER_T + 0.8)),
    C("empty-lines-before-the-first-request-do-not-extend-the-header-deadline",
      [b"\r\n", Sleep(0.3), b"\r\n", Sleep(0.3), b"\r\n", Sleep(0.3), b"\r\n"], [], True, server="timeouts",
      trailer=False, within=(HEADER_T - 0.2, HEADER_T + 0.8),
      note="RFC 9112 2.2: a server may skip empty lines before a request; they are no request's start, so "
           "the deadline still runs from accept (a restart at the last one would close after 1.9 s)"),
    C("partial-head-408-at-header-timeout", b"GET / HTTP/1.1\r\nHost: x\r\n", [Exp(408)], True,
      server="timeouts", trailer=False, within=(HEADER_T - 0.2, HEADER_T + 0.8)),
    C("partial-head-of-a-head-request-408-without-body", b"HEAD / HTTP/1.1\r\nHost: x\r\n", [Exp(408, head=True)],
      True, server="timeouts", trailer=False, within=(HEADER_T - 0.2, HEADER_T + 0.8)),
    C("trickled-head-408-deadline-not-extended", [Trickle(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400)],
      [Exp(408)], True, server="timeouts", trailer=False, within=(HEADER_T - 0.2, HEADER_T + 0.8)),
    C("idle-keep-alive-closed-quietly-at-keepalive-timeout", [req(), READ, MARK], [HELLO_KA], True,
      server="timeouts", trailer=False, within=(KEEPALIVE_T - 0.2, KEEPALIVE_T + 0.8)),
    C("second-head-trickled-408-from-its-first-byte",
      [req(), READ, Sleep(0.5), MARK, Trickle(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400)],
      [HELLO_KA, Exp(408)], True, server="timeouts", trailer=False, within=(HEADER_T - 0.2, HEADER_T + 0.8)),
    C("stalled-content-length-body-408-at-body-timeout",
      [req("POST", headers=hdrs(("Content-Length", "100"))) + b"0123456789", MARK], [Exp(408)], True,
      server="timeouts", trailer=False, within=(BODY_T - 0.2, BODY_T + 0.8)),
    C("stalled-chunked-body-408-at-body-timeout", [CHUNKED_HEAD + b"5\r\nhello\r\n", MARK], [Exp(408)], True,
      server="timeouts", trailer=False, within=(BODY_T - 0.2, BODY_T + 0.8)),
    C("slow-body-with-progress-is-served",
      [req("POST", headers=hdrs(("Content-Length", "4"))), b"a", Sleep(0.6), b"b", Sleep(0.6), b"c", Sleep(0.6),
       b"d"], [NOT_ALLOWED], False, server="timeouts",
      note="each byte comes before body_timeout; the whole body takes longer than it"),
]

CASE_IDS = [c.id for c in CASES]
assert len(CASE_IDS) == len(set(CASE_IDS)), "duplicate case ids"


# --------------------------------------------------------------------------- the runner

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$")
CONTINUE_BYTES = b"HTTP/1.1 100 Continue\r\n\r\n"


class RawConn(Client):
    """A Client with TCP_NODELAY (pieces go out as separate segments) and 1xx awareness."""

    def __init__(self, port, timeout=5.0):
        super().__init__(port, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass   # the server may already have answered and stopped reading; the reads decide

    def read_continue(self, timeout=2.0):
        self.sock.settimeout(timeout)
        while len(self.buf) < len(CONTINUE_BYTES) and b"\r\n\r\n" not in self.buf:
            self._fill()
        assert self.buf.startswith(CONTINUE_BYTES), \
            f"expected {CONTINUE_BYTES!r} before sending the body, got {self.buf[:120]!r}"
        self.buf = self.buf[len(CONTINUE_BYTES):]

    def read(self, exp):
        for _ in range(1000):
            if b"\r\n\r\n" in self.buf:
                break
            self._fill()
        assert not self.buf.startswith(b"HTTP/1.1 1"), \
            f"unexpected interim response {self.buf[:60]!r} (expected {exp.statuses()})"
        return self.read_response(head_only=exp.head)

    def trickle(self, data, interval):
        for i in range(len(data)):
            try:
                self.sock.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return
            readable, _, _ = select.select([self.sock], [], [], interval)
            if readable:
                return


def check_response(r, exp, where):
    assert r.version == "HTTP/1.1", f"{where}: status line {r.raw_head.splitlines()[0]!r}"
    assert r.status in exp.statuses(), f"{where}: expected {sorted(exp.statuses())}, got {r.status}: {r!r}"
    assert r.reason, f"{where}: empty reason phrase"
    for name, value in r.headers:
        assert "\r" not in value and "\n" not in value, f"{where}: bare CR/LF in {name}: {value!r}"
    assert r.header("Server") == "preforkd", f"{where}: {r.raw_head!r}"
    date = r.header("Date")
    assert date is not None and IMF_FIXDATE.match(date), f"{where}: bad Date {date!r}"
    length = r.header("Content-Length")
    assert length is not None and length.isdigit(), f"{where}: Content-Length {length!r}"
    if not exp.head:
        assert int(length) == len(r.body), f"{where}: Content-Length {length} for {len(r.body)} bytes"
    if r.status >= 400:
        assert int(length) > 0 and r.header("Content-Type") == "text/plain", f"{where}: error without a body: {r!r}"
    if exp.body is not None:
        assert r.body == exp.body, f"{where}: body {r.body[:80]!r}"
    for name, value in exp.headers:
        assert r.header(name) == value, f"{where}: {name} is {r.header(name)!r}, expected {value!r}: {r.raw_head!r}"


def run_case(case, port):
    steps = list(case.steps)
    if case.trailer:
        last = max(i for i, s in enumerate(steps) if isinstance(s, bytes))
        steps[last] = steps[last] + GET_ROOT
    expected = list(case.expect)
    got = []
    t0 = time.monotonic()
    event = None   # when the first answer or close after MARK was seen
    conn = RawConn(port)
    try:
        for i, step in enumerate(steps):
            if isinstance(step, bytes):
                conn.send(step)
                if case.gap and i + 1 < len(steps) and isinstance(steps[i + 1], bytes):
                    time.sleep(case.gap)
            elif step is CONTINUE:
                conn.read_continue()
            elif step is READ:
                exp = expected[len(got)]
                got.append(conn.read(exp))
                check_response(got[-1], exp, f"response {len(got)}")
            elif step is MARK:
                t0 = time.monotonic()
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
            elif isinstance(step, Trickle):
                conn.trickle(step.data, step.interval)
            else:
                raise AssertionError(f"unknown step {step!r}")
        read_in_steps = len(got)
        conn.sock.settimeout(max(5.0, case.within[1] + 2) if case.within else 5.0)
        while len(got) < len(expected):
            exp = expected[len(got)]
            try:
                got.append(conn.read(exp))
            except ConnectionClosed as e:
                raise AssertionError(f"connection closed before response {len(got) + 1} "
                                     f"(expected {sorted(exp.statuses())}): {e}") from None
            event = event or time.monotonic()
            check_response(got[-1], exp, f"response {len(got)}")

        last = got[-1] if got else None
        announced_close = last is not None and last.header("Connection") == "close"
        must_close = case.close if case.close is not None else announced_close
        if must_close:
            if len(got) > read_in_steps:
                # The server closes because of this answer: it must say so first.
                assert announced_close, f"server closes without Connection: close in {last.raw_head!r}"
            timeout = case.within[1] + 1.0 if case.within else 3.0
            assert conn.buf == b"", f"bytes after the last response: {conn.buf[:100]!r}"
            assert conn.closed_by_peer(timeout), f"connection still open after {timeout} s"
            event = event or time.monotonic()
        else:
            assert not announced_close, f"Connection: close on a connection that must stay open: {last!r}"
            if case.trailer:
                r = conn.read(HELLO)
                check_response(r, HELLO, "pipelined GET after the case")
            conn.sock.settimeout(5.0)
            conn.send(GET_ROOT)
            r = conn.read(HELLO)
            check_response(r, HELLO, "GET on the same connection after the case")
            assert conn.buf == b"", f"unexpected bytes after the responses: {conn.buf[:100]!r}"
        if case.within:
            lo, hi = case.within
            took = event - t0
            print(f"{case.id}: answered/closed after {took:.2f} s (expected {lo:.1f}-{hi:.1f} s)")
            assert lo <= took <= hi, f"answered/closed after {took:.2f} s, expected {lo:.1f}-{hi:.1f} s"
    finally:
        conn.close()


def _param(case):
    marks = [pytest.mark.xfail(reason="DISCREPANCY: " + case.discrepancy, strict=False)] if case.discrepancy else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_rfc9112_case(servers, case):
    srv = servers(case.server)
    run_case(case, srv.port)
    # Whatever happened, the worker keeps serving fresh connections.
    r = get(srv.port, "/")
    assert (r.status, r.body) == (200, b"hello word"), r


def test_case_table_is_big_enough():
    assert len(CASES) >= 70


# --------------------------------------------------------------------------- lingering close

def _drain_until_closed(sock, timeout):
    """Reads until EOF or reset; returns the bytes read. Fails if the deadline passes."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"connection not closed within {timeout} s; got {data[:200]!r}")


def _keep_sending(sock, total, stop, chunk=65536):
    """Sends up to total bytes of body, stopping at the first error (the server closed)."""
    sent = 0
    block = b"z" * chunk
    try:
        while sent < total and not stop.is_set():
            sent += sock.send(block[:min(chunk, total - sent)])
    except OSError:
        pass


@pytest.mark.parametrize("head,status", [
    (req("POST", headers=hdrs(("Content-Length", str(8 * 1024 * 1024)))), 413),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
], ids=["413-while-client-sends-8MB-body", "400-while-client-sends-8MB-more"])
def test_error_readable_while_client_keeps_sending(servers, head, status):
    srv = servers("main")
    conn = RawConn(srv.port, timeout=5.0)
    stop = threading.Event()
    try:
        conn.send(head)
        t0 = time.monotonic()
        sender = threading.Thread(target=_keep_sending, args=(conn.sock, 8 * 1024 * 1024, stop), daemon=True)
        sender.start()
        r = conn.read(Exp(status))
        took = time.monotonic() - t0
        check_response(r, Exp(status), "error response")
        assert r.status == status and r.header("Connection") == "close", r
        assert took < 1.0, f"the {status} took {took:.2f} s"
        # Our side may go on sending; the server shut down its side right after the answer.
        rest = _drain_until_closed(conn.sock, 5.0)
        assert rest == b"", f"bytes after the {status}: {rest[:100]!r}"
        stop.set()
        sender.join(5.0)
        assert not sender.is_alive()
    finally:
        stop.set()
        conn.close()
    r = get(srv.port, "/")
    assert r.body == b"hello word"


def test_lingering_close_is_bounded(servers):
    """A client that never stops sending after an error is cut off about 2 s later."""
    srv = servers("main")
    conn = RawConn(srv.port)
    try:
        conn.send(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        r = conn.read(Exp(400))
        assert r.status == 400 and r.header("Connection") == "close"
        t0 = time.monotonic()
        failed_after = None
        while time.monotonic() - t0 < 6.0:
            try:
                conn.sock.sendall(b"x" * 1024)
            except OSError:
                failed_after = time.monotonic() - t0
                break
            time.sleep(0.05)
        print(f"lingering connection reset after {failed_after}")
        assert failed_after is not None, "server kept draining input for more than 6 s"
        assert 1.0 <= failed_after <= 4.0, f"linger ended after {failed_after:.2f} s, expected ~2 s"
    finally:
        conn.close()


# --------------------------------------------------------------------------- send_timeout

def _tcp_state(local_port, remote_port):
    """(state, inode) of the 127.0.0.1 socket local_port -> remote_port in /proc/net/tcp, or None."""
    want_local, want_remote = f":{local_port:04X}", f":{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1].endswith(want_local) and parts[2].endswith(want_remote):
                return parts[3], int(parts[9])
    return None


def test_client_that_never_reads_is_dropped_at_send_timeout(servers):
    srv = servers("timeouts")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: a small window
    s.settimeout(5.0)
    try:
        s.connect(("127.0.0.1", srv.port))
        client_port = s.getsockname()[1]
        n = 8   # 32 MB of responses: far more than the socket buffers hold
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * n)
        t0 = time.monotonic()
        state = wait_until(lambda: _tcp_state(srv.port, client_port), 2.0, what="server-side socket")
        assert state[0] == "01", state   # ESTABLISHED, sending

        def server_closed():
            st = _tcp_state(srv.port, client_port)
            return st is None or st[0] != "01" or st[1] == 0   # FIN_WAIT1 or gone, no longer owned

        wait_until(server_closed, SEND_T + 3.0, interval=0.05, what="the server to drop a client that never reads")
        took = time.monotonic() - t0
        print(f"non-reading client dropped after {took:.2f} s (send_timeout {SEND_T} s)")
        assert took <= SEND_T + 2.0, took
        # Reading now gets what was buffered, then the end: never all the responses.
        data = _drain_until_closed(s, 10.0)
        assert len(data) < n * BIG_BODY_BYTES, "every response was delivered: the server did not drop us"
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:80]
    finally:
        s.close()
    r = get(srv.port, "/")
    assert r.body == b"hello word"


# --------------------------------------------------------------------------- max_connections

@pytest.mark.parametrize("balance", ["shared", "reuseport"])
def test_max_connections_per_worker(tmp_path, balance):
    # At the limit, further connections wait in the kernel's queue; each slot that
    # frees takes exactly one of them (a multishot accept would take them all and
    # close all but one).
    srv = Server(tmp_path, workers=1, balance=balance, routes=ROUTES,
                 extra='[limits]\nmax_connections = 3\nkeepalive_timeout = "30s"\nheader_timeout = "30s"\n').start()
    held, waiting = [], []
    try:
        for _ in range(3):
            c = RawConn(srv.port)
            c.send(GET_ROOT)
            assert c.read(HELLO).body == b"hello word"
            held.append(c)
        for _ in range(6):
            w = RawConn(srv.port)   # the TCP handshake completes in the listen queue
            w.send(GET_ROOT)
            waiting.append(w)
        for w in waiting:
            w.sock.settimeout(0.3)
            with pytest.raises(socket.timeout):
                w.sock.recv(1)
        held.pop(0).close()   # one slot frees: one waiting connection is accepted and served
        answered = []
        for w in waiting:
            w.sock.settimeout(0.5)
            try:
                data = w.sock.recv(65536)
            except socket.timeout:
                continue
            assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:80]   # not a reset or an EOF
            answered.append(w)
        assert len(answered) == 1, len(answered)
        for c in held + answered:
            c.close()
        for w in waiting:
            if w in answered:
                continue
            w.sock.settimeout(3.0)
            r = w.read(HELLO)
            check_response(r, HELLO, "a connection that waited")
            w.close()
    finally:
        for c in held + waiting:
            c.close()
        srv.stop()


def test_server_ending_a_connection_ignores_what_was_pipelined_after(servers):
    # max_requests_per_connection = 3: the third answer says Connection: close and is the
    # last; requests pipelined after it are not answered, and the client still sending
    # them gets our answers and a clean end, not a reset (lingering close).
    srv = servers("maxreq")
    c = RawConn(srv.port)
    try:
        c.send(GET_ROOT * 20)
        for i in range(3):
            r = c.read(HELLO)
            check_response(r, HELLO, f"response {i + 1}")
        assert r.header("Connection") == "close", r.raw_head
        for _ in range(10):   # keeps sending as a pipelining client would
            c.send(GET_ROOT * 20)
            time.sleep(0.02)
        rest = _drain_until_closed(c.sock, 5.0)
        assert c.buf + rest == b"", (c.buf + rest)[:200]
    finally:
        c.close()


def _worker_rss_kib(srv):
    pid = next(iter(srv.worker_slots().values()))
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_client_that_pipelines_but_never_reads_is_held_back_and_dropped(tmp_path):
    # Reading stops once a connection has 256 KiB of answers waiting: TCP then stops
    # the client, worker memory stays bounded, and the bytes the client still manages
    # to send do not count as progress for send_timeout, so it is dropped on time.
    # (No max_requests_per_connection: with one, input after the last request is
    # dropped unparsed, which bounds memory by itself.)
    srv = Server(tmp_path, workers=1, routes=ROUTES,
                 extra='[limits]\nsend_timeout = "1s"\nmax_requests_per_connection = 0\n').start()
    try:
        rss_before = _worker_rss_kib(srv)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.setblocking(False)
        chunk = GET_ROOT * 2000
        sent, ended, t0 = 0, None, time.monotonic()
        try:
            while time.monotonic() - t0 < SEND_T + 5.0:
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)   # held back: the server is not reading
                except (BrokenPipeError, ConnectionResetError):
                    ended = time.monotonic() - t0
                    break
            rss_after = _worker_rss_kib(srv)
        finally:
            s.close()
        print(f"client sent {sent / 1e6:.1f} MB; dropped after {ended} s; worker RSS {rss_before} -> {rss_after} KiB")
        assert ended is not None, f"still connected after {SEND_T + 5.0} s, {sent / 1e6:.1f} MB sent"
        assert ended <= SEND_T + 3.0, ended
        assert sent < 64 * 1024 * 1024, sent
        assert rss_after - rss_before < 32 * 1024, (rss_before, rss_after)
        assert get(srv.port, "/").body == b"hello word"
    finally:
        srv.stop()
