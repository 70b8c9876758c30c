"""Modules (issue 14) end to end: the example modules of this build (BUILD/examples/, beside
the binary under test) served by a real server over real sockets.

Every example's answers; sum on every worker while GET / stays fast; a module that crashes
its worker; -t refusals; a rebuilt module reloaded under load; handler_timeout (504); a full
offload queue (503); clients that leave while their request is offloaded; the offload
threads' priorities and the scheduler nudge's wake-ups.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO, Client, ConnectionClosed, get, request, wait_until
from helpers import cli, sum_answer, sum_lasting

BUILD = Path(BIN).resolve().parent
EXAMPLES = BUILD / "examples"

FIXED_ROOT = """
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
"""


def module_route(so, path=None, prefix=None, settings=None):
    where = f'path = "{path}"' if path else f'prefix = "{prefix}"'
    text = f'\n[[route]]\n{where}\nmodule = "{so}"\n'
    if settings:
        text += "[route.settings]\n" + "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    return text


def serve(server_factory, routes, workers=1, server="", limits=""):
    extra = server + (f"\n[limits]\n{limits}\n" if limits else "")
    return server_factory(workers=workers, extra=extra, routes=FIXED_ROOT + routes)


def ask(port, method="GET", path="/", body=b"", headers=None, timeout=10):
    with Client(port, timeout=timeout) as c:
        h = {"Host": "127.0.0.1", "Connection": "close"}
        if body:
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        c.send(request(method=method, path=path, headers=h, body=body))
        return c.read_response()


@pytest.fixture(scope="module", autouse=True)
def examples_built():
    for so in ("hello/libhello.so", "sum/libsum.so", "echo/libecho.so", "testing/libcrash.so"):
        if not (EXAMPLES / so).is_file():
            pytest.fail(f"{EXAMPLES / so} is missing: build the examples (ninja -C {BUILD})")


# --------------------------------------------------------------------------- the examples

def test_hello(server_factory):
    s = serve(server_factory, module_route(EXAMPLES / "hello/libhello.so", prefix="/app/"))
    for path in ("/app/", "/app/x?y=1", "/app"):
        r = ask(s.port, path=path)
        assert (r.status, r.body, r.header("Content-Type")) == (200, b"hello word", "text/plain")
    assert ask(s.port).body == b"hello word"          # the fixed route beside it
    assert ask(s.port, path="/other").status == 404


def test_sum_answers_and_refuses(server_factory):
    s = serve(server_factory, module_route(EXAMPLES / "sum/libsum.so", path="/app/sum"))
    t0 = time.monotonic()
    r = ask(s.port, path="/app/sum?n=1000000000")
    took = time.monotonic() - t0
    assert (r.status, r.body) == (200, sum_answer(1000000000))
    print(f"sum n=1e9: {took:.3f} s")
    # The loop really runs: a closed form would answer in microseconds.
    assert took > 0.05, f"n=1e9 took {took:.4f} s: the compiler folded the loop"
    assert ask(s.port, path="/app/sum?n=10").body == b"Sum is 45"
    for bad in ("/app/sum", "/app/sum?n=", "/app/sum?n=abc", "/app/sum?n=0", "/app/sum?n=6000000001",
                "/app/sum?n=1%30"):
        r = ask(s.port, path=bad)
        assert r.status == 400, bad
    r = ask(s.port, method="POST", path="/app/sum?n=3", body=b"x")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD"


def test_echo(server_factory):
    s = serve(server_factory, module_route(EXAMPLES / "echo/libecho.so", prefix="/app/echo/"))
    body = 'a "quoted" body\\ with é and \x01\n'.encode()
    r = ask(s.port, method="POST", path="/app/echo/x%20y?a=1&b=2", body=body,
            headers={"X-Dup": "one", "x-dup": "two", "Content-Type": "text/plain"})
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    j = json.loads(r.body)
    assert j["method"] == "POST"
    assert j["target"] == "/app/echo/x%20y?a=1&b=2"
    assert j["path"] == "/app/echo/x%20y" and j["query"] == "a=1&b=2"
    assert j["has_body"] is True
    assert ["X-Dup", "one"] in j["headers"] and ["x-dup", "two"] in j["headers"]
    assert [h for h, _ in j["headers"]][:2] == ["Host", "Connection"]
    assert j["body"].encode() == body

    # RFC 9112 3.2.2: the authority is an absolute-form target's, not Host's.
    with Client(s.port) as c:
        c.send(b"GET http://other.example:99/app/echo/q?x HTTP/1.1\r\nHost: a\r\n\r\n"
               b"GET /app/echo/q HTTP/1.1\r\nHost: a:1\r\n\r\n")
        assert json.loads(c.read_response().body)["authority"] == "other.example:99"
        assert json.loads(c.read_response().body)["authority"] == "a:1"

    # A chunked body, in pieces a while apart (on_body more than once), then the answer.
    with Client(s.port) as c:
        c.send(request(method="PUT", path="/app/echo/c", headers={
            "Host": "h", "Transfer-Encoding": "chunked", "Connection": "close"}))
        for piece in (b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"):
            time.sleep(0.05)
            c.send(piece)
        j = json.loads(c.read_response().body)
        assert (j["method"], j["body"]) == ("PUT", "hello world")

    r = ask(s.port, method="POST", path="/app/echo/bin", body=bytes([0, 0xFF, 0x80]))
    assert json.loads(r.body)["body_base64"] == "AP+A"
    j = json.loads(ask(s.port, path="/app/echo/").body)
    assert (j["has_body"], j["body"], j["query"]) == (False, "", "")


def test_the_example_config_serves_every_example(server_factory, tmp_path):
    """conf/examples/modules.toml, pointed at this build: each route its own module."""
    text = (REPO / "conf/examples/modules.toml").read_text()
    routes = text[text.index("[[route]]"):].replace("../../build/", f"{BUILD}/")
    s = server_factory(workers=1, routes=routes)
    assert ask(s.port, path="/app/hello").body == b"hello word"
    assert ask(s.port, path="/app/sum?n=100").body == b"Sum is 4950"
    assert json.loads(ask(s.port, path="/app/echo/z").body)["path"] == "/app/echo/z"


# --------------------------------------------------------------------------- the cluster demo

def cpu_seconds(pid):
    """utime + stime of a process, its ended threads included."""
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def test_sum_on_every_worker_while_get_stays_fast(server_factory):
    s = serve(server_factory, module_route(EXAMPLES / "sum/libsum.so", path="/app/sum"), workers=2,
              server="offload_threads = 2\n")
    pids = list(s.worker_slots().values())
    before = {p: cpu_seconds(p) for p in pids}
    # About 1 s of summing each, whatever the build (a fixed 4e9 came within 5 s of the
    # timeout under ASan).
    n = sum_lasting(s.port)
    results = []

    def one_sum():
        try:
            results.append(ask(s.port, path=f"/app/sum?n={n}", timeout=30).body)
        except Exception as e:   # noqa: BLE001 - reported below
            results.append(repr(e))

    sums = [threading.Thread(target=one_sum) for _ in range(4)]
    t0 = time.monotonic()
    for t in sums:
        t.start()
    time.sleep(0.2)
    latencies = []
    while any(t.is_alive() for t in sums) and len(latencies) < 400:
        a = time.monotonic()
        assert ask(s.port, timeout=2).body == b"hello word"
        latencies.append(time.monotonic() - a)
        time.sleep(0.005)
    for t in sums:
        t.join(30)
    took = time.monotonic() - t0
    assert results == [sum_answer(n)] * 4
    used = {p: round(cpu_seconds(p) - before[p], 2) for p in pids}
    latencies.sort()
    print(f"4 sums of n={n:,} on 2 workers: {took:.2f} s; GET / during them: {len(latencies)} requests, "
          f"median {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
          f"CPU per worker {used}")
    assert len(latencies) >= 20
    assert all(u > 0.3 for u in used.values()), f"not every worker summed: {used}"
    assert latencies[-1] < 0.050, f"GET / took {latencies[-1] * 1000:.1f} ms while sums ran"


# --------------------------------------------------------------------------- isolation

def crash_server(server_factory):
    return serve(server_factory, module_route(EXAMPLES / "testing/libcrash.so", prefix="/crash/"), workers=2)


def crash_one(s, path):
    """Crashes the worker that takes a fresh connection; (its pid, the other worker's pid)."""
    before = s.worker_slots()
    with Client(s.port) as c:
        c.send(request(path=path, headers={"Host": "h", "Connection": "close"}))
        with pytest.raises((ConnectionClosed, ConnectionResetError)):
            c.read_response()
    dead = wait_until(lambda: [p for p in before.values() if p not in s.worker_slots().values()], 5,
                      what="the crashed worker to be gone")
    assert len(dead) == 1, f"more than one worker went: {dead}"
    wait_until(lambda: len(s.worker_slots()) == 2 and dead[0] not in s.worker_slots().values(), 5,
               what="a replacement worker")
    return dead[0], [p for p in before.values() if p != dead[0]][0]


@pytest.mark.kills_workers
def test_a_worker_stuck_in_module_code_is_killed_and_named(server_factory):
    """A module that never returns on the loop thread: the worker stops beating, the
    master kills it after worker_timeout and names the route and module it was in."""
    s = server_factory(workers=2, extra='[supervisor]\nworker_timeout = "1s"\n',
                       routes=FIXED_ROOT + module_route(EXAMPLES / "testing/libcrash.so", prefix="/crash/"))
    before = s.worker_slots()
    with Client(s.port, timeout=10) as c:
        c.send(request(path="/crash/spin", headers={"Host": "h", "Connection": "close"}))
        with pytest.raises((ConnectionClosed, ConnectionResetError)):
            c.read_response()
    dead = wait_until(lambda: [p for p in before.values() if p not in s.worker_slots().values()], 10,
                      what="the stuck worker to be killed")
    assert len(dead) == 1
    # The pid leaves the slots when the master reaps it; the exit line is logged just
    # after, so a slow master (AddressSanitizer) may not have written it yet.
    lines = wait_until(lambda: [line for line, _, _ in s.worker_exits() if f"pid {dead[0]} " in line], 5,
                       what="the stuck worker's exit line")
    assert len(lines) == 1, s.log_text()
    assert "killed by signal 9" in lines[0] and " in route /crash/ (module " in lines[0], lines[0]
    assert ask(s.port).body == b"hello word"


@pytest.mark.kills_workers
@pytest.mark.parametrize("how", ["segv", "abort"])
def test_a_crashing_module_takes_down_only_its_worker(server_factory, how):
    s = crash_server(server_factory)
    # Keep-alive clients on the worker that survives go on being served meanwhile.
    dead, other = crash_one(s, f"/crash/{how}")
    assert other in s.worker_slots().values()
    for _ in range(20):
        assert ask(s.port).body == b"hello word"
        assert ask(s.port, path="/crash/fine").body == b"alive"
    lines = [line for line, _, _ in s.worker_exits() if f"pid {dead} " in line]
    assert len(lines) == 1, s.log_text()
    sig = signal.SIGSEGV if how == "segv" else signal.SIGABRT
    # Under AddressSanitizer a fault is reported, then the worker exits with code 1 or, with
    # abort_on_error, aborts.
    asan = (f"killed by signal {int(signal.SIGABRT)}", "exited with code 1")
    assert f"killed by signal {int(sig)}" in lines[0] or any(a in lines[0] for a in asan), lines[0]
    assert " in route /crash/ (module " in lines[0], lines[0]


@pytest.mark.kills_workers
def test_a_crash_is_logged_with_its_route_and_module(server_factory):
    s = crash_server(server_factory)
    dead, _ = crash_one(s, "/crash/segv")
    line = [line for line, _, _ in s.worker_exits() if f"pid {dead} " in line][0]
    assert "/crash/" in line and "libcrash.so" in line, line


# --------------------------------------------------------------------------- -t

def test_check_refuses_bad_modules_with_their_place(tmp_path):
    (tmp_path / "text.so").write_text("not an ELF object at all, only text\n" * 4)
    conf = tmp_path / "bad.toml"
    conf.write_text(
        '[server]\nlisten = "127.0.0.1:1"\n'
        + module_route(EXAMPLES / "testing/libnoabi.so", path="/a")
        + module_route(EXAMPLES / "testing/libbadabi.so", path="/b")
        + module_route("missing.so", path="/c")
        + module_route("text.so", path="/d")
        + module_route(EXAMPLES / "testing/libtiny.so", path="/e"))
    r = cli("-t", "-c", conf)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    where = re.compile(rf"^{re.escape(str(conf))}:(\d+):(\d+): module \"")
    expect = [
        (6, "libnoabi.so\": no preforkd_module descriptor"),
        (10, "libbadabi.so\": built for module ABI version 99, this preforkd runs version 1"),
        (14, f"\"missing.so\" ({tmp_path}/missing.so): No such file or directory"),
        (18, f"\"text.so\" ({tmp_path}/text.so): {tmp_path}/text.so: invalid ELF header"),
        (22, "libtiny.so\": its descriptor has 8 bytes, version 1 needs at least 72"),
    ]
    assert len(lines) == len(expect) + 1, r.stderr
    for line, (lineno, text) in zip(lines, expect):
        m = where.match(line)
        assert m and int(m.group(1)) == lineno and m.group(2) == "10", line
        assert text in line, line
    assert "is invalid (5 problems)" in lines[-1]


def test_reload_with_a_bad_module_keeps_the_old_generation(server_factory, tmp_path):
    so = tmp_path / "libapp.so"
    shutil.copyfile(EXAMPLES / "testing/libversion1.so", so)
    s = serve(server_factory, module_route("libapp.so", path="/app"))
    old = set(s.worker_slots().values())
    shutil.copyfile(EXAMPLES / "testing/libnoabi.so", so)
    s.signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in s.log_text(), 5, what="the reload to fail")
    assert "no preforkd_module descriptor" in s.log_text()
    assert ask(s.port, path="/app").body == b"version 1"
    assert set(s.worker_slots().values()) == old


