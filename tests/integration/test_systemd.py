"""systemd integration against the real binary: sd_notify messages read from a test
NOTIFY_SOCKET (an abstract AF_UNIX datagram socket, with the sender's pid from
SCM_CREDENTIALS) across start, reload, stop and a binary upgrade, the watchdog, and
socket activation through systemd's own tool, systemd-socket-activate. 127.0.0.1 only,
every wait bounded."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import BIN, alive, children, free_port, wait_for_port, wait_until
from helpers import build_module, slow_init_module
from test_health import fetch, refused

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")


class NotifySocket:
    """What systemd's notify socket would receive: [(sender pid, {field: value}, raw text)]."""

    def __init__(self):
        self.name = f"preforkd-test-notify-{os.getpid()}-{time.monotonic_ns()}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.setblocking(False)
        self.messages = []

    @property
    def env(self):
        return {"NOTIFY_SOCKET": "@" + self.name}

    def poll(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except BlockingIOError:
                return self.messages
            pid = None
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            text = data.decode()
            fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
            self.messages.append((pid, fields, text))

    def wait_for(self, pred, timeout=5.0, what="a notify message", start=0):
        """The first message from index `start` on that pred(fields) accepts: (index, pid, fields)."""
        def find():
            for i, (pid, fields, _) in enumerate(self.poll()[start:], start):
                if pred(fields):
                    return (i, pid, fields)
            return None
        return wait_until(find, timeout, what=f"{what}; got {[m[2] for m in self.messages]}")

    def close(self):
        self.sock.close()


@pytest.fixture
def notify():
    n = NotifySocket()
    yield n
    n.close()


def write_conf(path, port, body="hello word", workers=2, balance="shared", extra="", routes=""):
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = {workers}\nbalance = "{balance}"\n'
        f'pid_file = "{path.parent}/p.pid"\ncontrol_socket = "{path.parent}/c.sock"\n{extra}\n'
        f'[[route]]\npath = "/"\nbody = "{body}"\n\n[[route]]\npath = "/readyz"\nbuiltin = "readyz"\n{routes}')


class Master:
    """preforkd (or a command that execs it) with its log; stopped (SIGTERM, then SIGKILL) on close."""

    def __init__(self, tmp_path, argv, env):
        self.log_path = tmp_path / f"log-{time.monotonic_ns()}"
        self.log = open(self.log_path, "wb")
        full_env = dict(os.environ)
        for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
            full_env.pop(k, None)
        full_env.update(env)
        self.proc = subprocess.Popen([str(a) for a in argv], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env)
        self.others = []   # further masters (binary upgrades), stopped too

    @property
    def pid(self):
        return self.proc.pid

    def text(self):
        return self.log_path.read_text(errors="replace")

    def close(self):
        for pid in [*self.others, self.proc.pid]:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in self.others:
            wait_until(lambda: not alive(pid), 5, what=f"master {pid} to exit")
        self.log.close()


@pytest.fixture
def masters():
    started = []
    yield lambda *a: started.append(Master(*a)) or started[-1]
    for m in started:
        m.close()


# What a worker's environment holds of the service manager's variables (a module reads
# them: /proc/PID/environ shows the process title, not the environment).
ENV_MODULE = """
#include <preforkd/module.h>
#include <stdio.h>
#include <stdlib.h>
static const pfd_host* host;
static int init(pfd_worker* w, const pfd_host* h, void** state) { (void)w; (void)state; host = h; return 0; }
static void handle(void* state, pfd_request* r) {
    (void)state;
    static const char* names[] = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
                                  "LISTEN_FDNAMES", "PREFORKD_LISTEN_FDS"};
    char body[512];
    int n = 0;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; ++i) {
        if (getenv(names[i]) != NULL) {
            n += snprintf(body + n, sizeof body - (size_t)n, "%s ", names[i]);
        }
    }
    n += snprintf(body + n, sizeof body - (size_t)n, "end");
    host->respond(r, 200, "text/plain", body, (size_t)n);
}
const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION, .struct_size = sizeof(pfd_module), .name = "env",
    .init = init, .handle = handle,
};
"""


