"""Supervision: hang detection, crash-loop back-off, recycling, graceful stop and its
timeout, `preforkd status`, the control socket, the pid file and `preforkd -s`.

Real processes, signals and sockets on 127.0.0.1; every loop is bounded in count and
time; only processes this file started are signalled, by pid.
"""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import threading
import time

import pytest

from conftest import (BIN, DEFAULT_ROUTES, WORKER_TITLE, Client, ConnectionClosed, absent, alive, cmdline,
                      request, wait_until)
from helpers import (cli, finish_last_request, kill_slot_and_wait_respawn, refused, status_json, status_workers,
                     supervised, tcp_queues, worker_uptime)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z preforkd\[\d+\] (master|worker \d+): \S")

STATUS_COLUMNS = ["SLOT", "PID", "GEN", "STATE", "UPTIME", "RESTARTS", "REQUESTS", "REQ/S", "ACTIVE",
                  "RSS_KIB", "CPU%"]
WORKER_JSON_KEYS = {"slot", "pid", "generation", "spawn", "state", "uptime_s", "restarts", "requests", "requests_per_s",
                    "active_connections", "accepted_connections", "bytes_in", "bytes_out", "status_1xx",
                    "status_2xx", "status_3xx", "status_4xx", "status_5xx", "rss_bytes", "cpu_percent", "full"}

BIG_BODY_SIZE = 8 * 1024 * 1024   # more than the kernel's largest send buffer here (4 MiB)
_PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"   # 64 bytes
BIG_BODY = _PATTERN * (BIG_BODY_SIZE // len(_PATTERN))
BIG_ROUTES = DEFAULT_ROUTES + f"""
[[route]]
path = "/big"
body = '{BIG_BODY.decode()}'
content_type = "application/octet-stream"
"""


# --------------------------------------------------------------------------- helpers

def log_lines(s):
    return s.log_text().splitlines()


def assert_one_line_per_event(s):
    bad = [l for l in log_lines(s) if not LOG_LINE.match(l)]
    assert not bad, f"log lines that are not one whole event each: {bad[:5]}"


def exit_lines(s, pid):
    """The log lines about worker `pid` other than its 'started' line."""
    return [l for l in log_lines(s) if re.search(rf"\bpid {pid}\b", l) and "started" not in l]


def slot_titles(s):
    """Slots of the live workers by title, one entry per worker (a recycle overlaps two)."""
    return [int(m.group(1)) for p in s.worker_pids() if (m := WORKER_TITLE.match(cmdline(p) or ""))]


def raw_connect(port, rcvbuf, timeout=5.0):
    """A connection whose receive buffer is fixed small (no autotuning), set before connect."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def read_head(sock):
    """Reads up to the end of a response head; returns (status, headers dict lowercased, leftover)."""
    buf = b""
    for _ in range(1000):
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            break
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionClosed(f"closed before the response head ended: {buf!r}")
        buf += chunk
    else:
        raise AssertionError("response head never ended")
    lines = buf[:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, buf[end + 4:]


def peer_closes(sock, timeout=3.0):
    sock.settimeout(timeout)
    try:
        data = sock.recv(65536)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    assert not data, f"expected a close, got {len(data)} more bytes"
    return True


def run_load(port, seconds, threads=4):
    """Keep-alive GET / from several threads for `seconds`; returns (ok, failures, errors)."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"ok": 0, "fail": 0}
    errors = []
    req = request(path="/")

    def client():
        ok = fail = 0
        c = None
        for _ in range(1_000_000):
            if time.monotonic() >= deadline:
                break
            try:
                if c is None:
                    c = Client(port, timeout=3.0)
                c.send(req)
                r = c.read_response()
                if r.status != 200 or r.body != b"hello word":
                    raise AssertionError(f"bad response {r!r}")
                ok += 1
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, ConnectionClosed, AssertionError) as e:
                fail += 1
                with lock:
                    errors.append(repr(e))
                if c is not None:
                    c.close()
                    c = None
        if c is not None:
            c.close()
        with lock:
            totals["ok"] += ok
            totals["fail"] += fail

    ts = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 15)
    assert not any(t.is_alive() for t in ts), "a load thread did not finish"
    return totals["ok"], totals["fail"], errors


# --------------------------------------------------------------------------- configuration

