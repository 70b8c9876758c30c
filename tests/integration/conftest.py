"""Fixtures and helpers that start the real preforkd binary on a free port with a temp config.

Everything here uses only the standard library: real processes, real sockets,
real signals, 127.0.0.1 only. Every wait is bounded by a deadline.
"""
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("PREFORKD_BIN", str(REPO / "build" / "preforkd"))

DEFAULT_ROUTES = """
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
"""

WORKER_TITLE = re.compile(r"^preforkd: worker process (\d+)$")

# The master's line for a worker that ended (server/respawn.cpp after_exit):
#   worker 1 pid 812 killed by signal 11 (Segmentation fault) after 2.0 s; respawning now
#   worker 1 pid 812, replacing pid 700, exited with code 1 after 0.1 s, before it took over; ...
WORKER_EXIT = re.compile(r"worker \d+ pid (\d+)(?:, replacing pid \d+,)? "
                         r"(?:killed by signal (\d+)|exited with code (\d+))")
# What a worker dies of when it breaks by itself (a crash, a sanitizer's abort): no test
# sends these; the supervisor's own kills (hangs, memory) are SIGKILL.
CRASH_SIGNALS = {int(s) for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,
                                  signal.SIGABRT, signal.SIGSYS, signal.SIGTRAP)}


# --------------------------------------------------------------------------- waiting

def wait_until(pred, timeout=5.0, interval=0.01, what="condition"):
    """Polls pred() until it returns something truthy; returns that value.

    Raises AssertionError naming `what` when the deadline passes.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def _ephemeral_ports():
    try:
        low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


_port_rng = random.Random(os.getpid() ^ time.monotonic_ns())


def free_port():
    """A free port below the kernel's ephemeral range. A server port inside it can be taken
    by a client's source port, and a client connecting to a closed port of the range can be
    given that very port as its source and connect to itself (TCP simultaneous open): a
    stopped server then seems to answer, and a starting one seems to listen already."""
    low, _ = _ephemeral_ports()
    first = 10000 if low > 12000 else 1024
    for _ in range(1000):
        port = _port_rng.randrange(first, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {first}..{low - 1}")


def wait_for_port(port, timeout=5.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"preforkd exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


# --------------------------------------------------------------------------- /proc

def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def proc_stat(pid):
    """(state, ppid, starttime) of a process, or None if /proc/PID is absent."""
    text = _read(f"/proc/{pid}/stat")
    if text is None:
        return None
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); starttime is field 22.
    return rest[0], int(rest[1]), int(rest[19])


def cmdline(pid):
    raw = _read(f"/proc/{pid}/cmdline", "rb")
    if raw is None:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def children(ppid):
    """PIDs whose parent is ppid (scans /proc; CONFIG_PROC_CHILDREN may be off)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == ppid:
            out.append(int(name))
    return sorted(out)


def alive(pid):
    """True if the process exists and is not a zombie."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def absent(pid):
    return proc_stat(pid) is None


def ps(*args):
    return subprocess.run(["ps", *args], capture_output=True, text=True, timeout=10).stdout


# --------------------------------------------------------------------------- runtime files

def default_runtime_dir(uid=None, env=None):
    """Where a master of `uid` puts its default pid file and control socket
    (server/runtime_dir.cpp default_runtime_dir): /run/preforkd for root, else
    $XDG_RUNTIME_DIR/preforkd if that is the user's own 0700 directory, else /tmp/preforkd-<uid>."""
    uid = os.geteuid() if uid is None else uid
    env = os.environ if env is None else env
    if uid == 0:
        return "/run/preforkd"
    xdg = (env.get("XDG_RUNTIME_DIR") or "").rstrip("/")
    if xdg.startswith("/"):
        try:
            st = os.stat(xdg)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode) and st.st_uid == uid and st.st_mode & 0o077 == 0:
            return xdg + "/preforkd"
    return f"/tmp/preforkd-{uid}"