# --------------------------------------------------------------------------- reload

def test_a_rebuilt_module_reloads_under_load_with_no_failed_request(server_factory, tmp_path):
    so = tmp_path / "libapp.so"
    shutil.copyfile(EXAMPLES / "testing/libversion1.so", so)
    s = serve(server_factory, module_route("libapp.so", path="/app"), workers=2)
    assert ask(s.port, path="/app").body == b"version 1"

    stop = threading.Event()
    failures, seen = [], []

    def load():
        conn = None
        deadline = time.monotonic() + 15
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
                conn.request("GET", "/app")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or body not in (b"version 1", b"version 2"):
                    failures.append((r.status, body))
                seen.append(body)
                if r.getheader("Connection") == "close":
                    conn.close()
                    conn = None
            except Exception as e:   # noqa: BLE001 - every failure counts
                failures.append(repr(e))
                conn = None
        if conn is not None:
            conn.close()

    wrk = None
    if shutil.which("wrk"):
        wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d4s", f"http://127.0.0.1:{s.port}/app"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    # "Rebuilt": the new code written over the file in place (the server runs its own copy).
    shutil.copyfile(EXAMPLES / "testing/libversion2.so", so)
    s.signal(signal.SIGHUP)
    t_hup = time.monotonic()
    wait_until(lambda: seen and seen[-1] == b"version 2", 5, what="the rebuilt module's answer")
    switched = time.monotonic() - t_hup
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(10)
    wrk_out = wrk.communicate(timeout=15)[0] if wrk else ""
    print(f"{len(seen)} checked requests, new code answering {switched:.2f} s after HUP; wrk: "
          + " ".join(wrk_out.split()[-12:]))
    assert failures == []
    assert seen.count(b"version 1") > 0 and seen.count(b"version 2") > 0
    assert "version 1" not in {b.decode() for b in seen[-20:]}
    if wrk:
        assert "Socket errors" not in wrk_out and "Non-2xx" not in wrk_out, wrk_out
    assert ask(s.port, path="/app").body == b"version 2"