def test_supervisor_keys_are_accepted(tmp_path):
    conf = tmp_path / "ok.toml"
    conf.write_text(
        '[server]\nlisten = "127.0.0.1:9"\nworkers = 1\n'
        f'pid_file = "{tmp_path}/x.pid"\ncontrol_socket = "{tmp_path}/x.sock"\n'
        '[supervisor]\nworker_timeout = "2s"\ngraceful_timeout = "500ms"\nmin_uptime = "1s"\n'
        'restart_delay_max = "10s"\nmax_requests = 1000\nmax_requests_jitter = 100\nmax_memory = "512MiB"\n')
    r = cli("-t", "-c", conf)
    assert r.returncode == 0, r.stderr
    conf.write_text(conf.read_text().replace('max_memory = "512MiB"', "max_memory = 536870912"))
    r = cli("-t", "-c", conf)
    assert r.returncode == 0, r.stderr


def test_bad_supervisor_values_are_reported(tmp_path):
    conf = tmp_path / "bad.toml"
    conf.write_text(
        '[server]\nlisten = "127.0.0.1:9"\nworkers = 1\n'
        '[supervisor]\nworker_timeout = "2 parsecs"\nmax_requests = -1\nmax_memory = "lots"\n'
        'restart_delay = "1s"\n')
    r = cli("-t", "-c", conf)
    assert r.returncode == 1, r
    lines = [l for l in r.stderr.splitlines() if l.startswith(f"{conf}:")]
    assert len(lines) == 4, r.stderr
    for line_no, key in [(5, "worker_timeout"), (6, "max_requests"), (7, "max_memory"), (8, "restart_delay")]:
        assert any(l.startswith(f"{conf}:{line_no}:") and key in l for l in lines), (key, r.stderr)


# --------------------------------------------------------------------------- hang detection

