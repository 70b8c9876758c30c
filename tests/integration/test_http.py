"""HTTP/1.1 behaviour of preforkd, checked byte-exactly over raw sockets."""
import re
import signal
import socket
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from conftest import BIN, Client, free_port, get, request, wait_for_port, wait_until
from helpers import ROUTES_ROOT_AND_A

ROUTES = ROUTES_ROOT_AND_A

IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$")


@pytest.fixture
def srv(server_factory):
    return server_factory(routes=ROUTES)


def assert_hello(resp):
    assert resp.status == 200, resp
    assert resp.body == b"hello word"
    assert resp.header("Content-Length") == "10"


# --------------------------------------------------------------------------- basics

def test_get_root_exact_body_and_headers(srv):
    with Client(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        r = c.read_response()
    assert r.version == "HTTP/1.1"
    assert r.status == 200 and r.reason == "OK"
    assert r.body == b"hello word"
    assert r.header("Server") == "preforkd"
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Content-Length") == "10"
    date = r.header("Date")
    assert date is not None and IMF_FIXDATE.match(date), date
    parsed = datetime.strptime(date, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - parsed).total_seconds()) < 10
    # HTTP/1.1 keep-alive is the default: no Connection header needed.
    assert r.header("Connection") is None


def test_keep_alive_five_requests_on_one_socket(srv):
    with Client(srv.port) as c:
        for i in range(5):
            path = "/" if i % 2 == 0 else "/a"
            c.send(request(path=path))
            r = c.read_response()
            assert r.status == 200, (i, r)
            assert r.body == (b"hello word" if path == "/" else b"route a body")
            assert r.header("Connection") is None
        assert c.buf == b""


def test_three_pipelined_requests_in_one_send_answered_in_order(srv):
    with Client(srv.port) as c:
        c.send(request(path="/") + request(path="/missing") + request(path="/a"))
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, b"hello word")
    assert r2.status == 404
    assert (r3.status, r3.body) == (200, b"route a body")
    assert r3.header("Content-Type") == "text/html"


def test_request_split_over_several_sends(srv):
    raw = request(path="/a", headers={"Host": "127.0.0.1", "User-Agent": "split-test", "Accept": "*/*"})
    pieces = [raw[:3], raw[3:7], raw[7:20], raw[20:33], raw[33:-1], raw[-1:]]
    assert b"".join(pieces) == raw
    with Client(srv.port) as c:
        for p in pieces:
            c.send(p)
            time.sleep(0.02)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"route a body")
        # The connection is still usable afterwards.
        c.send(request(path="/"))
        assert_hello(c.read_response())


def test_20kb_header_value_in_pieces(srv):
    value = ("abcdefghij" * 2048).encode()   # 20480 bytes
    raw = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + value + b"\r\nX-After: 1\r\n\r\n"
    with Client(srv.port) as c:
        for i in range(0, len(raw), 1500):
            c.send(raw[i:i + 1500])
            time.sleep(0.002)
        assert_hello(c.read_response())
        c.send(request(path="/a"))
        assert c.read_response().body == b"route a body"


def test_unknown_path_is_404(srv):
    r = get(srv.port, "/nope")
    assert r.status == 404
    assert r.header("Server") == "preforkd"
    assert r.header("Content-Length") == str(len(r.body))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/", "/missing"])
def test_other_methods_are_405_with_allow_on_a_route_and_404_elsewhere(srv, method, path):
    with Client(srv.port) as c:
        c.send(request(method=method, path=path, headers={"Host": "x", "Content-Length": "0"}))
        r = c.read_response()
        if path == "/":
            assert r.status == 405, r
            assert r.header("Allow") == "GET, HEAD, OPTIONS"
        else:
            # RFC 9110 15.5.6: 405 is for a resource that exists.
            assert r.status == 404 and r.header("Allow") is None, r
        assert r.header("Content-Length") == str(len(r.body))
        # Still keep-alive: a GET on the same socket works.
        c.send(request(path="/"))
        assert_hello(c.read_response())


