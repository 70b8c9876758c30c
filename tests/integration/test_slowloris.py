"""Slowloris: 10,000 connections that each sent part of a request head and then nothing.

While they are all open, a normal client must still be served quickly; and with a short
header_timeout the server must cut them off on time (408, then close).

The client side uses non-blocking sockets, connect_ex and poll, opening connections in
batches and waiting for the server's accept queue to drain between batches so the
listen backlog (4096) never overflows (an overflow costs a 1 s SYN retransmit).
"""
import errno
import os
import resource
import select
import socket
import time

import pytest

from conftest import Server, wait_until
from helpers import recv_all

N = 10_000
BATCH = 500
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nX-a: "
GET_ROOT = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
NEEDED_FDS = N + 500

ROUTES = """
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
"""


@pytest.fixture(scope="module", autouse=True)
def enough_fds():
    """Raises RLIMIT_NOFILE for this process (and the servers it starts) up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < NEEDED_FDS:
        pytest.skip(f"RLIMIT_NOFILE hard limit is {hard}; {N} slowloris connections need at least "
                    f"{NEEDED_FDS} (raise it with ulimit -Hn or LimitNOFILE=)")
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft == resource.RLIM_INFINITY or soft >= want:
        want = soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def start_server(tmp_path, header_timeout):
    extra = f'[limits]\nmax_connections = {N}\nheader_timeout = "{header_timeout}"\n'
    return Server(tmp_path, workers=2, extra=extra, routes=ROUTES).start()


# --------------------------------------------------------------------------- server-side views

def accept_queue(port):
    """Connections waiting in the listen queue of 127.0.0.1:port (rx_queue of the LISTEN entry).

    /proc/net/tcp lists listening sockets first, so this stops reading at the first other line.
    """
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[3] != "0A":
                break
            if parts[1] == want:
                return int(parts[4].split(":")[1], 16)
    raise AssertionError(f"no listening socket on 127.0.0.1:{port}")


def worker_fds(srv):
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in srv.worker_pids())


# --------------------------------------------------------------------------- opening connections

class Slowloris:
    """Opens n connections in batches; each sends PARTIAL_HEAD once connected."""

    def __init__(self, port):
        self.port = port
        self.socks = []
        self.sent_at = []       # monotonic time the partial head went out, per socket

    def open(self, n, deadline, after_batch=None):
        addr = ("127.0.0.1", self.port)
        while len(self.socks) < n:
            assert time.monotonic() < deadline, f"only {len(self.socks)} of {n} connections opened in time"
            batch = []
            for _ in range(min(BATCH, n - len(self.socks))):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
                rc = s.connect_ex(addr)
                if rc not in (0, errno.EINPROGRESS):
                    s.close()
                    raise AssertionError(f"connect_ex: {errno.errorcode.get(rc, rc)} after {len(self.socks)} "
                                         f"connections")
                batch.append(s)
            pending = {s.fileno(): s for s in batch}
            poller = select.poll()
            for fd in pending:
                poller.register(fd, select.POLLOUT)
            sent_at = {}
            while pending:
                assert time.monotonic() < deadline, f"{len(pending)} connects still pending"
                for fd, _ in poller.poll(100):
                    s = pending.pop(fd)
                    poller.unregister(fd)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, f"connect failed: {os.strerror(err)}"
                    assert s.send(PARTIAL_HEAD) == len(PARTIAL_HEAD)
                    sent_at[fd] = time.monotonic()
            for s in batch:
                self.socks.append(s)
                self.sent_at.append(sent_at[s.fileno()])
            if after_batch:
                after_batch(self)
            # Pace: the next batch only once the server has accepted this one.
            wait_until(lambda: accept_queue(self.port) == 0, max(0.1, deadline - time.monotonic()),
                       interval=0.005, what="the server to accept the batch")

    def close(self):
        for s in self.socks:
            s.close()
        self.socks.clear()


def timed_get(port, timeout=5.0):
    """A fresh connection, GET /: (seconds, response bytes)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = recv_all(c, until=b"\r\n\r\nhello word")
    return time.monotonic() - t0, data


# --------------------------------------------------------------------------- tests