def test_stopped_worker_is_killed_and_replaced(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2, worker_timeout="1s")
    before = s.worker_slots()
    old = before[0]
    os.kill(old, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        new = wait_until(lambda: (p := s.worker_slots().get(0)) not in (None, old) and p, 2.0,
                         interval=0.01, what="a new worker in slot 0 within worker_timeout + 1 s")
        elapsed = time.monotonic() - t0
        wait_until(lambda: absent(old), 1.0, what="the stopped worker to be gone (killed and reaped)")
    finally:
        if alive(old):
            os.kill(old, signal.SIGKILL)
    assert new != old
    assert elapsed >= 0.8, f"worker replaced {elapsed:.2f} s after SIGSTOP, before worker_timeout (1 s)"
    assert s.worker_slots()[1] == before[1], "the healthy worker must not be touched"
    hb = [l for l in log_lines(s) if "no heartbeat" in l]
    assert len(hb) == 1, hb
    assert "worker 0" in hb[0] and f"pid {old}" in hb[0], hb
    ex = exit_lines(s, old)
    assert len(ex) == 2 and "killed by signal 9" in ex[1], ex   # the no-heartbeat line, then its death
    with Client(s.port) as c:
        for _ in range(4):
            c.send(request(path="/"))
            assert c.read_response().status == 200
    assert_one_line_per_event(s)


# --------------------------------------------------------------------------- crash-loop back-off

DEATH = re.compile(r"worker 0 pid (\d+) killed by signal 9 \(Killed\) after (\d+\.\d) s; (.*)$")


def test_crash_loop_backs_off_caps_and_resets(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1, min_uptime="1s", restart_delay_max="400ms")
    expected = [0, 100, 200, 400, 400]
    kills = [kill_slot_and_wait_respawn(s, 0, within=2.0) for _ in expected]
    for (pid, _, elapsed), ms in zip(kills, expected):
        assert elapsed >= ms / 1000 - 0.02, f"pid {pid}: respawned after {elapsed:.3f} s, expected {ms} ms"
        assert elapsed < ms / 1000 + 0.3, f"pid {pid}: respawned after {elapsed:.3f} s, expected {ms} ms"
    for (pid, _, _), ms in zip(kills, expected):
        lines = exit_lines(s, pid)
        assert len(lines) == 1, f"pid {pid}: expected one line for its death, got {lines}"
        m = DEATH.search(lines[0])
        assert m, lines[0]
        assert float(m.group(2)) < 1.0, lines[0]
        if ms == 0:
            assert m.group(3) == "respawning now" or m.group(3).endswith("respawn in 0 ms"), lines[0]
        else:
            assert m.group(3).endswith(f"respawn in {ms} ms"), lines[0]
    assert "respawn in 800 ms" not in s.log_text(), "restart_delay_max (400ms) not applied"

    # A worker that lives past min_uptime resets the sequence: 0, 0, 100 ms again.
    current = s.worker_slots()[0]
    wait_until(lambda: (worker_uptime(current) or 0) > 1.15, 3.0, interval=0.05,
               what="the worker to pass min_uptime")
    reset = [kill_slot_and_wait_respawn(s, 0, within=2.0) for _ in range(3)]
    assert reset[0][2] < 0.15, f"respawn after a long-lived worker took {reset[0][2]:.3f} s"
    assert reset[1][2] < 0.15, f"first early death after a reset waited {reset[1][2]:.3f} s"
    assert 0.08 <= reset[2][2] < 0.4, f"second early death after a reset waited {reset[2][2]:.3f} s"
    for (pid, _, _), want in zip(reset, ["respawning now", "respawning now", "respawn in 100 ms"]):
        lines = exit_lines(s, pid)
        assert len(lines) == 1 and lines[0].endswith(want), (want, lines)
    assert_one_line_per_event(s)


# --------------------------------------------------------------------------- recycling

RECYCLE = re.compile(r"worker (\d+) pid (\d+) served (\d+) requests \(max_requests (\d+)\): recycling it$")


def every_recycle_has_started_a_replacement(lines):
    """Whether each 'recycling it' line is followed by a start in its slot."""
    for i, line in enumerate(lines):
        m = RECYCLE.search(line)
        if m and not any(re.search(rf"worker {m.group(1)} started, pid \d+", l) for l in lines[i + 1:]):
            return False
    return True


@pytest.mark.parametrize("balance", ["shared", "reuseport"])
def test_recycling_under_load_loses_no_request(server_factory, ctl_dir, balance):
    s = supervised(server_factory, ctl_dir, workers=2, balance=balance, max_requests=400,
                   max_requests_jitter=200)
    ok, failed, errors = run_load(s.port, 3.0, threads=4)
    assert failed == 0, f"{failed} failed requests of {ok + failed} during recycling: {errors[:5]}"
    assert ok > 1000, f"only {ok} requests in 3 s"
    # The master logs a recycle, forks, then logs the replacement's start: a recycle at the
    # load's very end may be read between the two (an ASan fork takes a while).
    def complete_log():
        lines = log_lines(s)
        return lines if every_recycle_has_started_a_replacement(lines) else None

    lines = wait_until(complete_log, 5.0, what="a replacement started for every recycle")
    recycled = [(i, RECYCLE.search(l)) for i, l in enumerate(lines) if "recycling it" in l]
    assert len(recycled) >= 2, "expected workers to be recycled, log:\n" + "\n".join(lines)
    for i, m in recycled:
        assert m, lines[i]
        slot, pid, served, limit = (int(g) for g in m.groups())
        assert 400 <= limit <= 600, lines[i]
        assert served >= limit, lines[i]
        # A replacement in the same slot is started before the old worker goes.
        started = next((j for j in range(i + 1, len(lines))
                        if re.search(rf"worker {slot} started, pid \d+", lines[j])), None)
        gone = [j for j in range(len(lines)) if re.search(rf"worker {slot} pid {pid} (exited|killed)", lines[j])]
        assert started is not None, f"no replacement started after: {lines[i]}"
        if gone:
            assert gone[0] > started, f"worker {pid} exited before its replacement started"
            assert "exited with code 0" in lines[gone[0]], lines[gone[0]]
    assert not [l for l in lines if "respawn" in l], "a worker died unplanned during recycling"
    wait_until(lambda: sorted(slot_titles(s)) == [0, 1], 5.0, what="one worker per slot after the load")
    assert_one_line_per_event(s)


def test_max_memory_recycles(server_factory, ctl_dir):
    # Every worker is over 1 KiB, so slot 0 is recycled again and again: during each
    # overlap two workers share the slot, so the fixture's one-per-slot wait is skipped.
    s = supervised(server_factory, ctl_dir, workers=1, max_memory="1KiB", start=False)
    s.start(wait_workers=False)
    m = wait_until(lambda: re.search(r"worker 0 pid (\d+) uses (\d+) KiB \(max_memory 1 KiB\): recycling it$",
                                     s.log_text(), re.M), 3.0, what="a max_memory recycle")
    pid, kib = int(m.group(1)), int(m.group(2))
    assert kib > 1, m.group(0)
    wait_until(lambda: re.search(rf"worker 0 pid {pid} exited with code 0", s.log_text()), 3.0,
               what=f"the recycled worker {pid} to drain and exit")
    for _ in range(3):
        with Client(s.port) as c:
            c.send(request(path="/", headers={"Host": "x", "Connection": "close"}))
            assert c.read_response().status == 200
    assert "respawn" not in s.log_text(), s.log_text()


# --------------------------------------------------------------------------- graceful stop

def test_quit_lets_a_slow_download_finish(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2, routes=BIG_ROUTES, graceful_timeout="10s")
    sock = raw_connect(s.port, 64 * 1024)
    try:
        sock.sendall(request(path="/big"))
        status, headers, body = read_head(sock)
        assert status == 200 and int(headers["content-length"]) == BIG_BODY_SIZE, headers
        client_port = sock.getsockname()[1]
        for _ in range(200):   # take a little, slowly
            if len(body) >= 256 * 1024:
                break
            body += sock.recv(16 * 1024)
            time.sleep(0.002)
        q = tcp_queues(s.port, client_port)
        assert q is not None and q[0] > 0, f"the response is not in flight any more: {q}"
        s.signal(signal.SIGQUIT)
        deadline = time.monotonic() + 20
        for _ in range(100_000):
            if len(body) >= BIG_BODY_SIZE or time.monotonic() > deadline:
                break
            chunk = sock.recv(32 * 1024)
            if not chunk:
                break
            body += chunk
            time.sleep(0.002)
        assert len(body) == BIG_BODY_SIZE, f"got {len(body)} of {BIG_BODY_SIZE} bytes after SIGQUIT"
        assert body == BIG_BODY, "body corrupted"
        assert peer_closes(sock, 3.0), "the connection stayed open after the response"
    finally:
        sock.close()
    wait_until(s.exited, 5.0, what="the master to exit after SIGQUIT")
    assert s.proc.returncode == 0
    text = s.log_text()
    assert "killed by signal" not in text and "SIGKILL" not in text, text
    assert_one_line_per_event(s)


def stuck_download(s):
    """A client that asks for /big and reads nothing: the server is left stuck sending."""
    sock = raw_connect(s.port, 4096)
    sock.sendall(request(path="/big"))
    client_port = sock.getsockname()[1]
    wait_until(lambda: (q := tcp_queues(s.port, client_port)) is not None and q[0] > 0, 3.0,
               what="the server to be stuck sending")
    return sock


@pytest.mark.parametrize("balance", ["shared", "reuseport"])
def test_quit_refuses_new_connections_at_once_while_draining(server_factory, ctl_dir, balance):
    # While a slow download keeps a worker draining, the listening sockets must be
    # closed (by the master and every worker): a new client is refused at once, not
    # left in a listen queue that nobody accepts from until the master exits.
    s = supervised(server_factory, ctl_dir, workers=2, balance=balance, routes=BIG_ROUTES,
                   graceful_timeout="10s")
    sock = stuck_download(s)
    try:
        s.signal(signal.SIGQUIT)
        wait_until(lambda: "received SIGQUIT" in s.log_text(), 3.0, what="the master to take SIGQUIT")
        outcomes = []
        for _ in range(20):   # until every worker has let go (they act on their own SIGQUIT)
            time.sleep(0.1)
            t0 = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", s.port), timeout=2.0) as c:
                    c.sendall(request(path="/", headers={"Host": "x", "Connection": "close"}))
                    data = b""
                    while chunk := c.recv(4096):
                        data += chunk
                    outcomes.append(("answered", data.startswith(b"HTTP/1.1 200") and data.endswith(b"hello word")))
            except ConnectionRefusedError:
                outcomes.append(("refused", True))
            except OSError as e:   # a timeout: queued for nobody
                outcomes.append((f"{type(e).__name__} after {time.monotonic() - t0:.1f} s", False))
            if outcomes[-1][0] == "refused":
                break
        assert all(ok for _, ok in outcomes), outcomes
        assert outcomes[-1][0] == "refused", f"still accepting 2 s after SIGQUIT: {outcomes}"
        assert alive(s.proc.pid), "the master must still be waiting for the download"
    finally:
        sock.close()
    wait_until(s.exited, 12.0, what="the master to exit once the download is dropped")


def test_graceful_timeout_cuts_a_client_that_never_reads(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2, routes=BIG_ROUTES, graceful_timeout="1s")
    sock = stuck_download(s)
    try:
        busy = wait_until(lambda: [w for w in status_workers(s) if w["active_connections"] == 1], 3.0,
                          interval=0.05, what="status to show the busy worker")
        assert len(busy) == 1, busy
        busy_pid = busy[0]["pid"]
        idle_pids = [p for p in s.worker_slots().values() if p != busy_pid]
        s.signal(signal.SIGQUIT)
        t0 = time.monotonic()
        wait_until(s.exited, 3.5, what="the master to exit once graceful_timeout (1 s) passed")
        elapsed = time.monotonic() - t0
    finally:
        sock.close()
    assert elapsed >= 0.8, f"master exited {elapsed:.2f} s after SIGQUIT, before graceful_timeout"
    ex = [l for l in exit_lines(s, busy_pid) if "after" in l and ("killed" in l or "exited" in l)]
    assert ex and "killed by signal 9" in ex[-1], exit_lines(s, busy_pid)
    for pid in idle_pids:
        assert any("exited with code 0" in l for l in exit_lines(s, pid)), exit_lines(s, pid)
    assert_one_line_per_event(s)


# --------------------------------------------------------------------------- preforkd status

def test_status_table_and_json(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=3)
    slots = s.worker_slots()
    r = cli("status", "-c", s.conf)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = [i for i, l in enumerate(lines) if l.split() == STATUS_COLUMNS]
    assert len(header) == 1, r.stdout
    rows = [l.split() for l in lines[header[0] + 1:] if l.strip()]
    assert len(rows) == 3, r.stdout
    assert {int(row[0]): int(row[1]) for row in rows} == slots, (r.stdout, slots)
    assert all(len(row) == len(STATUS_COLUMNS) for row in rows), r.stdout

    doc = status_json(s)
    assert set(doc) == {"master", "workers"}, doc
    m = doc["master"]
    assert set(m) == {"pid", "uptime_s", "listen", "balance"}, m
    assert m["pid"] == s.pid and m["listen"] == f"127.0.0.1:{s.port}" and m["balance"] == "shared", m
    assert isinstance(m["uptime_s"], (int, float)) and m["uptime_s"] >= 0, m
    ws = doc["workers"]
    assert len(ws) == 3, ws
    for w in ws:
        assert set(w) == WORKER_JSON_KEYS, w
        for k in WORKER_JSON_KEYS - {"state", "uptime_s", "requests_per_s", "cpu_percent", "full"}:
            assert isinstance(w[k], int) and w[k] >= 0, (k, w)
        assert w["state"] == "ready", w
        assert w["full"] is False, w
        assert w["rss_bytes"] > 0, w
    assert {w["slot"]: w["pid"] for w in ws} == slots
    assert {w["generation"] for w in ws} == {1}, ws
    assert {w["spawn"] for w in ws} == {1}, ws


def test_status_requests_sum_to_requests_sent(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    sent = 0
    conns = 0
    for _ in range(7):                      # 7 keep-alive connections, 5 requests each
        with Client(s.port) as c:
            conns += 1
            for _ in range(5):
                c.send(request(path="/"))
                assert c.read_response().status == 200
                sent += 1
    for _ in range(12):                     # 12 single-request connections
        with Client(s.port) as c:
            conns += 1
            c.send(request(path="/", headers={"Host": "x", "Connection": "close"}))
            assert c.read_response().status == 200
            sent += 1
    assert sent == 47
    total = lambda: sum(w["requests"] for w in status_workers(s))   # noqa: E731
    wait_until(lambda: total() == sent, 3.0, interval=0.05, what=f"status requests to sum to {sent}")
    time.sleep(0.3)
    ws = status_workers(s)
    assert sum(w["requests"] for w in ws) == sent, ws
    assert sum(w["accepted_connections"] for w in ws) >= conns, ws
    assert sum(w["bytes_in"] for w in ws) >= sent * len(request(path="/")), ws
    assert sum(w["bytes_out"] for w in ws) >= sent * len(b"hello word"), ws


def test_status_rate_of_a_new_worker_counts_from_its_start(server_factory, ctl_dir):
    # A replacement worker serves a burst before the master's next once-a-second sample,
    # then nothing: its REQ/S over the last 10 s must include the burst (it was 0.0).
    s = supervised(server_factory, ctl_dir, workers=1)
    _, new, _ = kill_slot_and_wait_respawn(s, 0)
    sent = 0
    with Client(s.port) as c:
        t_end = time.monotonic() + 0.3
        while time.monotonic() < t_end and sent < 2000:   # under max_requests_per_connection
            c.send(request(path="/"))
            assert c.read_response().status == 200
            sent += 1
    time.sleep(1.5)   # at least one sample after the burst
    (w,) = [w for w in status_workers(s) if w["pid"] == new]
    assert w["requests"] == sent, (w, sent)
    assert abs(w["requests_per_s"] * w["uptime_s"] - sent) <= 0.1 * sent, (w, sent)


def test_status_active_connections(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    active = lambda: sum(w["active_connections"] for w in status_workers(s))   # noqa: E731
    clients = []
    try:
        for _ in range(5):
            c = Client(s.port)
            clients.append(c)
            c.send(request(path="/"))
            assert c.read_response().status == 200
        wait_until(lambda: active() == 5, 3.0, interval=0.05, what="5 active connections in status")
        for c in clients[:2]:
            c.close()
        wait_until(lambda: active() == 3, 3.0, interval=0.05, what="3 active connections in status")
    finally:
        for c in clients:
            c.close()
    wait_until(lambda: active() == 0, 3.0, interval=0.05, what="0 active connections in status")


def test_status_restarts_after_kill9(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    assert all(w["restarts"] == 0 for w in status_workers(s))
    _, new, _ = kill_slot_and_wait_respawn(s, 1)

    def shows(pid):
        ws = {w["slot"]: w for w in status_workers(s)}
        return ws.get(1, {}).get("pid") == pid and ws
    ws = wait_until(lambda: shows(new), 3.0, interval=0.05, what="status to show the new worker in slot 1")
    assert ws[1]["restarts"] == 1, ws
    assert ws[0]["restarts"] == 0, ws
    assert ws[1]["generation"] == ws[0]["generation"] == 1, ws
    assert (ws[0]["spawn"], ws[1]["spawn"]) == (1, 2), ws
    _, newer, _ = kill_slot_and_wait_respawn(s, 1)
    ws = wait_until(lambda: shows(newer), 3.0, interval=0.05, what="status to show the second replacement")
    assert ws[1]["restarts"] == 2, ws
    table = cli("status", "-c", s.conf).stdout
    row = [l.split() for l in table.splitlines() if l.split()[:2] == ["1", str(newer)]]
    assert row and row[0][STATUS_COLUMNS.index("RESTARTS")] == "2", table


# --------------------------------------------------------------------------- control socket, pid file, -s

def test_control_socket_is_private_and_pid_file_names_master(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1)
    st = os.stat(s.ctl)
    assert stat.S_ISSOCK(st.st_mode), oct(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert s.pid_file.read_text().strip() == str(s.pid)


def test_default_pid_file_and_control_socket(server_factory):
    # In a directory no other user can write (issue 11): /run/preforkd for root,
    # $XDG_RUNTIME_DIR/preforkd or /tmp/preforkd-<uid> otherwise; no longer bare /tmp.
    from conftest import default_runtime_path
    s = server_factory(workers=1)
    pid_file = default_runtime_path(s.port, "pid")
    sock = default_runtime_path(s.port, "sock")
    with open(pid_file) as f:
        assert f.read().strip() == str(s.pid)
    st = os.stat(pid_file)
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == os.geteuid(), (oct(st.st_mode), st.st_uid)
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    d = os.lstat(os.path.dirname(pid_file))
    others = 0o022 if os.geteuid() == 0 else 0o077
    assert stat.S_ISDIR(d.st_mode) and d.st_uid == os.geteuid() and d.st_mode & others == 0, oct(d.st_mode)
    assert not os.path.exists(f"/tmp/preforkd-{s.port}.pid") and not os.path.exists(f"/tmp/preforkd-{s.port}.sock")
    r = cli("status", "-c", s.conf, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["master"]["pid"] == s.pid, r


@pytest.mark.parametrize("balance", ["shared", "reuseport"])
def test_second_master_refuses_to_start(server_factory, ctl_dir, balance):
    s = supervised(server_factory, ctl_dir, workers=1, balance=balance)
    code, out = refused(s.conf)
    assert code != 0, out
    assert "another preforkd master" in out, f"exit {code}, output: {out!r}"
    # The first master is untouched.
    assert not s.exited()
    assert s.pid_file.read_text().strip() == str(s.pid)
    assert status_json(s)["master"]["pid"] == s.pid
    with Client(s.port) as c:
        c.send(request(path="/"))
        assert c.read_response().status == 200


def test_signal_stop_from_pid_file(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    workers = list(s.worker_slots().values())
    with Client(s.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")   # an unfinished request: stop does not wait for it
        r = cli("-s", "stop", "-c", s.conf)
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        wait_until(s.exited, 2.0, what="the master to stop")
        elapsed = time.monotonic() - t0
        assert c.closed_by_peer(2.0)
    assert elapsed < 1.5, f"stop took {elapsed:.2f} s"
    assert s.proc.returncode == 0
    assert "received SIGTERM" in s.log_text()
    wait_until(lambda: all(absent(p) for p in workers), 1.0, what="workers gone")


def test_signal_quit_from_pid_file_is_graceful(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    raw = request(path="/", headers={"Host": "127.0.0.1", "User-Agent": "quit-test"})
    half = len(raw) // 2
    with Client(s.port) as c:
        c.send(raw[:half])
        port = c.sock.getsockname()[1]
        wait_until(lambda: tcp_queues(s.port, port) == (0, 0), 3.0, what="a worker to read the half request")
        time.sleep(0.05)
        r = cli("-s", "quit", "-c", s.conf)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: "received SIGQUIT" in s.log_text(), 2.0, what="the master to log SIGQUIT")
        wait_until(lambda: len(s.worker_pids()) == 1, 3.0, what="the idle worker to exit")
        assert not s.exited(), "the master exited with a request in flight"
        finish_last_request(c, raw[half:])
    wait_until(s.exited, 3.0, what="the master to exit after quit")
    assert s.proc.returncode == 0


def test_no_master_running(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1, start=False)
    for sig in ("stop", "quit"):
        r = cli("-s", sig, "-c", s.conf)
        assert r.returncode == 1, r
        assert "not running" in r.stderr, r.stderr
    for args in (["status", "-c", s.conf], ["status", "-c", s.conf, "--json"]):
        r = cli(*args)
        assert r.returncode == 1, r
        assert r.stdout == "", r.stdout
    # A stale pid file naming a process that is gone.
    gone = subprocess.Popen(["true"])
    gone.wait(5)
    s.pid_file.write_text(f"{gone.pid}\n")
    r = cli("-s", "stop", "-c", s.conf)
    assert r.returncode == 1 and "not running" in r.stderr, r


# --------------------------------------------------------------------------- robustness of the master

def started_count(s):
    return len(re.findall(r"^.* master: worker \d+ started, pid \d+", s.log_text(), re.M))


def test_max_memory_below_a_fresh_worker_never_forks_without_end(server_factory, ctl_dir):
    # Every fresh worker is already over 1 MiB: each slot is recycled at most once per
    # min_uptime (0.5 s here), never a replacement of a replacement at once.
    s = supervised(server_factory, ctl_dir, workers=2, max_memory="1MiB", min_uptime="500ms", start=False)
    s.start(wait_workers=False)
    time.sleep(3.0)
    started = started_count(s)
    assert 2 < started <= 2 + 2 * 7, (started, s.log_text()[-2000:])
    assert len(s.worker_pids()) <= 4
    with Client(s.port) as c:
        c.send(request(path="/", headers={"Host": "x", "Connection": "close"}))
        assert c.read_response().status == 200


def test_a_slow_control_client_does_not_stall_the_master(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    stop = threading.Event()

    def trickle():
        # One byte every 0.2 s and never a newline: the master must give up on it quickly.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(str(s.ctl))
            for _ in range(40):
                if stop.is_set():
                    return
                try:
                    c.send(b"s")
                except OSError:
                    return
                time.sleep(0.2)

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        old, new, took = kill_slot_and_wait_respawn(s, 0, within=2.0)
        assert took < 1.0, took
        t0 = time.monotonic()
        assert len(status_workers(s)) == 2
        assert time.monotonic() - t0 < 2.0
    finally:
        stop.set()
        t.join(10)


def test_second_master_does_not_take_over_when_the_control_socket_is_gone(server_factory, ctl_dir):
    # The control socket file was removed (a tmp cleaner): the running master is found
    # from its pid file instead, and keeps its pid file.
    s = supervised(server_factory, ctl_dir, workers=1, balance="reuseport")
    s.ctl.unlink()
    second = subprocess.run([BIN, "-c", str(s.conf)], capture_output=True, text=True, timeout=10,
                            stdin=subprocess.DEVNULL)
    assert second.returncode != 0, second.stdout + second.stderr
    assert f"another preforkd master is running (pid {s.pid}" in second.stdout + second.stderr
    assert s.pid_file.read_text().strip() == str(s.pid)
    assert not s.exited()
    with Client(s.port) as c:
        c.send(request(path="/"))
        assert c.read_response().status == 200


def test_master_survives_its_log_reader_going_away(tmp_path):
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    p = port.getsockname()[1]
    port.close()
    conf = tmp_path / "s.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{p}"\nworkers = 1\npid_file = "{tmp_path}/p.pid"\n'
                    f'control_socket = "{tmp_path}/c.sock"\n' + DEFAULT_ROUTES)
    master = subprocess.Popen([BIN, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    try:
        master.stdout.readline()   # the reader takes one line, then goes away (`| head -n 1`)
        master.stdout.close()
        for _ in range(3):
            master.send_signal(signal.SIGHUP)   # each reload logs lines into the closed pipe
            time.sleep(0.3)
        assert master.poll() is None, f"master died: {master.returncode}"
        with Client(p) as c:
            c.send(request(path="/"))
            assert c.read_response().status == 200
    finally:
        master.terminate()
        master.wait(5)


def test_scale_beyond_the_scoreboard_is_refused(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1)
    r = cli("ctl", "scale", "40", "-c", s.conf)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "scale: 40 workers is out of range (1 to 32" in s.log_text(), 3.0, what="the refusal")
    assert len(status_workers(s)) == 1


def test_worker_timeout_below_the_heartbeat_is_rejected(tmp_path):
    conf = tmp_path / "s.toml"
    conf.write_text('[server]\nlisten = "127.0.0.1:9"\n[supervisor]\nworker_timeout = "50ms"\n' + DEFAULT_ROUTES)
    r = cli("-t", "-c", conf)
    assert r.returncode != 0
    assert f"{conf}:4:18: supervisor.worker_timeout: must be at least 500ms" in r.stdout + r.stderr, r.stdout + r.stderr


def test_upgrade_of_a_new_master_waits_for_the_old_one_to_quit(server_factory, ctl_dir):
    # USR2 to the new master while the old one still runs would leave three masters and
    # lose track of the pid file: it is refused until the old master has quit.
    s = supervised(server_factory, ctl_dir, workers=1)

    def pid_in_file():
        try:
            return int(s.pid_file.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0   # between the old master moving it to .oldbin and the new one writing it

    try:
        s.signal(signal.SIGUSR2)
        new = wait_until(lambda: (p := pid_in_file()) not in (0, s.pid) and p, 5.0, what="the new master's pid file")
        wait_until(lambda: "adopted 1 listening socket" in s.log_text(), 5.0, what="the new master to start")
        os.kill(new, signal.SIGUSR2)
        wait_until(lambda: f"the previous master (pid {s.pid}) is still running; send it QUIT first" in s.log_text(),
                   3.0, what="the refusal")
        assert s.log_text().count("upgrade: started new master") == 1
    finally:
        # Every master the upgrades started (the fixture stops only the first).
        for pid in map(int, re.findall(r"upgrade: started new master pid (\d+)", s.log_text())):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            wait_until(lambda: not alive(pid), 5.0, what=f"master {pid} to stop")
