"""Memory per connection stays bounded whatever the client does (issue 11, item 2).

Clients that pipeline GETs and never read make the worker queue responses it cannot
send. The worker stops reading such a connection once about 256 KiB of output is
pending, so its memory must stay bounded however long they write, with no request
limit per connection, and come back once they are gone.
"""
import json
import socket
import subprocess
import threading
import time

from conftest import BIN, Client, request, wait_until

HOSTILE = 100
WRITE_SECONDS = 3.0
RSS_LIMIT_KIB = 64 * 1024
SETTLE_KIB = 8 * 1024
# Pipelined GETs, 25 bytes each: about 300 responses per 8 KiB read.
PIPELINE = b"GET / HTTP/1.1\r\nHost:x\r\n\r\n" * 2000

CONFIG = "[limits]\nmax_requests_per_connection = 0\nsend_timeout = \"60s\"\n"


def sanitized(pid):
    """An AddressSanitizer build: its allocator keeps freed memory in quarantine."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def answered_within(port, seconds):
    """Seconds a fresh client waits for GET / (fails past `seconds`)."""
    start = time.monotonic()
    with Client(port, timeout=seconds) as c:
        c.send(request(headers={"Host": "127.0.0.1", "Connection": "close"}))
        r = c.read_response()
    assert r.status == 200 and r.body == b"hello word", r
    return time.monotonic() - start


def open_writers(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        # A small receive window: the kernel holds little of what the worker sends,
        # so its own queue fills within the test's few seconds of writing.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    return socks


def write_for(socks, seconds, data=PIPELINE):
    """Writes pipelined GETs to every socket, never reading, for `seconds`."""
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        progress = False
        for s in socks:
            try:
                sent += s.send(data)
                progress = True
            except BlockingIOError:
                pass
        if not progress:
            time.sleep(0.01)
    return sent


def test_clients_that_never_read_do_not_grow_the_worker(server_factory):
    srv = server_factory(workers=1, extra=CONFIG)
    (worker,) = srv.worker_slots().values()
    base = rss_kib(worker)
    # Under ASan, RSS also holds the allocator's quarantine and shadow memory: a looser
    # bound (the unbounded code passed 300 MiB even in a release build), and freed
    # memory is not expected back.
    asan = sanitized(worker)
    limit = 4 * RSS_LIMIT_KIB if asan else RSS_LIMIT_KIB
    socks = open_writers(srv.port, HOSTILE)
    try:
        sent = write_for(socks, WRITE_SECONDS)
        assert sent > HOSTILE * 256 * 1024, f"the clients wrote only {sent} bytes"
        peak = rss_kib(worker)
        assert peak < limit, f"worker RSS {peak} KiB with {HOSTILE} clients that never read (was {base})"
        # The worker still serves everyone else at once, though under ASan it may still be
        # working through the pipelines (a few dozen answers per client and turn: before
        # that limit, a whole read's or output allowance's, it took 10 s beside two busy
        # loops).
        took = answered_within(srv.port, 2.0)
        assert took < 2.0, f"GET / took {took:.2f} s"
        # Still bounded after a second round of writing (nothing accumulates over time).
        write_for(socks, 1.0)
        peak = max(peak, rss_kib(worker))
        assert peak < limit, f"worker RSS {peak} KiB after more writing (was {base})"
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: _active(srv) == 0, 10.0, what="the clients' connections to close")
    if asan:
        assert answered_within(srv.port, 2.0) < 2.0
        return
    # Their memory is given back: the worker is back within SETTLE_KIB of where it started
    # (the 4 MiB receive-buffer ring, untouched then, is resident once the kernel has
    # filled every buffer: that is reuse, not growth).
    settled = wait_until(lambda: (r := rss_kib(worker)) < base + SETTLE_KIB and r, 5.0,
                         what=f"worker RSS to come back near {base} KiB from {peak} KiB")
    print(f"worker RSS: {base} KiB at start, {peak} KiB with {HOSTILE} clients that never read, "
          f"{settled} KiB after they left")
    assert answered_within(srv.port, 2.0) < 2.0


def test_a_fresh_client_is_answered_while_others_pipeline_without_reading(server_factory):
    # Each hostile client gets a turn of answers_per_turn answers; a fresh client waits
    # for one turn of each, not for a read's worth (some 300 answers) or a resume's (some
    # 2,000) of each. Under ASan beside two busy loops the slowest waited about 0.25 s
    # (9-11 s before turns were bounded); in a release build 12 ms.
    srv = server_factory(workers=1, extra=CONFIG)
    socks = open_writers(srv.port, HOSTILE)
    writer = threading.Thread(target=write_for, args=(socks, WRITE_SECONDS))
    slowest = 0.0
    asked = 0
    try:
        writer.start()
        time.sleep(0.3)   # the pipelines are in
        while writer.is_alive() and asked < 100:
            slowest = max(slowest, answered_within(srv.port, 2.0))
            asked += 1
            time.sleep(0.05)
    finally:
        writer.join()
        for s in socks:
            s.close()
    assert asked >= 3, f"only {asked} fresh clients were asked in {WRITE_SECONDS} s"
    assert slowest < 2.0, f"a fresh client waited {slowest:.2f} s"
    print(f"{asked} fresh clients beside {HOSTILE} pipelining ones: the slowest waited {slowest * 1000:.1f} ms")


def test_a_large_answer_does_not_multiply_one_read_into_megabytes(server_factory):
    # One 8 KiB read holds some 300 of these requests: answered all at once, 300 times
    # 32 KiB, 10 MiB per read and per client. Input is parsed only as far as the output
    # limit allows, so each client costs about 256 KiB plus one answer.
    big = "x" * 32 * 1024
    routes = f'[[route]]\npath = "/"\nbody = "hello word"\n\n[[route]]\npath = "/big"\nbody = "{big}"\n'
    srv = server_factory(workers=1, extra=CONFIG, routes=routes)
    (worker,) = srv.worker_slots().values()
    limit = 4 * RSS_LIMIT_KIB if sanitized(worker) else RSS_LIMIT_KIB
    clients = 20
    socks = open_writers(srv.port, clients)
    try:
        write_for(socks, 1.0, b"GET /big HTTP/1.1\r\nHost:x\r\n\r\n" * 300)
        peak = rss_kib(worker)
        assert peak < limit, f"worker RSS {peak} KiB with {clients} clients that never read /big"
        assert answered_within(srv.port, 2.0) < 2.0
    finally:
        for s in socks:
            s.close()


def _active(srv):
    """Open connections of the server's workers, from `preforkd status --json`."""
    out = subprocess.run([BIN, "status", "-c", str(srv.conf), "--json"],
                         capture_output=True, text=True, timeout=5).stdout
    try:
        return sum(w["active_connections"] for w in json.loads(out)["workers"])
    except (ValueError, KeyError):
        return None