# --------------------------------------------------------------------------- framing a module cannot break

NEXT = request(path="/")   # pipelined behind each answer: must come back whole, or not at all


def framing_server(server_factory):
    return serve(server_factory, module_route(EXAMPLES / "testing/libframing.so", prefix="/f/"))


def test_a_body_shorter_than_its_length_ends_with_the_connection(server_factory):
    """RFC 9110 8.6 / RFC 9112 8: 3 bytes after Content-Length: 10. The client must not take
    the next answer's bytes for the rest: the connection closes after them."""
    s = framing_server(server_factory)
    with Client(s.port) as c:
        c.send(request(path="/f/?short") + NEXT)
        head = c.read_response(head_only=True)
        assert head.status == 200 and head.header("Content-Length") == "10", head
        assert head.header("X-Results") == "0"
        rest = c.buf
        c.sock.settimeout(5)
        try:
            while data := c.sock.recv(65536):   # socket.timeout: it stayed open
                rest += data
        except ConnectionResetError:
            pass
        assert rest == b"abc", rest[:40]   # and the pipelined GET was never answered
    assert get(s.port, "/").body == b"hello word"


def test_a_body_longer_than_its_length_is_cut_and_the_write_refused(server_factory):
    s = framing_server(server_factory)
    with Client(s.port) as c:
        c.send(request(path="/f/?long") + NEXT)
        r = c.read_response()
        assert (r.status, r.header("Content-Length"), r.body) == (200, "2", b"ab"), r
        nxt = c.read_response()   # framed right: the next answer starts where this one ends
        assert (nxt.status, nxt.body) == (200, b"hello word"), nxt
        c.send(request(path="/f/?last"))
        assert c.read_response().body == b"-1"   # PFD_EINVAL
        assert c.buf == b""


