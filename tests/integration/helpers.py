"""Helpers that several integration test files share: the CLI, supervised servers with a
pid file and control socket, status output, respawns, /proc views of workers and TCP
queues. (Fixtures live in conftest.py; this module holds plain functions.)

Standard library only; 127.0.0.1 only; every wait is bounded.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import BIN, DEFAULT_ROUTES, Client, ConnectionClosed, proc_stat, request, wait_until

# "/" as DEFAULT_ROUTES plus a second route with another type, for tests of routing.
ROUTES_ROOT_AND_A = """
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"

[[route]]
path = "/a"
body = "route a body"
content_type = "text/html"
"""


# --------------------------------------------------------------------------- the CLI and status

def cli(*args, timeout=10, **kw):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def refused(conf, prefix=(), **kw):
    """Starts a master that must refuse to start: (exit code, output). One that starts is
    stopped. prefix: a command to run it under (e.g. unshare)."""
    proc = subprocess.Popen([*prefix, BIN, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, **kw)
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
        pytest.fail(f"the master started: {out}")
    return proc.returncode, out


def toml_value(v):
    return str(v) if isinstance(v, int) else f'"{v}"'


def supervised(server_factory, ctl_dir, name="m", workers=2, balance="shared", routes=DEFAULT_ROUTES,
               start=True, **supervisor):
    """A server whose pid file and control socket live in ctl_dir, with [supervisor] keys."""
    pid_file = ctl_dir / f"{name}.pid"
    sock = ctl_dir / f"{name}.sock"
    extra = f'pid_file = "{pid_file}"\ncontrol_socket = "{sock}"\n'
    if supervisor:
        extra += "\n[supervisor]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in supervisor.items())
    s = server_factory(start=start, workers=workers, balance=balance, extra=extra, routes=routes)
    s.pid_file = pid_file
    s.ctl = sock
    return s


def status_json(s):
    r = cli("status", "-c", s.conf, "--json")
    assert r.returncode == 0, f"status --json exited {r.returncode}: {r.stderr}"
    return json.loads(r.stdout)


def status_workers(s):
    return status_json(s)["workers"]


# --------------------------------------------------------------------------- requests

def get_body(port, timeout=1.0):
    """The body of GET / on a fresh connection, or None if it cannot be had (refused, cut,
    not a 200)."""
    try:
        with Client(port, timeout=timeout) as c:
            c.send(request(headers={"Host": "x", "Connection": "close"}))
            r = c.read_response()
            return r.body if r.status == 200 else None
    except (OSError, ConnectionClosed, AssertionError):
        return None


def recv_all(sock, until=None):
    """Bytes from sock up to the peer's close (or, with `until`, until those bytes are in)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        if until is not None and until in data:
            return data


def finish_last_request(c, rest):
    """Sends the rest of a request a stopping worker holds half of: it must be answered in
    full, say Connection: close, and the connection must then be closed."""
    c.send(rest)
    r = c.read_response()
    assert r.status == 200 and r.body == b"hello word"
    assert r.header("Connection") == "close"
    assert c.closed_by_peer()


# --------------------------------------------------------------------------- workers

def kill_slot_and_wait_respawn(s, slot, within=2.0):
    """SIGKILLs the worker in `slot`; (old pid, new pid, seconds until the new one has the title)."""
    old = s.worker_slots()[slot]
    os.kill(old, signal.SIGKILL)
    t0 = time.monotonic()
    new = wait_until(lambda: (p := s.worker_slots().get(slot)) not in (None, old) and p,
                     within, interval=0.005, what=f"a new worker in slot {slot}")
    elapsed = time.monotonic() - t0
    assert new != old
    return old, new, elapsed


def worker_uptime(pid):
    """Seconds since the process started, from /proc (clock-tick resolution)."""
    st = proc_stat(pid)
    if st is None:
        return None
    with open("/proc/uptime") as f:
        now = float(f.read().split()[0])
    return now - st[2] / os.sysconf("SC_CLK_TCK")


def tcp_queues(server_port, client_port):
    """(tx_queue, rx_queue) of the server's end of our connection, from /proc/net/tcp
    (None if not found)."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


# --------------------------------------------------------------------------- test modules

def build_module(tmp_path, name, source):
    """Compiles a module's C source against include/preforkd/module.h: the .so's path."""
    src = tmp_path / f"{name}.c"
    so = tmp_path / f"lib{name}.so"
    src.write_text(source)
    include = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "include")
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-I", include, "-o", str(so), str(src)], check=True, timeout=60)
    return so


def slow_init_module(tmp_path, milliseconds):
    """A module whose init takes `milliseconds` in slot 1's worker (slot 0 starts at once)."""
    return build_module(tmp_path, "slowinit", """
#include <preforkd/module.h>
#include <time.h>
static const pfd_host* host;
static int init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)state;
    host = h;
    if (h->worker_slot(w) == 1) {
        struct timespec ts = {MS / 1000, (MS % 1000) * 1000000L};
        nanosleep(&ts, 0);
    }
    return 0;
}
static void handle(void* state, pfd_request* r) { (void)state; host->respond(r, 200, "text/plain", "m", 1); }
const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION, .struct_size = sizeof(pfd_module), .name = "slowinit",
    .init = init, .handle = handle,
};
""".replace("MS", str(int(milliseconds))))


def sum_answer(n):
    """What examples/sum answers for n: the sum of 0 .. n-1."""
    return f"Sum is {n * (n - 1) // 2}".encode()


def sum_lasting(port, seconds=1.0, path="/app/sum"):
    """An n for examples/sum at `path` that takes about `seconds` on the build under test, from
    one probe sum: 0.24 s per 1e9 in release here, several times that under the sanitizers,
    where a fixed size tuned for release runs past a test's bounds. The probe is one request
    (one access-log line)."""
    probe = 500_000_000
    a = time.monotonic()
    with Client(port, timeout=30) as c:
        c.send(request(path=f"{path}?n={probe}", headers={"Host": "x", "Connection": "close"}))
        assert c.read_response().body == sum_answer(probe)
    per_second = probe / max(time.monotonic() - a, 0.001)
    return max(100_000_000, min(4_000_000_000, int(per_second * seconds)))