@pytest.mark.parametrize("case, status", [
    ("Expect: foo", 417),
    ("Host: a b", 400),
    ("Content-Length: 99999999999", 413),
    ("X-Big: " + "v" * 40000, 431),
])
def test_an_error_answer_to_head_has_no_body(srv, case, status):
    """RFC 9110 9.3.2: no content in an answer to HEAD, an error's included: the head says
    how long the body would be, and the connection closes right after it."""
    name, value = case.split(": ", 1)
    headers = {name: value} if name == "Host" else {"Host": "x", name: value}
    with Client(srv.port) as c:
        c.send(request(method="HEAD", path="/", headers=headers))
        r = c.read_response(head_only=True)
        assert r.status == status, r
        assert int(r.header("Content-Length")) > 0
        assert r.header("Connection") == "close"
        assert c.buf == b"", c.buf[:80]
        assert c.closed_by_peer(), "more bytes after the head of a HEAD answer"


def test_head_has_length_and_no_body(srv):
    with Client(srv.port) as c:
        c.send(request(method="HEAD", path="/") + request(path="/a"))
        h = c.read_response(head_only=True)
        assert h.status == 200
        assert h.header("Content-Length") == "10"
        assert h.header("Content-Type") == "text/plain"
        # The next response must start right where the HEAD head ended.
        assert c.buf == b"" or c.buf.startswith(b"HTTP/1.1 "), c.buf[:40]
        r = c.read_response()
        assert (r.status, r.body) == (200, b"route a body")
        assert c.buf == b""


ROOT_ETAG = '"61a54b2d1c6a9133"'   # FNV-1a of "text/plain", NUL, "hello word": every worker, every reload