def test_a_module_cannot_inject_fields_or_frame_a_204(server_factory):
    s = framing_server(server_factory)
    with Client(s.port) as c:
        c.send(request(path="/f/?inject"))
        r = c.read_response()
        assert r.header("X-Injected") is None and r.body == b"inject refused -1", r
        # RFC 9110 8.6: no Content-Length on a 204 (and no body).
        c.send(request(path="/f/?nocontent") + NEXT)
        r = c.read_response(head_only=True)
        assert r.status == 204 and r.header("Content-Length") is None, r
        nxt = c.read_response()
        assert (nxt.status, nxt.body) == (200, b"hello word"), nxt
        # RFC 9110 15.3.6: a 205 has no content, and says so with Content-Length: 0; its
        # set_length and write are refused.
        c.send(request(path="/f/?reset") + NEXT)
        r = c.read_response()
        assert (r.status, r.header("Content-Length"), r.header("X-Results"), r.body) == (205, "0", "-1", b""), r
        nxt = c.read_response()
        assert (nxt.status, nxt.body) == (200, b"hello word"), nxt
        c.send(request(path="/f/?last"))
        assert c.read_response().body == b"-1"
        # RFC 9110 5.1, 5.5, 7.8: names that are not tokens, control bytes in values, and
        # the connection's own fields are refused; HTAB and obs-text in a value are fine.
        c.send(request(path="/f/?fields"))
        r = c.read_response()
        assert r.body == b"-1 -1 -1 -1 -1 -1 -1 -1 -1 0", r
        assert r.header("X-Tab") == "a\tb \x80".encode("latin-1").decode("latin-1") and r.header("Upgrade") is None
        # RFC 9110 5.3: Server is the server's, once.
        c.send(request(path="/f/?server"))
        r = c.read_response()
        assert r.body == b"server -1" and [v for k, v in r.headers if k.lower() == "server"] == ["preforkd"], r


