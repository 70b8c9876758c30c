"""Master corner cases: a reload whose new workers keep dying leaves the serving
generation's capacity in place, a recycling replacement that dies backs off, the
status GEN column is the configuration generation, and control-socket clients are
served concurrently (a silent one never delays another).

Real processes, signals and sockets on 127.0.0.1; every loop is bounded in count and
time; only processes this file started are signalled, by pid.
"""
import os
import resource
import re
import signal
import socket
import threading
import time

import pytest

from conftest import Client, alive, free_port, request, wait_until
from helpers import cli, get_body, recv_all, status_workers, supervised


# --------------------------------------------------------------------------- helpers

def status_table_rows(s):
    r = cli("status", "-c", s.conf)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = [i for i, l in enumerate(lines) if l.split()[:4] == ["SLOT", "PID", "GEN", "STATE"]]
    assert len(header) == 1, r.stdout
    return [l.split() for l in lines[header[0] + 1:] if l.strip()]


STARTED = re.compile(r" worker (\d+) started, pid (\d+)")


class Reaper:
    """Follows the master's log and SIGKILLs each newly started worker that `doomed(pid)`
    says should die, as soon as it is seen. Bounded: stops after `seconds`."""

    def __init__(self, s, doomed, seconds=15.0):
        self.s = s
        self.doomed = doomed
        self.seconds = seconds
        self.killed = []
        self.spared = []
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        seen = set()
        undecided = []
        offset = 0
        deadline = time.monotonic() + self.seconds
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            with open(self.s.log, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            offset += end
            for m in STARTED.finditer(chunk[:end].decode(errors="replace")):
                pid = int(m.group(2))
                if pid not in seen:
                    seen.add(pid)
                    undecided.append(pid)
            for pid in list(undecided):
                verdict = self.doomed(pid)
                if verdict is None:
                    continue            # not far enough in its start to tell
                undecided.remove(pid)
                if verdict:
                    try:
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append(pid)
                    except ProcessLookupError:
                        pass
                else:
                    self.spared.append(pid)
            time.sleep(0.0005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(5)


# --------------------------------------------------------------------------- a bad new generation

def vm_size(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmSize for {pid}")


@pytest.mark.parametrize("listen", ["same", "other"])
def test_old_generation_keeps_its_capacity_while_the_new_one_keeps_dying(server_factory, ctl_dir, listen):
    # The master may grow its address space by 24 MiB, and so may each worker it forks
    # (they inherit the limit): enough for a worker with the default max_connections, far
    # too little for one with a million (~65 MiB of connection slots), which dies
    # before it is ready. So a reload to that configuration stays pending while its
    # workers keep dying; meanwhile both old workers are killed, and must be replaced
    # with the old configuration, so the old address keeps serving.
    s = supervised(server_factory, ctl_dir, workers=2, min_uptime="1s", restart_delay_max="1s")
    limit = vm_size(s.pid) + 24 * 1024 * 1024
    resource.prlimit(s.pid, resource.RLIMIT_AS, (limit, limit))
    old = s.worker_slots()
    os.kill(old[0], signal.SIGKILL)   # the limit leaves room for a worker of this configuration
    wait_until(lambda: s.worker_slots().get(0) not in (None, old[0]), 3.0, what="slot 0 replaced")
    old = s.worker_slots()
    text = s.conf.read_text()
    port_b = free_port() if listen == "other" else s.port
    bad = text.replace(f'listen = "127.0.0.1:{s.port}"', f'listen = "127.0.0.1:{port_b}"')
    bad = bad.replace("workers = 2", "workers = 3").replace("hello word", "never")
    bad = bad.replace("[supervisor]\n", '[supervisor]\nworker_timeout = "60s"\n')
    bad += "\n[limits]\nmax_connections = 1000000\n"
    s.conf.write_text(bad)
    s.signal(signal.SIGHUP)
    wait_until(lambda: s.log_text().count("after 0.") >= 3 and "starting generation 2" in s.log_text(), 5.0,
               what="new-generation workers dying")
    assert get_body(s.port) == b"hello word"
    for pid in old.values():
        os.kill(pid, signal.SIGKILL)
    # Replaced with the old configuration, on the old address: it never stops answering
    # for more than a respawn.
    wait_until(lambda: get_body(s.port) == b"hello word", 3.0, what="the old address to answer again")
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        assert get_body(s.port) == b"hello word"
        time.sleep(0.02)
    log = s.log_text()
    assert log.count("generation 1 serves until generation 2 is ready: respawning it") >= 2, log[-3000:]
    assert "old worker(s)" not in log   # still pending: the old generation was never told to drain
    assert all(p not in s.worker_pids() for p in old.values())

    # A HUP with a good configuration is not held up by the failing generation: it
    # supersedes it at once (back on the old address: it takes the old sockets over).
    s.conf.write_text(text.replace("hello word", "good again"))
    s.signal(signal.SIGHUP)
    wait_until(lambda: get_body(s.port) == b"good again", 5.0, what="the newest configuration to serve")
    wait_until(lambda: len(s.worker_pids()) == 2, 10.0, what="two workers again")
    assert "generation 2 was not ready yet; stopping its" in s.log_text()
    for _ in range(20):
        assert get_body(s.port) == b"good again"


# --------------------------------------------------------------------------- recycling back-off

def test_a_recycling_replacement_that_keeps_dying_backs_off(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1, max_requests=5, min_uptime="1s", restart_delay_max="2s")
    original = s.worker_slots()[0]
    with Reaper(s, lambda pid: pid != original, seconds=4.0) as reaper:
        with Client(s.port) as c:
            for _ in range(6):
                c.send(request())
                assert c.read_response().status == 200
        reaper.thread.join(6)
    # Every replacement died young: without a back-off one was started every ~250-500 ms.
    assert 3 <= len(reaper.killed) <= 9, (len(reaper.killed), s.log_text()[-3000:])
    delays = [int(d) for d in re.findall(r"before it took over; \d+ early exits in a row, next replacement in (\d+) ms",
                                         s.log_text())]
    assert len(delays) >= 3 and delays == sorted(delays) and delays[-1] >= 400, delays
    assert alive(original)   # it served on meanwhile
    assert get_body(s.port) == b"hello word"
    # Once replacements live, the recycle completes.
    wait_until(lambda: not alive(original), 2.0 + 3.0, interval=0.05, what="the recycled worker to go")
    assert get_body(s.port) == b"hello word"


# --------------------------------------------------------------------------- status GEN

def test_status_gen_is_the_configuration_generation(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=2)
    assert [row[2] for row in status_table_rows(s)] == ["1", "1"]
    old = s.worker_slots()[1]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: s.worker_slots().get(1) not in (None, old) and len(status_workers(s)) == 2, 3.0,
               what="slot 1 replaced")
    ws = {w["slot"]: w for w in status_workers(s)}
    assert ws[0]["generation"] == ws[1]["generation"] == 1, ws
    assert (ws[0]["spawn"], ws[1]["spawn"]) == (1, 2), ws
    assert [row[2] for row in status_table_rows(s)] == ["1", "1"]

    s.signal(signal.SIGHUP)

    def reloaded():
        ws = status_workers(s)
        return len(ws) == 2 and all(w["generation"] == 2 and w["state"] == "ready" for w in ws) and ws
    ws = {w["slot"]: w for w in wait_until(reloaded, 5.0, interval=0.05, what="generation 2 alone")}
    assert (ws[0]["spawn"], ws[1]["spawn"]) == (2, 3), ws
    assert [row[2] for row in status_table_rows(s)] == ["2", "2"]


# --------------------------------------------------------------------------- control clients

def unix_connect(path, timeout=3.0):
    """Connects, waiting while the listen queue is full (EAGAIN), up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(timeout)
        try:
            c.connect(str(path))
            return c
        except BlockingIOError:
            c.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def test_silent_control_clients_do_not_delay_status(server_factory, ctl_dir):
    s = supervised(server_factory, ctl_dir, workers=1)
    silent = []
    try:
        for _ in range(24):
            silent.append(unix_connect(s.ctl))
        t0 = time.monotonic()
        r = cli("status", "-c", s.conf)
        took = time.monotonic() - t0
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert "SLOT" in r.stdout
        assert took < 1.0, took
        # Each silent client is let go after its own deadline, whatever the others do.
        t0 = time.monotonic()
        for c in silent:
            data = recv_all(c)
            assert data.startswith(b"error: no command"), data
        assert time.monotonic() - t0 < 1.5
    finally:
        for c in silent:
            c.close()
    assert s.proc.poll() is None


def test_control_clients_answered_concurrently_with_a_half_sent_command(server_factory, ctl_dir):
    # One client sends half its command and waits; another sends a whole one: the second
    # is answered at once, and the first too once it finishes its line in time.
    s = supervised(server_factory, ctl_dir, workers=1)
    slow = unix_connect(s.ctl)
    try:
        slow.sendall(b"pi")
        t0 = time.monotonic()
        with unix_connect(s.ctl) as fast:
            fast.sendall(b"ping\n")
            assert fast.recv(100) == b"pong\n"
        assert time.monotonic() - t0 < 0.2
        slow.sendall(b"ng\n")
        assert slow.recv(100) == b"pong\n"
    finally:
        slow.close()