def test_normal_client_served_while_10000_slowloris_connections_are_open(tmp_path):
    t_start = time.monotonic()
    deadline = t_start + 50.0
    srv = start_server(tmp_path, "30s")
    loris = Slowloris(srv.port)
    try:
        base_fds = worker_fds(srv)
        loris.open(N, deadline)
        opened_in = time.monotonic() - t_start
        # Every connection is held by a worker (none refused, none timed out yet).
        held = wait_until(lambda: (worker_fds(srv) - base_fds >= N) and worker_fds(srv) - base_fds,
                          max(0.1, deadline - time.monotonic()), what=f"workers to hold {N} connections")
        print(f"\n{N} slowloris connections open after {opened_in:.2f} s; workers hold {held} more fds")

        latencies = []
        for _ in range(5):
            took, data = timed_get(srv.port)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200]
            assert data.endswith(b"\r\n\r\nhello word"), data[-200:]
            latencies.append(took)
        print("normal client latency with 10,000 slowloris open: "
              + ", ".join(f"{t * 1000:.1f} ms" for t in latencies))
        assert max(latencies) < 1.0, latencies

        # Nobody was answered or closed: a slowloris connection just waits (header_timeout is 30 s).
        poller = select.poll()
        for s in loris.socks:
            poller.register(s.fileno(), select.POLLIN)
        ready = poller.poll(0)
        assert ready == [], f"{len(ready)} slowloris connections were answered or closed early"
        assert srv.proc.poll() is None
        log = srv.log_text()
        assert "killed by signal" not in log and "exited with code" not in log, log
        assert time.monotonic() < deadline
    finally:
        loris.close()
        srv.stop()
    print(f"test took {time.monotonic() - t_start:.1f} s")


def test_slowloris_connections_cut_off_at_header_timeout(tmp_path):
    t_start = time.monotonic()
    deadline = t_start + 50.0
    header_timeout = 2.0
    srv = start_server(tmp_path, "2s")
    loris = Slowloris(srv.port)
    sample_every = N // 200
    watch = select.poll()
    watched = {}    # fd -> index in loris.socks
    events = {}     # index -> monotonic time the server's answer or close was seen

    def collect(timeout_ms=0):
        for fd, _ in watch.poll(timeout_ms):
            i = watched.pop(fd)
            watch.unregister(fd)
            events[i] = time.monotonic()

    def watch_new(l):
        start = getattr(watch_new, "next", 0)
        for i in range(start, len(l.socks)):
            if i % sample_every == 0:
                watched[l.socks[i].fileno()] = i
                watch.register(l.socks[i].fileno(), select.POLLIN)
        watch_new.next = len(l.socks)
        collect()

    try:
        loris.open(N, deadline, after_batch=watch_new)
        print(f"\n{N} slowloris connections opened in {time.monotonic() - t_start:.2f} s")
        end = min(deadline, time.monotonic() + header_timeout + 4.0)
        while watched and time.monotonic() < end:
            collect(50)
        assert not watched, f"{len(watched)} of 200 sampled connections still open " \
                            f"{header_timeout + 4.0:.0f} s after the last was opened"
        assert len(events) == 200

        took = []
        for i, seen in sorted(events.items()):
            s = loris.socks[i]
            s.setblocking(False)
            data = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except BlockingIOError:
                pass   # the 408 came; the close follows it
            except ConnectionResetError:
                pass
            # Every one of them sent part of a head: each gets its 408, never a bare close.
            assert data.startswith(b"HTTP/1.1 408 "), f"connection {i}: {data[:200]!r}"
            assert b"\r\nConnection: close\r\n" in data, data
            took.append(seen - loris.sent_at[i])
        took.sort()
        print(f"sampled cut-off after: min {took[0]:.2f} s, median {took[len(took) // 2]:.2f} s, "
              f"max {took[-1]:.2f} s (header_timeout {header_timeout:.0f} s)")
        assert took[0] >= header_timeout - 0.3, took[:5]
        assert took[-1] <= header_timeout + 2.0, took[-5:]
        assert time.monotonic() < deadline
    finally:
        loris.close()
        srv.stop()
    print(f"test took {time.monotonic() - t_start:.1f} s")