# --------------------------------------------------------------------------- timeouts, queue, aborts

def test_an_answer_that_never_comes_is_a_504_and_aborts(server_factory):
    s = serve(server_factory, module_route(EXAMPLES / "testing/libslow.so", prefix="/slow/"),
              limits='handler_timeout = "1s"')
    t0 = time.monotonic()
    r = ask(s.port, path="/slow/forever")
    took = time.monotonic() - t0
    assert r.status == 504
    assert 0.9 <= took < 2.0, took
    assert ask(s.port, path="/slow/aborts").body == b"1"   # on_abort ran
    # RFC 9110 9.3.2: the 504 to a HEAD has its length and no body.
    with Client(s.port) as c:
        c.send(request(method="HEAD", path="/slow/forever"))
        r = c.read_response(head_only=True)
        assert r.status == 504 and int(r.header("Content-Length")) > 0, r
        assert c.buf == b"" and c.closed_by_peer(), c.buf[:40]   # a 504 closes, after the head only


def sleepy_server(server_factory, **kw):
    return serve(server_factory, module_route(EXAMPLES / "testing/libsleepy.so", prefix="/t/"), **kw)


def test_a_full_offload_queue_answers_503_with_retry_after(server_factory):
    s = sleepy_server(server_factory, server="offload_threads = 1\noffload_queue = 2\n")
    held = [Client(s.port) for _ in range(2)]
    try:
        for c in held:
            c.send(request(path="/t/sleep?ms=1200", headers={"Host": "h"}))
        time.sleep(0.3)
        t0 = time.monotonic()
        r = ask(s.port, path="/t/sleep?ms=1")
        assert r.status == 503 and r.header("Retry-After") == "1"
        assert time.monotonic() - t0 < 0.5              # at once, not after the queue drains
        for c in held:
            r = c.read_response()
            assert (r.status, r.body) == (200, b"slept 1200")
    finally:
        for c in held:
            c.close()
    assert ask(s.port, path="/t/sleep?ms=1").body == b"slept 1"   # room again
    assert ask(s.port, path="/t/stats").body == b"works 3 dones 3 aborts 0"


