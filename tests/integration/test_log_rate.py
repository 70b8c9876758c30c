"""Error lines a client or the kernel can repeat are rate-limited (issue 11, item 4).

Under file-descriptor exhaustion a worker's accept fails at every 100 ms tick; it used
to log each failure ("accept failed: Too many open files", ten lines a second). Now it
logs the first and then one line per 10 s window with the count of the others, and it
goes on serving once descriptors are free again.
"""
import os
import re
import resource
import socket
import time

from conftest import Client, request, wait_until

HELD = 24          # connections beyond the worker's descriptor limit
STORM_SECONDS = 3.0
ACCEPT_FAILED = "accept failed: Too many open files"


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def accept_failures(text):
    return [line for line in text.splitlines() if ACCEPT_FAILED in line]


def test_accept_failing_for_want_of_fds_is_logged_once_per_window(server_factory):
    srv = server_factory(workers=1, extra="[limits]\nmax_connections = 1000\n")
    (worker,) = srv.worker_slots().values()
    # Served before the shortage too. (It also warms UBSan's type cache in a sanitizer
    # build: a cache miss needs a pipe to probe memory, which a process out of file
    # descriptors cannot open, and it would report a false "invalid vptr".)
    assert _answers(srv.port)
    # The worker's own limit, soft and hard (the master raises its soft limit to the hard
    # one at start; the worker never raises it): a few descriptors above what it holds.
    limit = open_fds(worker) + 4
    resource.prlimit(worker, resource.RLIMIT_NOFILE, (limit, limit))
    held = []
    try:
        for _ in range(HELD):
            held.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        # The first few are accepted; the rest wait in the listen queue, each with a
        # request it gets an answer to once the worker can take it.
        for s in held:
            s.sendall(request())
        wait_until(lambda: accept_failures(srv.log_text()), 3.0, what="the first accept failure")
        time.sleep(STORM_SECONDS)
        failures = accept_failures(srv.log_text())
        # Some 30 ticks of failures, one line so far (the window is 10 s).
        assert len(failures) == 1, "\n".join(failures)
        assert failures[0].endswith(f"{ACCEPT_FAILED}; retrying every 100 ms"), failures[0]
        assert open_fds(worker) <= limit

        # Descriptors come free (the accepted clients leave, and a few queued ones): the
        # worker takes the next waiting connections and answers them.
        for s in held[:8]:
            s.close()
        for s in held[8:12]:
            data = s.recv(4096)
            assert data.startswith(b"HTTP/1.1 200 OK"), data
    finally:
        for s in held:
            s.close()
    wait_until(lambda: _answers(srv.port), 5.0, what="GET / to be answered once fds are free")
    # Once the window is over, one line counts what was held back.
    summary = wait_until(
        lambda: [l for l in accept_failures(srv.log_text()) if re.search(r"\(\d+ more in the last \d+ s\)$", l)],
        12.0, what="the summary line for the held-back accept failures")
    count = int(re.search(r"\((\d+) more in the last", summary[0]).group(1))
    assert count >= 10, summary[0]
    assert len(accept_failures(srv.log_text())) == 2, accept_failures(srv.log_text())


def _answers(port):
    try:
        with Client(port, timeout=2) as c:
            c.send(request(headers={"Host": "127.0.0.1", "Connection": "close"}))
            return c.read_response().status == 200
    except OSError:
        return False