def default_runtime_path(port, ext, uid=None, env=None):
    return f"{default_runtime_dir(uid, env)}/preforkd-{port}.{ext}"


# --------------------------------------------------------------------------- HTTP over raw sockets

class Response:
    def __init__(self, status, reason, version, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers          # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        """The single value of a header (case-insensitive), None if absent."""
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} appears {len(values)} times: {values}"
        return values[0] if values else None

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:60]!r}>"


class ConnectionClosed(Exception):
    pass


class Client:
    """One TCP connection; reads responses by parsing Content-Length."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed(f"peer closed; {len(self.buf)} bytes unparsed: {self.buf[:200]!r}")
        self.buf += chunk

    def read_response(self, head_only=False):
        """Reads one response. head_only: the request was HEAD, there is no body."""
        for _ in range(10_000):
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        else:
            raise AssertionError("response head never ended")
        raw_head = self.buf[:end].decode("latin-1")
        self.buf = self.buf[end + 4:]
        lines = raw_head.split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3}) (.*)$", lines[0])
        assert m, f"bad status line {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name and name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        resp = Response(int(m.group(2)), m.group(3), m.group(1), headers, b"", raw_head)
        length = resp.header("Content-Length")
        if head_only:
            return resp
        assert length is not None and length.isdigit(), f"no usable Content-Length in {raw_head!r}"
        n = int(length)
        for _ in range(100_000):
            if len(self.buf) >= n:
                break
            self._fill()
        resp.body, self.buf = self.buf[:n], self.buf[n:]
        return resp

    def closed_by_peer(self, timeout=3.0):
        """True if the peer closes (recv returns b"" or RST) within timeout with no extra bytes."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if data:
            self.buf += data
            raise AssertionError(f"expected the connection to close, got more bytes: {data[:200]!r}")
        return True

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(method="GET", path="/", version="HTTP/1.1", headers=None, body=b""):
    lines = [f"{method} {path} {version}"]
    hdrs = {"Host": "127.0.0.1"} if headers is None else headers
    for k, v in hdrs.items():
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(port, path="/", **kw):
    """One request over a fresh connection."""
    with Client(port) as c:
        c.send(request(path=path, headers={"Host": "127.0.0.1", "Connection": "close"}, **kw))
        return c.read_response()


def worker_exits(log_text):
    """[(log line, signal or None, exit code or None)] for every worker end a master logged."""
    out = []
    for line in log_text.splitlines():
        m = WORKER_EXIT.search(line)
        if m:
            sig = int(m.group(2)) if m.group(2) else None
            code = int(m.group(3)) if m.group(3) else None
            out.append((line, sig, code))
    return out


def worker_crashes(log_text):
    """Log lines of workers that broke by themselves: a crash signal, or a non-zero exit
    (a worker that fails, or a sanitizer's report). Planned ends (stop, reload, recycle:
    code 0) and kills from outside (SIGKILL, SIGTERM) are not crashes."""
    return [line for line, sig, code in worker_exits(log_text)
            if (sig is not None and sig in CRASH_SIGNALS) or (code is not None and code != 0)]


# --------------------------------------------------------------------------- the server

_started_servers = []   # every Server started in this session, in order (see no_worker_crashed)