def env_route(tmp_path):
    return f'\n[[route]]\npath = "/env"\nmodule = "{build_module(tmp_path, "env", ENV_MODULE)}"\n'


def workers_env(port, workers=2):
    """Every distinct answer of /env over new connections (each worker's, in time)."""
    seen = set()
    for _ in range(40):
        r = fetch(port, "/env")
        assert r is not None and r[0] == 200, r
        seen.add(r[1])
    return seen


# --------------------------------------------------------------------------- sd_notify

def test_notify_sequence_across_start_reload_and_stop(tmp_path, notify, masters):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, routes=env_route(tmp_path))
    m = masters(tmp_path, [BIN, "-c", conf], {**notify.env, "WATCHDOG_USEC": "60000000"})
    i, pid, f = notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    assert pid == m.pid
    assert f["STATUS"] == "serving 2 workers, generation 1", f
    assert fetch(port, "/readyz")[0] == 200
    # Workers never speak for the service.
    assert workers_env(port) == {b"end"}

    os.kill(m.pid, signal.SIGHUP)
    j, _, f = notify.wait_for(lambda f: f.get("RELOADING") == "1", start=i + 1, what="RELOADING=1")
    assert int(f["MONOTONIC_USEC"]) > 0
    k, _, f = notify.wait_for(lambda f: f.get("READY") == "1", start=j + 1, what="READY=1 after the reload")
    assert f["STATUS"] == "serving 2 workers, generation 2", f

    # A reload that fails is a reload too: RELOADING=1 ... READY=1, nothing changes.
    conf.write_text(conf.read_text().replace("workers = 2", "workers = many"))
    os.kill(m.pid, signal.SIGHUP)
    j, _, _ = notify.wait_for(lambda f: f.get("RELOADING") == "1", start=k + 1, what="RELOADING=1 (bad file)")
    k, _, f = notify.wait_for(lambda f: f.get("READY") == "1", start=j + 1, what="READY=1 (bad file)")
    assert f["STATUS"] == "serving 2 workers, generation 2", f

    os.kill(m.pid, signal.SIGQUIT)
    s, _, f = notify.wait_for(lambda f: f.get("STOPPING") == "1", start=k + 1, what="STOPPING=1")
    assert f["STATUS"].startswith("stopping"), f
    m.proc.wait(10)
    msgs = notify.poll()
    assert all(pid == m.pid for pid, _, _ in msgs), [(p, t) for p, _, t in msgs]
    assert not any("READY" in f or "RELOADING" in f for _, f, _ in msgs[s + 1:]), msgs[s + 1:]
    assert sum("STOPPING" in f for _, f, _ in msgs) == 1


def test_drain_is_a_status_not_a_stop(tmp_path, notify, masters):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, extra='shutdown_delay = "300ms"')
    m = masters(tmp_path, [BIN, "-c", conf], notify.env)
    i, _, _ = notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    os.kill(m.pid, signal.SIGWINCH)
    i, _, f = notify.wait_for(lambda f: f.get("STATUS", "").startswith("draining"), start=i + 1,
                              what="STATUS=draining")
    assert "STOPPING" not in f
    os.kill(m.pid, signal.SIGQUIT)
    notify.wait_for(lambda f: f.get("STOPPING") == "1", start=i + 1, what="STOPPING=1")
    m.proc.wait(10)


def test_ready_only_once_every_worker_is_up(tmp_path, notify, masters):
    so = slow_init_module(tmp_path, 1000)
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, routes=f'\n[[route]]\npath = "/m"\nmodule = "{so}"\n')
    m = masters(tmp_path, [BIN, "-c", conf], notify.env)
    t0 = time.monotonic()
    wait_for_port(port, proc=m.proc)
    wait_until(lambda: fetch(port, "/readyz"), 2, what="slot 0 answering")
    assert not any("READY" in f for _, f, _ in notify.poll()), "READY=1 before slot 1 is up"
    notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    assert time.monotonic() - t0 >= 0.8
    assert fetch(port, "/readyz")[0] == 200