@pytest.mark.parametrize("fields, status", [
    ({"If-None-Match": "*"}, 304),            # "*" matches the route's content (RFC 9110 13.1.2)
    ({"if-none-match": " * "}, 304),
    ({"If-None-Match": '"x"'}, 200),          # another tag
    ({"If-None-Match": ROOT_ETAG}, 304),      # its own (the hash of its content type and body)
    ({"If-None-Match": f'"x", W/{ROOT_ETAG}'}, 304),   # If-None-Match compares weakly
    ({"If-Match": ROOT_ETAG}, 200),
    ({"If-Match": f"W/{ROOT_ETAG}"}, 412),    # If-Match compares strongly
    ({"If-Match": '"x"'}, 412),               # 13.1.1: MUST NOT perform the method
    ({"If-Match": "*"}, 200),
    ({"If-Match": "*", "If-None-Match": "*"}, 304),
    ({"If-Match": '"x"', "If-None-Match": "*"}, 412),   # 13.2.2: If-Match first
    ({"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, 200),   # no Last-Modified: ignored
    ({"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, 200),
    ({"If-Range": '"x"', "Range": "bytes=0-1"}, 200),
])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_fixed_route_evaluates_preconditions(srv, fields, status, method):
    """A fixed route has no validators, so only "*" can match; the answer after it on the
    same connection shows the 304 and 412 are framed (no body, then the next answer)."""
    with Client(srv.port) as c:
        c.send(request(method=method, path="/", headers={"Host": "x", **fields}) + request(path="/a"))
        r = c.read_response(head_only=method == "HEAD" or status == 304)
        assert r.status == status, r
        assert r.header("ETag") == (ROOT_ETAG if status in (200, 304) else None), r
        if status == 304:
            assert r.header("Content-Length") is None and r.header("Content-Type") is None
            assert r.header("Date") is not None
        elif method == "GET":
            assert r.body == (b"hello word" if status == 200 else b"Precondition Failed\n")
        nxt = c.read_response()
        assert (nxt.status, nxt.body) == (200, b"route a body")


def test_preconditions_do_not_apply_to_a_fixed_routes_options_or_405(srv):
    """13.1.1: OPTIONS selects no representation, and a 405 would not be 2xx anyway."""
    with Client(srv.port) as c:
        c.send(request(method="OPTIONS", path="/", headers={"Host": "x", "If-Match": '"x"'}))
        assert c.read_response().status == 200
        c.send(request(method="DELETE", path="/", headers={"Host": "x", "If-None-Match": "*"}))
        assert c.read_response().status == 405


BUILTIN_ROUTES = ROUTES + """
[[route]]
path = "/livez"
builtin = "livez"

[[route]]
path = "/readyz"
builtin = "readyz"

[[route]]
path = "/metrics"
builtin = "metrics"
"""


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
def test_builtin_routes_answer_options_with_allow_and_no_body(server_factory, path):
    """RFC 9110 9.3.7: OPTIONS gets Allow, as the 405 advertises, not the GET's content."""
    s = server_factory(routes=BUILTIN_ROUTES)
    with Client(s.port) as c:
        c.send(request(method="OPTIONS", path=path, headers={"Host": "x"}) + request(path="/a"))
        r = c.read_response()
        assert r.status == 200, r
        assert r.header("Allow") == "GET, HEAD, OPTIONS"
        assert r.header("Content-Length") == "0" and r.body == b""
        assert (c.read_response().body) == b"route a body"
        c.send(request(method="DELETE", path=path, headers={"Host": "x"}))
        r = c.read_response()
        assert r.status == 405 and r.header("Allow") == "GET, HEAD, OPTIONS"
        c.send(request(method="GET", path=path, headers={"Host": "x"}))
        assert c.read_response().status in ((200, 503) if path == "/readyz" else (200,))   # 503: still starting


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
def test_builtin_routes_evaluate_preconditions(server_factory, path):
    """Like a fixed route, they have no validators (RFC 9110 13.1.1, 13.1.2): only "*"
    matches; the 304 keeps the 200's Cache-Control; OPTIONS ignores them (13.2.1)."""
    s = server_factory(routes=BUILTIN_ROUTES)
    with Client(s.port) as c:
        deadline = time.monotonic() + 10
        while True:   # readyz is 503 until the server is ready; then preconditions apply
            c.send(request(path=path, headers={"Host": "x"}))
            r = c.read_response()
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert r.status == 200, r
        cases = [("GET", {"If-Match": '"x"'}, 412), ("HEAD", {"If-Match": '"x"'}, 412),
                 ("GET", {"If-None-Match": "*"}, 304), ("HEAD", {"If-None-Match": "*"}, 304),
                 ("GET", {"If-Match": "*"}, 200), ("GET", {"If-None-Match": '"x"'}, 200),
                 ("GET", {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}, 200),
                 ("OPTIONS", {"If-Match": '"x"'}, 200), ("DELETE", {"If-None-Match": "*"}, 405)]
        for method, fields, status in cases:
            c.send(request(method=method, path=path, headers={"Host": "x", **fields}) + request(path="/a"))
            r = c.read_response(head_only=method == "HEAD" or status == 304)
            assert r.status == status, (method, fields, r)
            if status == 304:
                assert r.header("Cache-Control") == "no-store" and r.header("Content-Length") is None, r
            assert c.read_response().body == b"route a body", (method, fields)


def test_connection_close_is_honoured(srv):
    with Client(srv.port) as c:
        c.send(request(headers={"Host": "x", "Connection": "close"}))
        r = c.read_response()
        assert_hello(r)
        assert r.header("Connection") == "close"
        assert c.closed_by_peer(), "server did not close after Connection: close"


def test_http10_closes_by_default(srv):
    with Client(srv.port) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert_hello(r)
        # Said, not left to the version's default: the server always names the close.
        assert r.header("Connection") == "close", r.raw_head
        assert c.closed_by_peer(), "HTTP/1.0 connection was kept open"


def test_http10_keep_alive_when_asked(srv):
    with Client(srv.port) as c:
        for _ in range(3):
            c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert_hello(r)
            assert r.header("Connection") == "keep-alive"
        assert not c.closed_by_peer(timeout=0.3), "HTTP/1.0 keep-alive connection closed"
        c.send(b"GET /a HTTP/1.0\r\n\r\n")
        assert c.read_response().body == b"route a body"
        assert c.closed_by_peer()


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("raw", [
    b"GET / HTTP/1.1\r\nHost: x\r\nno-colon-here\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTX/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
], ids=["header-without-colon", "bad-method-char", "bad-protocol", "bad-content-length"])
def test_malformed_request_is_400_then_close(srv, raw):
    with Client(srv.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 400, r
        assert r.header("Connection") == "close"
        assert c.closed_by_peer(), "server kept a connection open after a 400"
    assert_hello(get(srv.port, "/"))


def test_missing_host_is_400(srv):
    with Client(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n")
        r = c.read_response()
        assert r.status == 400, r
        assert r.header("Connection") == "close"
        assert c.closed_by_peer()


def test_two_hosts_is_400(srv):
    with Client(srv.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        assert c.read_response().status == 400


def test_every_error_answer_arrives_before_its_close_on_a_reused_descriptor(server_factory):
    """Each 400 ends in a lingering close (shut down, read to EOF, close), and a new
    connection often gets the descriptor number just freed. The shutdown once ran in an
    io_uring worker thread that looked the number up late, sometimes on the next
    connection, whose client then saw a FIN and no answer: about 1 % of these were lost."""
    s = server_factory(workers=1, routes=ROUTES)

    def client(_):
        lost = []
        for i in range(1000):
            with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock:
                sock.sendall(b"NOT A REQUEST\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    try:
                        chunk = sock.recv(4096)
                    except ConnectionResetError:
                        chunk = b""
                    if not chunk:
                        break
                    data += chunk
                if not data.startswith(b"HTTP/1.1 400 "):
                    lost.append(data[:40])
        return lost

    with ThreadPoolExecutor(8) as pool:
        lost = [x for part in pool.map(client, range(8)) for x in part]
    assert lost == [], f"{len(lost)} of 8000 connections closed without their 400: {lost[:5]}"
    assert_hello(get(s.port, "/"))


def test_long_target_is_414(server_factory):
    s = server_factory(extra="[limits]\nmax_request_line = 64\n")
    ok_path = "/" + "x" * 40
    long_path = "/" + "x" * 300
    with Client(s.port) as c:
        c.send(request(path=ok_path))
        assert c.read_response().status == 404
        c.send(request(path=long_path))
        r = c.read_response()
        assert r.status == 414, r
        assert r.header("Connection") == "close"
        assert c.closed_by_peer()
    assert_hello(get(s.port, "/"))


def test_huge_headers_are_431(server_factory):
    s = server_factory(extra="[limits]\nmax_header_bytes = 1024\n")
    with Client(s.port) as c:
        c.send(request(headers={"Host": "x", "X-Small": "y" * 200}))
        assert_hello(c.read_response())
        c.send(request(headers={"Host": "x", "X-Big": "y" * 4000}))
        r = c.read_response()
        assert r.status == 431, r
        assert r.header("Connection") == "close"
        assert c.closed_by_peer()


def test_huge_headers_default_limit_431(srv):
    # Default max_header_bytes is 32768: 40 KB of headers in many fields must be refused.
    fields = {"Host": "x"}
    for i in range(40):
        fields[f"X-F{i}"] = "z" * 1000
    with Client(srv.port) as c:
        c.send(request(headers=fields))
        assert c.read_response().status == 431


def test_http2_version_is_505(srv):
    with Client(srv.port) as c:
        c.send(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 505, r
        assert c.closed_by_peer()
    assert_hello(get(srv.port, "/"))


# --------------------------------------------------------------------------- robustness

def test_clients_that_reset_do_not_kill_workers(srv):
    before = srv.worker_slots()
    assert len(before) == 2
    linger = struct.pack("ii", 1, 0)
    for i in range(200):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.sendall(request(path="/" if i % 2 else "/a"))
        s.close()   # RST, possibly before, during or after the response
    for _ in range(10):
        assert_hello(get(srv.port, "/"))
    assert srv.worker_slots() == before, srv.log_text()
    assert "killed by signal" not in srv.log_text()
    assert "exited with code" not in srv.log_text()


def test_post_with_body_then_pipelined_get(srv):
    body = b"x" * 37
    raw = request(method="POST", path="/", headers={"Host": "x", "Content-Length": str(len(body)),
                                                   "Content-Type": "text/plain"}, body=body)
    with Client(srv.port) as c:
        c.send(raw + request(path="/"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert r1.status == 405 and r1.header("Allow") == "GET, HEAD, OPTIONS"
    assert_hello(r2)


def test_post_body_in_pieces_then_get(srv):
    body = b"0123456789" * 1000
    raw = request(method="POST", path="/a", headers={"Host": "x", "Content-Length": str(len(body))},
                  body=body)
    with Client(srv.port) as c:
        for i in range(0, len(raw), 3000):
            c.send(raw[i:i + 3000])
        c.send(request(path="/a"))
        assert c.read_response().status == 405
        assert c.read_response().body == b"route a body"


def test_many_pipelined_requests(srv):
    n = 100
    with Client(srv.port) as c:
        c.send(b"".join(request(path="/" if i % 3 else "/missing") for i in range(n)))
        statuses = [c.read_response().status for _ in range(n)]
    assert statuses == [404 if i % 3 == 0 else 200 for i in range(n)]


def test_connection_close_in_the_middle_of_a_pipeline(srv):
    with Client(srv.port) as c:
        c.send(request(path="/") + request(path="/a", headers={"Host": "x", "Connection": "close"})
               + request(path="/"))
        assert_hello(c.read_response())
        r = c.read_response()
        assert r.body == b"route a body" and r.header("Connection") == "close"
        assert c.closed_by_peer(), "requests after Connection: close were answered"


def test_server_survives_half_closed_client(srv):
    # Client sends a request then shuts down its write side: the answer still arrives.
    with Client(srv.port) as c:
        c.send(request(path="/"))
        c.sock.shutdown(socket.SHUT_WR)
        assert_hello(c.read_response())
        assert c.closed_by_peer()
    wait_until(lambda: len(srv.worker_slots()) == 2, 1.0, what="both workers alive")


def test_chunked_post_then_get(srv):
    raw = (b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    with Client(srv.port) as c:
        c.send(raw + request(path="/"))
        r1, r2 = c.read_response(), c.read_response()
    assert r1.status == 405 and r1.header("Allow") == "GET, HEAD, OPTIONS"
    assert_hello(r2)


def test_head_on_missing_path_has_no_body(srv):
    with Client(srv.port) as c:
        c.send(request(method="HEAD", path="/missing") + request(path="/"))
        h = c.read_response(head_only=True)
        assert h.status == 404
        assert h.header("Content-Length") is not None
        assert_hello(c.read_response())
        assert c.buf == b""


def test_large_pipelined_burst(srv):
    # Enough requests to span many receive buffers and produce a large output batch.
    n = 2000
    with Client(srv.port, timeout=10) as c:
        c.send(b"".join(request(path="/" if i % 2 else "/a") for i in range(n)))
        bodies = [c.read_response().body for _ in range(n)]
    assert bodies == [b"hello word" if i % 2 else b"route a body" for i in range(n)]


# --------------------------------------------------------------------------- route paths and file paths

def test_route_path_no_request_can_match_is_refused(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text('[[route]]\npath = "/a b"\nbody = "x"\n')
    r = subprocess.run([BIN, "-t", "-c", str(conf)], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r
    assert f'{conf}:2:8: route.path "/a b" can never match a request' in r.stderr, r.stderr
    assert '"/a%20b"' in r.stderr, r.stderr


def test_percent_encoded_route_matches_the_path_as_sent(server_factory):
    # The request path is not decoded before routing: a route is written as clients send it.
    srv = server_factory(routes='[[route]]\npath = "/caf%C3%A9"\nbody = "cafe"\n'
                                '[[route]]\npath = "/a%20b"\nbody = "space"\n')
    r = get(srv.port, "/caf%C3%A9")
    assert (r.status, r.body) == (200, b"cafe"), r
    assert (get(srv.port, "/a%20b").body, get(srv.port, "/a%20b?q=1").body) == (b"space", b"space")
    assert get(srv.port, "/caf%c3%a9").status == 404


def test_relative_pid_file_and_control_socket_are_beside_the_config(tmp_path):
    conf_dir, run_dir, other_dir = tmp_path / "conf", tmp_path / "run", tmp_path / "other"
    for d in (conf_dir, run_dir, other_dir):
        d.mkdir(mode=0o700)
    port = free_port()
    conf = conf_dir / "site.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 1\n'
                    f'pid_file = "p.pid"\ncontrol_socket = "state/c.sock"\n'
                    f'[[route]]\npath = "/"\nbody = "hello word"\n')
    (conf_dir / "state").mkdir(mode=0o700)
    log = open(tmp_path / "master.log", "wb")
    # Started from run/ with a path relative to it, as an init script in another directory might.
    proc = subprocess.Popen([BIN, "-c", "../conf/site.toml"], cwd=run_dir, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        pid_file = conf_dir / "p.pid"
        wait_until(pid_file.exists, 5, what="the pid file beside the config")
        assert int(pid_file.read_text().strip()) == proc.pid
        assert not (run_dir / "p.pid").exists()
        assert (conf_dir / "state" / "c.sock").exists()
        # From anywhere else, with another spelling of the same file: the same files.
        st = subprocess.run([BIN, "status", "-c", "../conf/site.toml"], cwd=other_dir, capture_output=True,
                            text=True, timeout=10, stdin=subprocess.DEVNULL)
        assert st.returncode == 0, st
        assert f"master pid {proc.pid}" in st.stdout, st.stdout
        stop = subprocess.run([BIN, "-s", "stop", "-c", str(conf)], cwd="/", capture_output=True, text=True,
                              timeout=10, stdin=subprocess.DEVNULL)
        assert stop.returncode == 0, stop
        proc.wait(timeout=10)
        assert not pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