class Server:
    def __init__(self, tmp_path, workers=2, balance="shared", extra="", routes=DEFAULT_ROUTES):
        self.port = free_port()
        self.dir = tmp_path
        self.conf = tmp_path / f"server-{self.port}.toml"
        workers_value = f'"{workers}"' if isinstance(workers, str) else str(workers)
        self.conf.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\nworkers = {workers_value}\n'
            f'balance = "{balance}"\n{extra}\n{routes}')
        self.log = tmp_path / f"preforkd-{self.port}.log"
        self.workers = workers
        self.proc = None
        self.log_file = None
        self.seen_pids = set()   # every worker pid observed, for cleanup

    def start(self, wait_workers=True):
        _started_servers.append(self)
        self.log_file = open(self.log, "wb")
        self.proc = subprocess.Popen([BIN, "-c", str(self.conf)], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, proc=self.proc)
            if wait_workers and isinstance(self.workers, int):
                wait_until(lambda: len(self.worker_slots()) == self.workers, 5.0,
                           what=f"{self.workers} workers")
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log_text(self):
        return self.log.read_text(errors="replace")

    def worker_pids(self):
        pids = [p for p in children(self.pid) if alive(p)]
        self.seen_pids.update(pids)
        return pids

    def worker_slots(self):
        """{slot: pid} for live workers whose title is already 'preforkd: worker process N'."""
        slots = {}
        for pid in self.worker_pids():
            m = WORKER_TITLE.match(cmdline(pid) or "")
            if m:
                slot = int(m.group(1))
                assert slot not in slots, f"two live workers claim slot {slot}: {slots[slot]} and {pid}"
                slots[slot] = pid
        return slots

    def exited(self):
        return self.proc.poll() is not None

    def worker_exits(self):
        return worker_exits(self.log_text())

    def worker_crashes(self):
        return worker_crashes(self.log_text())

    def assert_no_worker_died(self):
        """Strict: no worker of this server ended at all (call it before stop())."""
        ends = [line for line, _, _ in self.worker_exits()]
        assert not ends, f"workers of the server on port {self.port} ended:\n" + "\n".join(ends)

    def signal(self, sig):
        assert self.proc.poll() is None, "master already exited"
        os.kill(self.pid, sig)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.seen_pids.update(children(self.pid))
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Workers die with the master (PDEATHSIG); make sure none of ours lingers.
        for pid in self.seen_pids:
            st = proc_stat(pid)
            if st is not None and st[0] != "Z" and WORKER_TITLE.match(cmdline(pid) or ""):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.log_file:
            self.log_file.close()
            self.log_file = None
        # A master killed with SIGKILL cannot remove its default pid file and control
        # socket; tests that do so must not litter (a later start replaces them anyway).
        # Both the default directory and /tmp, the default before issue 11.
        for d in {default_runtime_dir(), "/tmp"}:
            for ext in ("pid", "sock"):
                try:
                    os.unlink(f"{d}/preforkd-{self.port}.{ext}")
                except (FileNotFoundError, NotADirectoryError):
                    pass


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(start=True, **kw):
        s = Server(tmp_path, **kw)
        started.append(s)
        return s.start() if start else s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def ctl_dir(tmp_path):
    """A directory for pid files and control sockets, short enough for sun_path (108 bytes)."""
    if len(str(tmp_path)) < 80:
        yield tmp_path
        return
    d = tempfile.mkdtemp(prefix="pfd-", dir="/tmp")
    try:
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kills_workers: the test crashes workers on purpose (or expects them to fail): "
                   "no_worker_crashed does not check its servers")


# Tests that make workers fail on purpose, in files that do not carry the marker yet.
_KILLS_WORKERS = (
    # Workers of a reloaded configuration abort under RLIMIT_AS before they are ready.
    "test_master_corners.py::test_old_generation_keeps_its_capacity_while_the_new_one_keeps_dying",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.rsplit("/", 1)[-1].startswith(_KILLS_WORKERS):
            item.add_marker(pytest.mark.kills_workers)


@pytest.fixture(autouse=True)
def no_worker_crashed(request):
    """After every test, over every server it started (by a fixture or by hand): no worker
    crashed or exited with an error. Torn down after the fixtures that stop servers, so the
    master has logged every end by then. Opt out with @pytest.mark.kills_workers."""
    first = len(_started_servers)
    yield
    if request.node.get_closest_marker("kills_workers") is not None:
        return
    crashes = [(s.port, line) for s in _started_servers[first:] for line in s.worker_crashes()]
    assert not crashes, "workers crashed:\n" + "\n".join(f"port {port}: {line}" for port, line in crashes)