def test_watchdog_pings_at_half_the_interval(tmp_path, notify, masters):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port)
    m = masters(tmp_path, [BIN, "-c", conf], {**notify.env, "WATCHDOG_USEC": "400000"})
    notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    t0 = time.monotonic()
    time.sleep(1.25)
    pings = [pid for pid, f, _ in notify.poll() if f.get("WATCHDOG") == "1"]
    # Every 200 ms: about 6 in 1.25 s (and one at start); never a flood.
    assert 5 <= len(pings) <= 10, (len(pings), time.monotonic() - t0)
    assert set(pings) == {m.pid}
    # A stopped master loop stops pinging: systemd would then restart the service.
    os.kill(m.pid, signal.SIGSTOP)
    try:
        n = len(notify.poll())
        time.sleep(0.5)
        assert len(notify.poll()) == n
    finally:
        os.kill(m.pid, signal.SIGCONT)
    notify.wait_for(lambda f: f.get("WATCHDOG") == "1", start=n, timeout=1, what="pings again")


def test_binary_upgrade_tells_systemd_the_new_main_pid(tmp_path, notify, masters):
    binary = tmp_path / "preforkd"
    shutil.copy(BIN, binary)
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, extra='shutdown_delay = "5s"')
    # WATCHDOG_PID names the first master (the shell that execs it), as systemd's does:
    # the new master must be given its own, or it would not ping.
    m = masters(tmp_path, ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"', binary, "-c", conf],
                {**notify.env, "WATCHDOG_USEC": "400000"})
    i, _, _ = notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    assert notify.wait_for(lambda f: f.get("WATCHDOG") == "1", what="a ping")[1] == m.pid
    os.kill(m.pid, signal.SIGUSR2)
    j, sender, f = notify.wait_for(lambda f: "MAINPID" in f, start=i + 1, what="MAINPID=")
    new_pid = int(f["MAINPID"])
    m.others.append(new_pid)
    assert sender == new_pid != m.pid
    assert f.get("READY") == "1"
    assert f["STATUS"] == "serving 2 workers, generation 1", f
    with open(f"/proc/{new_pid}/stat") as st:
        assert int(st.read().rsplit(")", 1)[1].split()[1]) == m.pid, "the new master is the old one's child"
    # The old master steps aside: its QUIT is no STOPPING=1 of the service, it does not
    # wait out shutdown_delay (the service stays ready), and the watchdog pings are the
    # new master's.
    os.kill(m.pid, signal.SIGQUIT)
    t0 = time.monotonic()
    m.proc.wait(10)
    assert time.monotonic() - t0 < 3.0
    time.sleep(0.5)
    later = notify.poll()[j + 1:]
    assert not any("STOPPING" in f for _, f, _ in later), [t for _, _, t in later]
    pings = [pid for pid, f, _ in later if f.get("WATCHDOG") == "1"]
    assert pings and set(pings) == {new_pid}, later
    assert fetch(port)[0] == 200
    os.kill(new_pid, signal.SIGTERM)
    _, sender, _ = notify.wait_for(lambda f: f.get("STOPPING") == "1", start=j + 1, what="STOPPING=1")
    assert sender == new_pid
    wait_until(lambda: not alive(new_pid), 10, what="the new master to exit")


def test_a_failed_binary_upgrade_leaves_the_old_master_the_main_pid(tmp_path, notify, masters):
    binary = tmp_path / "preforkd"
    shutil.copy(BIN, binary)
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port)
    m = masters(tmp_path, [binary, "-c", conf], {**notify.env, "WATCHDOG_USEC": "400000"})
    i, _, _ = notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    binary.unlink()
    binary.write_text("#!/bin/sh\nexit 3\n")
    binary.chmod(0o755)
    os.kill(m.pid, signal.SIGUSR2)
    j, sender, f = notify.wait_for(lambda f: "MAINPID" in f, start=i + 1, what="MAINPID= back to the old master")
    assert sender == m.pid and f["MAINPID"] == str(m.pid) and f.get("READY") == "1", f
    assert f["STATUS"] == "serving 2 workers, generation 1", f
    # Its watchdog pings go on.
    notify.wait_for(lambda f: f.get("WATCHDOG") == "1", start=j + 1, timeout=1, what="pings again")
    assert fetch(port)[0] == 200


# --------------------------------------------------------------------------- socket activation