def stats(s):
    return ask(s.port, path="/t/stats").body.decode()


def test_clients_that_leave_while_offloaded(server_factory):
    """Their work still runs; done does not; nothing is answered to a socket that is gone, and
    the module's offload arguments are let go on the right side (ASan: no use after free,
    no leak)."""
    s = sleepy_server(server_factory, server="offload_threads = 4\n")
    pid = list(s.worker_slots().values())[0]

    def leave(n, reset):
        for _ in range(n):
            c = Client(s.port)
            c.send(request(path="/t/sleep?ms=300", headers={"Host": "h"}))
            time.sleep(0.05)
            if reset:   # RST: the kernel reports the connection gone at once
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()

    leave(3, reset=True)
    wait_until(lambda: stats(s).startswith("works 3 "), 3, what="the work of 3 requests")
    time.sleep(0.1)
    assert stats(s) == "works 3 dones 0 aborts 3"

    # A FIN alone: the worker may take it for a half-close and answer into it, or abort.
    leave(3, reset=False)
    wait_until(lambda: stats(s).startswith("works 6 "), 3, what="the work of 3 more requests")
    time.sleep(0.1)
    m = re.fullmatch(r"works 6 dones (\d+) aborts (\d+)", stats(s))
    assert m and int(m.group(1)) + int(m.group(2)) - 3 == 3, stats(s)
    print(f"after 3 clients sent FIN while offloaded: {stats(s)}")
    assert ask(s.port, path="/t/sleep?ms=1").body == b"slept 1"
    assert list(s.worker_slots().values()) == [pid]   # the same worker, alive


