"""Master/worker process management: titles, balancing, respawn, signals."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import (Client, ConnectionClosed, absent, alive, children, get, proc_stat, ps, request, wait_until)
from helpers import finish_last_request, kill_slot_and_wait_respawn, status_workers, tcp_queues, worker_uptime


def no_zombies(master_pid):
    states = ps("-o", "stat=", "--ppid", str(master_pid)).split()
    return not any("Z" in s for s in states)


def expected_auto_workers():
    """CPUs this process may use: the affinity mask, capped by any cgroup v2 cpu.max quota."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/proc/self/cgroup") as f:
            path = next((l[3:].strip() for l in f if l.startswith("0::")), None)
    except OSError:
        path = None
    while path is not None:
        try:
            with open(f"/sys/fs/cgroup{path}/cpu.max") as f:
                quota, period = f.read().split()
            if quota != "max" and int(quota) > 0 and int(period) > 0:
                cpus = min(cpus, max(1, -(-int(quota) // int(period))))
        except (OSError, ValueError):
            pass
        if path in ("", "/"):
            break
        path = path.rsplit("/", 1)[0] or "/"
    return max(1, cpus)


def wait_worker_read_everything(srv, client):
    """Waits until the server side of the connection has no unread bytes: a worker took them."""
    client_port = client.sock.getsockname()[1]
    wait_until(lambda: (q := tcp_queues(srv.port, client_port)) is not None and q[1] == 0, 3.0,
               what="the worker to read the bytes sent")
    time.sleep(0.05)   # let the worker's event loop hand the completion to the parser


# --------------------------------------------------------------------------- titles and counts

def test_master_title(server):
    args = ps("-o", "args=", "-p", str(server.pid)).strip()
    assert args.startswith("preforkd: master process"), args
    assert str(server.conf) in args, args


def test_worker_titles(server_factory):
    s = server_factory(workers=3)
    pids = children(s.pid)
    assert len(pids) == 3, pids
    titles = sorted(ps("-o", "args=", "-p", str(p)).strip() for p in pids)
    assert titles == [f"preforkd: worker process {i}" for i in range(3)]
    # ps --ppid agrees with /proc.
    listed = sorted(int(p) for p in ps("-o", "pid=", "--ppid", str(s.pid)).split())
    assert listed == pids


def test_workers_auto(server_factory):
    want = expected_auto_workers()
    s = server_factory(workers="auto")
    wait_until(lambda: len(s.worker_slots()) == want, 5.0, what=f"{want} workers")
    time.sleep(0.2)   # make sure no extra workers appear
    slots = s.worker_slots()
    assert sorted(slots) == list(range(want)), slots
    assert len(children(s.pid)) == want
    assert f"starting {want} worker" in s.log_text()


@pytest.mark.parametrize("balance", ["shared", "reuseport", "cpu"])
def test_balance_modes_serve_fresh_connections(server_factory, balance):
    s = server_factory(workers=2, balance=balance)
    for i in range(50):
        r = get(s.port, "/" if i % 5 else "/missing")
        assert r.status == (200 if i % 5 else 404), (i, r)
        if i % 5:
            assert r.body == b"hello word"
    assert len(s.worker_slots()) == 2


# Connects `count` times from a process pinned to `cpu` (on loopback the SYN is taken in on
# the connecting CPU), one GET / each, all held open until the last has its answer.
PINNED_CLIENT = r"""
import os, socket, sys
cpu, port, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
os.sched_setaffinity(0, {cpu})
held = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    got = b""
    while not got.endswith(b"hello word"):
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    held.append(s)
"""


def accepted_by_slot(s):
    return {w["slot"]: w["accepted_connections"] for w in status_workers(s) if w["state"] == "ready"}


@pytest.mark.parametrize("workers", [2, 4])
def test_balance_cpu_sends_a_connection_to_the_worker_of_its_cpu(server_factory, workers):
    # With more workers than CPUs, CPU k's connections go to workers k, k + CPUs, ... (of
    # which, on a 2-CPU machine with 4 workers, k and k + 2 both get some).
    cpus = os.sched_getaffinity(0)
    if not {0, 1} <= cpus or os.cpu_count() != 2:
        pytest.skip(f"needs exactly 2 CPUs, 0 and 1, to connect from (this machine: {os.cpu_count()}, "
                    f"this process may use {sorted(cpus)})")
    s = server_factory(workers=workers, balance="cpu")
    wait_until(lambda: len(accepted_by_slot(s)) == workers, 5.0, what=f"{workers} ready workers")
    assert "balance cpu" in s.log_text()
    count = 40
    for cpu in (0, 1, 0):
        before = accepted_by_slot(s)
        r = subprocess.run([sys.executable, "-c", PINNED_CLIENT, str(cpu), str(s.port), str(count)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        wait_until(lambda: sum(accepted_by_slot(s).values()) - sum(before.values()) == count, 5.0,
                   what=f"{count} connections counted")
        after = accepted_by_slot(s)
        gained = {slot: after[slot] - before[slot] for slot in after}
        mine = set(range(cpu, workers, 2))
        assert sum(gained[w] for w in mine) == count, (cpu, gained)
        assert all(gained[w] > 0 for w in mine), (cpu, gained)   # 2**-39 to fail by chance with 4


def open_answered(port, timeout=2.0):
    """A new connection with GET / answered on it (held open for the caller)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    got = b""
    while not got.endswith(b"hello word"):
        chunk = c.recv(4096)   # socket.timeout if no worker takes it in time
        assert chunk, got
        got += chunk
    return c


def active_by_slot(s):
    return {w["slot"]: w["active_connections"] for w in status_workers(s) if w["state"] == "ready"}


@pytest.mark.parametrize("balance", ["reuseport", "cpu"])
def test_a_full_worker_gets_no_new_connections_while_another_has_room(server_factory, balance):
    # A worker at limits.max_connections accepts no more, so a connection the kernel
    # queued on its socket would wait there until one of its own closes. The master sees
    # it full and steers new connections to the other socket; once two of the full
    # worker's connections close, it takes new ones again.
    limit = 8
    s = server_factory(workers=2, balance=balance, extra=f"[limits]\nmax_connections = {limit}\n")
    wait_until(lambda: len(active_by_slot(s)) == 2, 5.0, what="2 ready workers")
    mine = os.sched_getaffinity(0)
    held = []
    try:
        if balance == "cpu":
            os.sched_setaffinity(0, {min(mine)})   # every SYN from one CPU: one worker's
        # Fill one worker, each connection answered (no worker is full before it).
        while limit not in active_by_slot(s).values():
            assert len(held) < 2 * limit - 1, active_by_slot(s)
            held.append(open_answered(s.port))
        full = next(slot for slot, n in active_by_slot(s).items() if n == limit)
        other = 1 - full
        wait_until(lambda: f"worker {full} has 0 of its {limit} connections free" in s.log_text(), 5.0,
                   what="the master to steer around the full worker")
        assert {w["slot"]: w["full"] for w in status_workers(s)} == {full: True, other: False}
        # Until the other worker is full too, every new connection is answered at once,
        # by it (without the steering, a connection from this CPU, or one in two by
        # hash, would wait on the full worker's socket).
        while active_by_slot(s)[other] < limit:
            held.append(open_answered(s.port, timeout=2.0))
        assert active_by_slot(s) == {full: limit, other: limit}, active_by_slot(s)
    finally:
        os.sched_setaffinity(0, mine)
    # Its connections close: it has room again.
    for c in held:
        c.close()
    wait_until(lambda: f"worker {full} takes new connections again" in s.log_text(), 5.0,
               what="the full worker taken back")
    assert not any(w["full"] for w in status_workers(s))
    assert get(s.port).status == 200

def test_a_slot_waiting_out_its_respawn_back_off_gets_no_new_connections(server_factory):
    # Killed soon after each start, slot 0 is respawned later each time (0, 0.1, 0.2, 0.4,
    # 0.8, then 1.6 s). Meanwhile a connection queued on its reuseport socket would wait
    # for the respawn; the master steers new ones to the other socket instead.
    s = server_factory(workers=2, balance="reuseport")
    for _ in range(6):
        kill_slot_and_wait_respawn(s, 0, within=3.0)
    os.kill(s.worker_slots()[0], signal.SIGKILL)
    wait_until(lambda: "worker 0 is not running: new connections go to the other workers" in s.log_text(), 1.0,
               interval=0.01, what="the master to steer around the dead slot")
    t0 = time.monotonic()
    for _ in range(10):
        open_answered(s.port, timeout=1.0).close()   # one in two by hash would wait for the respawn
    assert 0 not in s.worker_slots(), f"the respawn came before the check was done ({time.monotonic() - t0:.2f} s)"
    wait_until(lambda: "worker 0 takes new connections again" in s.log_text(), 5.0,
               what="the respawned worker taken back")

# --------------------------------------------------------------------------- respawn

def test_killed_worker_is_respawned_in_same_slot(server_factory):
    s = server_factory(workers=2)
    before = s.worker_slots()
    old, new, _ = kill_slot_and_wait_respawn(s, 1, within=1.0)
    after = s.worker_slots()
    assert after[0] == before[0], "the other worker must be untouched"
    assert after[1] == new
    assert proc_stat(new)[1] == s.pid
    wait_until(lambda: no_zombies(s.pid), 1.0, what="no zombie children")
    assert not alive(old)
    assert "killed by signal 9" in s.log_text()
    for _ in range(5):
        assert get(s.port).status == 200


def test_worker_killed_three_times_is_repaired_each_time(server_factory):
    s = server_factory(workers=2)
    seen = {s.worker_slots()[0]}
    for _ in range(3):
        _, new, _ = kill_slot_and_wait_respawn(s, 0, within=1.0)
        assert new not in seen
        seen.add(new)
        wait_until(lambda: no_zombies(s.pid), 1.0, what="no zombie children")
        assert get(s.port).status == 200
    assert len(s.worker_slots()) == 2


def test_worker_that_lived_long_is_respawned_at_once(server_factory):
    # After an uptime over 1 s the early-death count resets: respawn without back-off.
    s = server_factory(workers=1)
    kill_slot_and_wait_respawn(s, 0, within=1.0)
    _, second, _ = kill_slot_and_wait_respawn(s, 0, within=1.0)
    wait_until(lambda: (worker_uptime(second) or 0) > 1.15, 3.0, interval=0.05,
               what="the new worker to pass the 1 s minimum uptime")
    _, _, elapsed = kill_slot_and_wait_respawn(s, 0, within=1.0)
    assert elapsed < 0.15, f"respawn after a long-lived worker took {elapsed:.3f} s (back-off applied?)"


def test_crash_loop_backs_off(server_factory):
    # Early deaths in a row: the 2nd waits 100 ms, the 3rd 200 ms, the 4th 400 ms.
    # The very first worker may or may not have lived 1 s, so four kills are made and
    # only the last two delays are checked (at least 100 ms and 200 ms).
    s = server_factory(workers=1)
    elapsed = [kill_slot_and_wait_respawn(s, 0, within=1.0)[2] for _ in range(4)]
    assert elapsed[0] < 0.15, elapsed
    assert elapsed[2] >= 0.09, f"third early death respawned too soon: {elapsed}"
    assert elapsed[3] >= 0.19, f"fourth early death respawned too soon: {elapsed}"
    assert elapsed[3] < 0.9, elapsed
    log = s.log_text()
    assert "respawn in 100 ms" in log and "respawn in 200 ms" in log, log


# --------------------------------------------------------------------------- stopping

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_term_stops_master_and_workers(server_factory, sig):
    s = server_factory(workers=3)
    workers = children(s.pid)
    assert len(workers) == 3
    s.signal(sig)
    wait_until(lambda: s.exited() and absent(s.pid) and all(absent(p) for p in workers), 3.0,
               what="master and workers to be gone")
    assert s.proc.returncode == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=0.5).close()


def test_nothing_accepts_after_a_fast_stop(server_factory):
    # A worker's io_uring is torn down after the process is gone; if its accept were still
    # armed, the listening socket would go on completing handshakes for a moment (seen: 1
    # connect in 40 accepted, then reset). Many short-lived servers, each probed once.
    for _ in range(60):
        s = server_factory(workers=1)
        workers = children(s.pid)
        s.signal(signal.SIGTERM)
        wait_until(lambda: s.exited() and absent(s.pid) and all(absent(p) for p in workers), 3.0,
                   what="master and workers to be gone")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=0.5).close()


def test_kill9_master_takes_workers_down(server_factory):
    s = server_factory(workers=3)
    workers = children(s.pid)
    assert len(workers) == 3
    os.kill(s.pid, signal.SIGKILL)
    # Workers are reparented and may stay zombies if nobody reaps them: dead is enough.
    wait_until(lambda: s.exited() and not any(alive(p) for p in workers), 2.0,
               what="workers to die with the master")


def test_quit_finishes_in_flight_request(server_factory):
    s = server_factory(workers=2)
    raw = request(path="/", headers={"Host": "127.0.0.1", "User-Agent": "quit-test"})
    half = len(raw) // 2
    with Client(s.port) as c:
        c.send(raw[:half])
        wait_worker_read_everything(s, c)
        s.signal(signal.SIGQUIT)
        # Give the workers time to get the signal, without closing our half request.
        # The idle worker exits on QUIT: proof that the workers got the signal.
        wait_until(lambda: len(s.worker_pids()) == 1, 2.0, what="the idle worker to exit")
        time.sleep(0.05)
        finish_last_request(c, raw[half:])
    wait_until(s.exited, 5.0, what="master to exit after SIGQUIT")
    assert s.proc.returncode == 0


def test_quit_closes_idle_keep_alive_connection(server_factory):
    s = server_factory(workers=2)
    workers = children(s.pid)
    with Client(s.port) as c:
        c.send(request(path="/"))
        assert c.read_response().status == 200
        s.signal(signal.SIGQUIT)
        assert c.closed_by_peer(timeout=3.0), "idle keep-alive connection survived SIGQUIT"
    wait_until(s.exited, 5.0, what="master to exit after SIGQUIT")
    assert s.proc.returncode == 0
    wait_until(lambda: all(absent(p) for p in workers), 1.0, what="workers gone")


def test_quit_stops_accepting(server_factory):
    s = server_factory(workers=2)
    with Client(s.port) as busy:
        busy.send(b"GET / HTTP/1.1\r\nHost: x\r\n")   # unfinished head keeps its worker busy
        wait_worker_read_everything(s, busy)
        s.signal(signal.SIGQUIT)
        wait_until(lambda: "SIGQUIT" in s.log_text(), 2.0, what="the master to log SIGQUIT")

        def refused_or_unanswered():
            try:
                with Client(s.port, timeout=0.5) as c:
                    c.send(request(path="/"))
                    c.read_response()
                    return False
            except (OSError, ConnectionClosed):
                return True
        wait_until(refused_or_unanswered, 2.0, what="new connections to go unanswered")
        busy.send(b"\r\n")
        assert busy.read_response().header("Connection") == "close"
    wait_until(s.exited, 5.0, what="master to exit")
    assert s.proc.returncode == 0