def listening_inodes(pid):
    """{inode: port} of the TCP sockets in LISTEN state that process pid holds."""
    mine = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(int(target[8:-1]))
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[9]) in mine:
                    out[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return out


def activated(tmp_path, masters, conf, ports, env=None):
    if SOCKET_ACTIVATE is None:
        pytest.skip("systemd-socket-activate (Debian's systemd package) is not installed")
    argv = [SOCKET_ACTIVATE]
    for p in ports:
        argv += ["-l", f"127.0.0.1:{p}"]
    for k in (env or {}):
        argv += ["-E", k]
    m = masters(tmp_path, [*argv, BIN, "-c", conf], env or {})
    # It listens, and execs preforkd (keeping its pid) at the first connection attempt.
    wait_for_port(ports[0], proc=m.proc)
    return m


def test_socket_activation_serves_on_the_passed_socket_and_binds_nothing(tmp_path, masters, notify):
    port, other, third = free_port(), free_port(), free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, other, routes=env_route(tmp_path))   # another port: the activated socket wins
    m = activated(tmp_path, masters, conf, [port], notify.env)
    wait_until(lambda: fetch(port) == (200, b"hello word", "close"), 5, what="an answer on the activated port")
    notify.wait_for(lambda f: f.get("READY") == "1", what="READY=1")
    assert refused(other)
    sockets = listening_inodes(m.pid)
    assert list(sockets.values()) == [port], sockets
    (inode,) = sockets
    text = m.text()
    assert f"listening on 127.0.0.1:{port} (from systemd)" in text, text
    assert f'listen = "127.0.0.1:{other}" is not used' in text, text
    assert workers_env(port) == {b"end"}   # no LISTEN_FDS, LISTEN_PID, NOTIFY_SOCKET in workers
    for w in children(m.pid):
        assert set(listening_inodes(w)) == {inode}

    # A reload that changes listen keeps the activated socket, and says so.
    write_conf(conf, third, body="reloaded", routes=env_route(tmp_path))
    os.kill(m.pid, signal.SIGHUP)
    wait_until(lambda: fetch(port) == (200, b"reloaded", "close"), 5, what="the reloaded body")
    assert refused(third)
    assert listening_inodes(m.pid) == {inode: port}
    assert f'reload: listen = "127.0.0.1:{third}" is not used' in m.text()

    # A binary upgrade hands the very same socket over; the new master binds nothing either.
    os.kill(m.pid, signal.SIGUSR2)
    _, _, f = notify.wait_for(lambda f: "MAINPID" in f, what="MAINPID= from the new master")
    new_pid = int(f["MAINPID"])
    m.others.append(new_pid)
    assert listening_inodes(new_pid) == {inode: port}
    os.kill(m.pid, signal.SIGQUIT)
    m.proc.wait(10)
    assert fetch(port) == (200, b"reloaded", "close")
    assert listening_inodes(new_pid) == {inode: port}
    assert "adopted 1 listening socket(s) from the previous master (from systemd)" in m.text()


def test_socket_activation_counts_must_fit_the_balance_mode(tmp_path, masters):
    port, port2 = free_port(), free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, workers=2, balance="reuseport")
    m = activated(tmp_path, masters, conf, [port])
    m.proc.wait(5)
    assert m.proc.returncode == 1
    assert ("socket activation passed 1 socket; balance = reuseport needs one per worker (workers = 2)"
            in m.text()), m.text()

    write_conf(conf, port, workers=2, balance="shared")
    m = activated(tmp_path, masters, conf, [port, port2])
    m.proc.wait(5)
    assert m.proc.returncode == 1
    assert "socket activation passed 2 sockets; balance = shared takes exactly one" in m.text(), m.text()

    # One per slot: each slot's worker serves its own socket.
    write_conf(conf, port, workers=2, balance="reuseport")
    m = activated(tmp_path, masters, conf, [port, port2])
    wait_until(lambda: fetch(port) and fetch(port2), 5, what="both activated sockets served")
    assert sorted(listening_inodes(m.pid).values()) == sorted([port, port2])
    # No socket can be bound for a third slot.
    os.kill(m.pid, signal.SIGTTIN)
    wait_until(lambda: "the worker count cannot change in reuseport mode" in m.text(), 5, what="scale refused")