# --------------------------------------------------------------------------- the scheduler nudge

def threads_named(pid, name):
    """{tid: (scheduling policy, voluntary context switches)} of pid's threads called name."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != name:
                continue
            stat = (task / "stat").read_text()
            policy = int(stat[stat.rindex(")") + 2:].split()[38])
            switches = int(re.search(r"voluntary_ctxt_switches:\s+(\d+)", (task / "status").read_text()).group(1))
        except (OSError, AttributeError):
            continue   # the thread ended
        found[int(task.name)] = (policy, switches)
    return found


SCHED_IDLE = 5


def nudge_wakes(pid, tid, seconds):
    """(voluntary context switches of thread tid, the seconds they were counted over)."""
    first, t0 = threads_named(pid, "pfd-nudge")[tid][1], time.monotonic()
    time.sleep(seconds)
    return threads_named(pid, "pfd-nudge")[tid][1] - first, time.monotonic() - t0


def test_while_a_job_runs_a_normal_priority_thread_wakes_every_nudge(server_factory):
    s = sleepy_server(server_factory, server="offload_threads = 2\n")   # offload_nudge: 1ms
    pid = list(s.worker_slots().values())[0]
    assert ask(s.port, path="/t/sleep?ms=1").body == b"slept 1"   # starts the pool's threads
    time.sleep(0.3)
    helpers = threads_named(pid, "pfd-offload")
    nudge = threads_named(pid, "pfd-nudge")
    assert len(helpers) == 2 and all(policy == SCHED_IDLE for policy, _ in helpers.values()), helpers
    assert len(nudge) == 1, nudge
    (tid, (policy, _)), = nudge.items()
    assert policy == 0, "the nudge runs at normal priority (SCHED_OTHER), above the helpers"
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) > 1:   # slot 0's nudge stays on the first CPU it may use
        assert os.sched_getaffinity(tid) == {allowed[0]}, os.sched_getaffinity(tid)
    idle, _ = nudge_wakes(pid, tid, 0.5)
    assert idle <= 2, f"the nudge thread woke {idle} times in 0.5 s with no job running"

    with Client(s.port) as c:   # a job after a quiet spell: the nudge must start again
        c.send(request(path="/t/sleep?ms=1500", headers={"Host": "h"}))
        time.sleep(0.3)
        woke, took = nudge_wakes(pid, tid, 0.6)
        assert c.read_response().body == b"slept 1500"
    print(f"nudge thread woke {woke} times in {took:.2f} s while a job ran")
    # Every 1 ms (~600), and surely more often than every 10 ms even on a loaded machine;
    # never more than its period allows (not spinning).
    assert took / 0.010 <= woke <= 1.2 * took / 0.001 + 10, (woke, took)
    time.sleep(0.2)
    after, _ = nudge_wakes(pid, tid, 0.5)
    assert after <= 2, f"the nudge thread woke {after} times in 0.5 s after the job ended"


def test_offload_nudge_0s_starts_no_nudge_thread(server_factory):
    s = sleepy_server(server_factory, server='offload_threads = 1\noffload_nudge = "0s"\n')
    pid = list(s.worker_slots().values())[0]
    with Client(s.port) as c:
        c.send(request(path="/t/sleep?ms=600", headers={"Host": "h"}))
        time.sleep(0.3)
        assert len(threads_named(pid, "pfd-offload")) == 1
        assert threads_named(pid, "pfd-nudge") == {}
        assert c.read_response().body == b"slept 600"
