#!/usr/bin/python3
"""preforkd benchmark driver (stdlib only). Run it through bench/run.sh.

For each workload, the servers are alternated (A B C ... A B C ...): every run
starts the server fresh, warms it up, measures one wrk run, and stops it. The
raw record of every run goes to results/<stamp>.json; report.py turns that into
results/<stamp>.md and the PNG charts.
"""
import argparse
import atexit
import collections
import datetime
import hashlib
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# Open files: as high as the hard limit allows (the sandbox may forbid raising it).
# Every workload but idle100k runs with this; idle100k makes its own plan (plan_big_idle).
NOFILE = min(65536, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
# Descriptors a server process or idle helper needs besides the idle connections it
# holds: listeners, wrk's 64 connections, logs, rings, eventfds, pipes.
FD_RESERVE = 1024
# Idle connections per source address (127.0.0.2, .3, ...): under the ~28k ports of
# net.ipv4.ip_local_port_range, so no address runs out of ephemeral ports.
PER_SOURCE = 20000
BODY = b"hello word"
# The static workloads' files, in a docroot created per run (tmp/www): deterministic
# bytes (a counter through SHA-256, so nothing compresses), checked byte for byte
# through each server before it is measured.
STATIC_FILES = {"4k.bin": 4096, "1m.bin": 1 << 20}
STATIC_PREFIX = "/static/"

# ---------------------------------------------------------------- workloads

WORKLOADS = {
    "keepalive": dict(
        title="keep-alive", threads=2, conns=64,
        desc="wrk -t2 -c64: 64 keep-alive connections, one request in flight on each"),
    "keepalive1": dict(
        title="keep-alive -t1", threads=1, conns=64,
        desc="wrk -t1 -c64: the keep-alive load from one wrk thread (one load process on one CPU "
             "at a time, so the server's workers get the other one more often)"),
    "pipelined": dict(
        title="pipelined x16", threads=2, conns=64, script="pipeline.lua",
        desc="wrk -t2 -c64 -s pipeline.lua: 16 requests per write on each connection"),
    "close": dict(
        title="connection per request", threads=2, conns=64, headers=["Connection: close"],
        sample_conns=False,  # connections live for one request; /proc/net/tcp is full of TIME_WAIT
        desc="wrk -t2 -c64 -H 'Connection: close': a new TCP connection for every request"),
    "idle10k": dict(
        title="keep-alive + 10k idle", threads=2, conns=64, idle=10000,
        sample_conns=False,  # reading 10k fds mid-run would disturb it; idle spread is taken before
        desc="10,000 idle keep-alive connections held open (idle_conns.py) while wrk -t2 -c64 runs"),
    "idle100k": dict(
        title="keep-alive + 100k idle", threads=2, conns=64, idle=100000, big_idle=True,
        baseline=True, control=True, sample_conns=False, open_seconds=240,
        desc="100,000 idle keep-alive connections (from 127.0.0.2, .3, ...; fd limits raised for "
             "this workload only) held open while wrk -t2 -c64 runs; the same wrk run first "
             "without them on the same server instance, and last with as many idle connections "
             "held by bare stand-ins (idle_holder.py) instead of the server: the control"),
    "pinned": dict(
        title="pinned, 1 worker", threads=1, conns=64, pinned=True,
        desc="server: 1 worker, taskset -c 0; wrk -t1 -c64 under taskset -c 1"),
    # Static files: only the servers that serve a docroot (serves_files) run these.
    "static4k": dict(
        title="static 4 KiB", threads=2, conns=64, path=STATIC_PREFIX + "4k.bin", static=True,
        desc="wrk -t2 -c64 GET /static/4k.bin: a 4,096-byte file from the docroot, keep-alive"),
    "static1m": dict(
        title="static 1 MiB", threads=2, conns=64, path=STATIC_PREFIX + "1m.bin", static=True,
        desc="wrk -t2 -c64 GET /static/1m.bin: a 1,048,576-byte file from the docroot, keep-alive"),
}
STATIC_WORKLOADS = [w for w, d in WORKLOADS.items() if d.get("static")]

# ------------------------------------------------------------------ servers


class Server:
    """One server under test. `prepare` writes its config into `tmp` and returns argv."""

    name = ""
    kind = "processes"  # "processes": master + worker children; "threads": one process
    port_offset = 0
    serves_files = False  # runs the static workloads: prepare() maps STATIC_PREFIX to docroot

    def __init__(self, args):
        self.args = args

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        """limits: None, or (idle100k only) dict(nofile=per-process open files,
        conns=connections one worker may hold, total=connections the server may hold)."""
        raise NotImplementedError

    def env(self, port, workers):
        return None

    def version(self):
        return ""


class Preforkd(Server):
    kind = "processes"
    serves_files = True

    def __init__(self, args, balance):
        super().__init__(args)
        self.balance = balance
        self.name = f"preforkd-{balance}"
        self.port_offset = {"shared": 0, "reuseport": 1, "cpu": 8}[balance]
        self.binary = Path(args.preforkd)

    def config_text(self, port, workers, docroot=None, limits=None):
        return ("[server]\n"
                f'listen = "{HOST}:{port}"\n'
                f"workers = {workers}\n"
                f'balance = "{self.balance}"\n'
                "backlog = 4096\n"
                "\n[limits]\n"
                f"max_connections = {limits['conns'] if limits else 20000}\n"
                # as nginx's keepalive_requests/keepalive_timeout below: no reconnects
                # mid-run, and the 10k idle connections outlive the run
                "max_requests_per_connection = 0\n"
                'keepalive_timeout = "600s"\n'
                "\n[[route]]\n"
                'path = "/"\n'
                'body = "hello word"\n'
                'content_type = "text/plain"\n'
                + ("" if docroot is None else
                   # precompressed off: nginx (no gzip_static) and h2o (file.send-compressed
                   # is OFF by default) look for no .br/.gz siblings either
                   "\n[[route]]\n"
                   f'prefix = "{STATIC_PREFIX}"\n'
                   f'root = "{docroot}"\n'
                   "precompressed = false\n"))

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        conf = tmp / "preforkd.toml"
        conf.write_text(self.config_text(port, workers, docroot, limits))
        self.conf = conf
        return [str(self.binary), "-c", str(conf)]

    def request_counts(self):
        """Requests answered so far by each worker slot, from the scoreboard
        (`preforkd status --json`): the real per-worker share, not a CPU proxy."""
        try:
            out = subprocess.run([str(self.binary), "status", "--json", "-c", str(self.conf)],
                                 capture_output=True, text=True, timeout=5).stdout
            return {w["slot"]: w["requests"] for w in json.loads(out)["workers"]}
        except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
            return {}

    def version(self):
        out = run_text([str(self.binary), "-v"]).strip()
        # the checkout the binary was built from (--preforkd may point at a worktree's build)
        src = str(self.binary.resolve().parent)
        head = run_text(["git", "-C", src, "rev-parse", "--short", "HEAD"]).strip()
        dirty = run_text(["git", "-C", src, "status", "--porcelain", "--", ":/server", ":/worker",
                          ":/proto", ":/handlers", ":/base", ":/meson.build"]).strip()
        return f"{out}, git {head}{' + uncommitted changes' if dirty else ''}"


class Nginx(Server):
    name = "nginx"
    port_offset = 2
    serves_files = True

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        # The settings for files: sendfile, tcp_nopush (headers and the first
        # bytes of the file in full segments) and open_file_cache (descriptors and stat
        # results cached, revalidated every 60 s as in nginx's documentation example).
        files = "" if docroot is None else f"""
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    open_file_cache_min_uses 1;
    open_file_cache_errors on;"""
        location = "" if docroot is None else f"""
        location {STATIC_PREFIX} {{
            alias {docroot}/;
        }}"""
        conf = tmp / "nginx.conf"
        conf.write_text(f"""\
worker_processes {workers};
worker_rlimit_nofile {limits['nofile'] if limits else NOFILE};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{
    worker_connections {limits['conns'] if limits else 20000};
}}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    keepalive_timeout 600s;{files}
    server {{
        listen {HOST}:{port};
        location / {{
            return 200 "hello word";
        }}{location}
    }}
}}
""")
        return ["nginx", "-p", str(tmp), "-c", str(conf)]

    def version(self):
        return run_text(["nginx", "-v"], stderr=True).strip().replace("nginx version: ", "")


class H2o(Server):
    name = "h2o"
    kind = "threads"
    port_offset = 3
    serves_files = True

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        # h2o 2.2 has no handler that returns a fixed body without mruby; it serves
        # a file instead: file.file maps "/" to one file (10 bytes: "hello word").
        # It drops to user "nobody" when started as root, so the file is world-readable.
        doc = tmp / "hello.txt"
        doc.write_bytes(BODY)
        doc.chmod(0o644)
        conf = tmp / "h2o.conf"
        conf.write_text(f"""\
listen:
  host: {HOST}
  port: {port}
num-threads: {workers}
max-connections: {limits['total'] if limits else 20000}
http1-request-timeout: 600
error-log: {tmp}/error.log
hosts:
  default:
    paths:
      /:
        file.file: {doc}
""" + ("" if docroot is None else f"""\
      {STATIC_PREFIX.rstrip("/")}:
        file.dir: {docroot}
"""))
        return ["h2o", "-c", str(conf)]

    def version(self):
        return run_text(["h2o", "--version"]).splitlines()[0].replace("h2o version ", "")


class NodeCluster(Server):
    name = "node-cluster"
    port_offset = 4

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        return ["/usr/bin/node", str(BENCH / "node" / "cluster.js")]

    def env(self, port, workers):
        e = dict(os.environ)
        e.update(PORT=str(port), HOST=HOST, WORKERS=str(workers), KEEPALIVE_MS="600000")
        return e

    def version(self):
        return "node " + run_text(["/usr/bin/node", "--version"]).strip()


class Ceiling(Server):
    name = "ceiling"
    port_offset = 5

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        return [self.args.ceiling, "--port", str(port), "--workers", str(workers)]

    def version(self):
        src = (BENCH / "ceiling" / "ceiling.cpp").read_bytes()
        uring = run_text(["dpkg-query", "-W", "-f=${Version}", "liburing-dev"]).strip()
        return f"bench/ceiling/ceiling.cpp sha256 {hashlib.sha256(src).hexdigest()[:12]}, liburing {uring}"


class CeilingReuseport(Ceiling):
    """The ceiling with one SO_REUSEPORT socket per worker: connections spread evenly,
    as preforkd spreads them; the yardstick for a server that uses all its workers."""
    name = "ceiling-reuseport"
    port_offset = 6

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        return super().prepare(tmp, port, workers) + ["--reuseport"]


class CeilingBatch(Ceiling):
    """ceiling-reuseport plus preforkd's adaptive batched wait (--batch): not in the
    default list; run it with -s to see what that loop technique gives a responder
    that does no HTTP work."""
    name = "ceiling-batch"
    port_offset = 7

    def prepare(self, tmp, port, workers, docroot=None, limits=None):
        return super().prepare(tmp, port, workers) + ["--reuseport", "--batch"]


def make_servers(args):
    table = {
        "preforkd-shared": lambda: Preforkd(args, "shared"),
        "preforkd-reuseport": lambda: Preforkd(args, "reuseport"),
        "preforkd-cpu": lambda: Preforkd(args, "cpu"),
        "nginx": lambda: Nginx(args),
        "h2o": lambda: H2o(args),
        "node-cluster": lambda: NodeCluster(args),
        "ceiling": lambda: Ceiling(args),
        "ceiling-reuseport": lambda: CeilingReuseport(args),
        "ceiling-batch": lambda: CeilingBatch(args),
    }
    out = []
    for name in args.servers:
        if name not in table:
            sys.exit(f"bench: unknown server {name!r}; known: {', '.join(table)}")
        out.append(table[name]())
    return out


# -------------------------------------------------------------- /proc helpers


def run_text(argv, stderr=False):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    return p.stderr if stderr else p.stdout


def read_stat(path):
    """(utime+stime ticks, ppid, starttime, rss pages, comm) from a /proc stat file."""
    with open(path) as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12]), int(f[1]), int(f[19]), int(f[21]), comm


def all_ppids():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                out[int(d)] = read_stat(f"/proc/{d}/stat")[1]
            except (OSError, ValueError, IndexError):
                pass
    return out


def tree(root):
    """root and all its descendants (pids), root first."""
    kids = collections.defaultdict(list)
    for pid, ppid in all_ppids().items():
        kids[ppid].append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo += sorted(kids.get(p, []))
    return out


def proc_ticks(pids):
    """{pid: ticks} for processes (all threads included)."""
    out = {}
    for p in pids:
        try:
            out[p] = read_stat(f"/proc/{p}/stat")[0]
        except (OSError, ValueError, IndexError):
            pass
    return out


def cpu_seconds_between(c0, c1):
    """CPU seconds the processes of proc_ticks sample c0 used until sample c1 (one that
    exited meanwhile counts up to c0)."""
    return sum(c1.get(p, c0[p]) - c0[p] for p in c0) / CLK_TCK


def socket_errors(r):
    """wrk's connect, read and write errors and timeouts, summed."""
    return r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]


def thread_ticks(pid):
    out = {}
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                out[int(t)] = read_stat(f"/proc/{pid}/task/{t}/stat")[0]
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return out


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            pass
    return total


def cpu_stat():
    """/proc/stat 'cpu' line: (busy ticks, steal ticks)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def established_inodes(port):
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(parts[9])
        except OSError:
            pass
    return inodes


def connections_per_process(pids, port):
    """{pid: established connections to `port` held in its fd table}."""
    inodes = established_inodes(port)
    out = {}
    for p in pids:
        n = 0
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    n += 1
        except OSError:
            continue
        out[p] = n
    return out


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def static_bytes(size):
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:size])


def make_docroot(tmp):
    """tmp/www with STATIC_FILES, world-readable (nginx and h2o workers run as nobody)."""
    www = tmp / "www"
    www.mkdir()
    www.chmod(0o755)
    for name, size in STATIC_FILES.items():
        f = www / name
        f.write_bytes(static_bytes(size))
        f.chmod(0o644)
    return www


def http_fetch(port, path, timeout=5.0):
    """One keep-alive-less GET of `path`: (status line, body by Content-Length)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        want = int(m.group(1)) if m else None
        while want is None or len(body) < want:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            body += chunk
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), body


def check_static(server, port):
    """Each static file, fetched once, must be the docroot's bytes."""
    for name, size in STATIC_FILES.items():
        status, body = http_fetch(port, STATIC_PREFIX + name)
        if not status.startswith("HTTP/1.1 200") or body != static_bytes(size):
            raise RuntimeError(f"{server.name} served {STATIC_PREFIX}{name} wrong: {status!r}, "
                               f"{len(body)} bytes (want {size})")


def http_get(port, timeout=1.0):
    """One GET / with Connection: close; True if 200 with body 'hello word'."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
                if data.endswith(BODY):
                    break
        return data.startswith(b"HTTP/1.1 200") and data.endswith(BODY)
    except OSError:
        return False


def raise_nofile(n=None):
    """Soft and hard limit to n (NOFILE): the servers' and helpers' preexec_fn."""
    n = n or NOFILE
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def raise_own_nofile():
    """The driver's soft limit to NOFILE, keeping its hard limit: lowering the hard
    limit could not be undone without CAP_SYS_RESOURCE, and idle100k may need it."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))


# --------------------------------------------- 100k idle connections: fd limits

SYSCTL_RESTORE = {}  # path -> value before this run changed it; written back at exit


def read_sysctl(path):
    try:
        return Path(path).read_text().split()
    except OSError:
        return None


def raise_sysctl(path, want):
    """Raise a single-number sysctl to `want` if lower; remembers the old value.
    Returns None, or why it could not."""
    cur = read_sysctl(path)
    if cur is None:
        return f"{path} unreadable"
    if int(cur[0]) >= want:
        return None
    # Remembered before the write: an interrupt between the two must not keep the new value.
    first = path not in SYSCTL_RESTORE
    SYSCTL_RESTORE.setdefault(path, cur[0])
    try:
        Path(path).write_text(f"{want}\n")
    except OSError as e:
        if first:
            del SYSCTL_RESTORE[path]
        return f"{path} = {cur[0]}, cannot raise it to {want}: {e.strerror}"
    print(f"bench: {path} {cur[0]} -> {want} (restored at exit)", file=sys.stderr)
    return None


def restore_sysctls(paths=None):
    """Puts back what raise_sysctl changed: every one, or only `paths`."""
    for path, old in list(SYSCTL_RESTORE.items()):
        if paths is not None and path not in paths:
            continue
        try:
            Path(path).write_text(f"{old}\n")
            print(f"bench: {path} restored to {old}", file=sys.stderr)
        except OSError as e:
            print(f"bench: could not restore {path} to {old}: {e}", file=sys.stderr)
        del SYSCTL_RESTORE[path]


# A VM's balloon driver may report free memory to the host (free page reporting), which
# takes the pages back; touching them again costs the guest a fault into the host. Measured
# here (bench/README, "Free page reporting"): after a process freed 1.2 GiB, GET / p99 under
# wrk was 7-8.6 ms for the next seconds with the default order (5: every free 128 KiB block
# reported), 2.0-2.5 ms with order 10 (only 4 MiB blocks), the same as before the free. Every
# idle workload frees its connections' memory when it ends, which then lands on the next
# server's run, so the suite holds reporting at order 10 while it runs (root only; restored).
PAGE_REPORTING_ORDER = "/sys/module/page_reporting/parameters/page_reporting_order"
PAGE_REPORTING_HELD = 10   # MAX_PAGE_ORDER on x86-64


def hold_page_reporting(keep=False):
    """Free page reporting only for the largest blocks while the suite runs: a note for the report."""
    cur = read_sysctl(PAGE_REPORTING_ORDER)
    if cur is None:
        return "no free page reporting on this machine"
    if keep:
        return f"free page reporting left at order {cur[0]} (--keep-page-reporting)"
    if int(cur[0]) > PAGE_REPORTING_HELD:
        return f"free page reporting not active (order {cur[0]}: no balloon device reports)"
    if int(cur[0]) == PAGE_REPORTING_HELD:
        return f"free page reporting already at order {cur[0]}"
    why = raise_sysctl(PAGE_REPORTING_ORDER, PAGE_REPORTING_HELD)
    if why:
        return f"free page reporting left at order {cur[0]} ({why})"
    return f"free page reporting held at order {PAGE_REPORTING_HELD} during the run (was {cur[0]})"


def split_count(count, per):
    """count as chunks of at most `per`."""
    out = []
    while count > 0:
        out.append(min(per, count))
        count -= out[-1]
    return out


def plan_big_idle(count, workers):
    """How `count` idle connections get their descriptors, decided once per suite run.

    Wanted: every process (server worker, h2o's one process, the idle helper) may hold
    all of them: RLIMIT_NOFILE soft = hard = count + FD_RESERVE, which needs the hard
    limit raised (root with CAP_SYS_RESOURCE; fs.nr_open caps it, fs.file-max the
    whole system). Where the hard limit cannot be raised (a container without
    CAP_SYS_RESOURCE), the connections are spread instead: enough workers per server
    and enough helper processes that none holds more than the hard limit allows; a
    server that keeps them in one process cannot hold them all, and the table says so.

    Returns a dict: skip (why, or None), mode, nofile, workers, helpers (count each),
    limits (for Server.prepare), note (for the report)."""
    need = count + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    notes = []
    # Both ends of every connection are open files on this machine, plus what is open now.
    nr = read_sysctl("/proc/sys/fs/file-nr")
    in_use = int(nr[0]) if nr else 0
    why = raise_sysctl("/proc/sys/fs/file-max", 2 * count + in_use + 65536)
    if why:
        return dict(skip=why)
    why = None
    if hard < need:
        why = raise_sysctl("/proc/sys/fs/nr_open", need)
        if why is None:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (soft, need))
                hard = need
                notes.append(f"RLIMIT_NOFILE raised to {need:,} for the servers and the helper of "
                             "this workload only")
            except (ValueError, OSError) as e:
                why = f"RLIMIT_NOFILE's hard limit is {hard:,} and cannot be raised ({e}: no CAP_SYS_RESOURCE?)"
                restore_sysctls(["/proc/sys/fs/nr_open"])  # of no use then; file-max still is
    if hard >= need:
        return dict(skip=None, mode="raised", nofile=need, workers=workers, helpers=[count],
                    limits=dict(nofile=need, conns=count + FD_RESERVE // 2,
                                total=count + FD_RESERVE // 2),
                    note="; ".join(notes) or f"RLIMIT_NOFILE {need:,} (the hard limit allows it)")
    budget = hard - FD_RESERVE
    if budget < 1000:
        return dict(skip=f"{why}; too low to spread {count:,} connections over processes")
    n = max(workers, math.ceil(count / budget))
    helpers = split_count(count, budget)
    return dict(skip=None, mode="spread", nofile=hard, workers=n, helpers=helpers,
                limits=dict(nofile=hard, conns=hard - FD_RESERVE // 2, total=hard - FD_RESERVE // 2),
                note=(f"{why}: so each server runs **{n} workers** (not {workers}), each allowed "
                      f"{hard - FD_RESERVE // 2:,} connections, and the idle connections come from "
                      f"{len(helpers)} helper processes; a server that holds its connections in one "
                      f"process (h2o's threads) or whose accepts land on one worker (ceiling's shared "
                      f"socket) holds at most ~{budget:,}. p99 is compared with the same server's run "
                      f"without the idle connections (same {n} workers)"))


# ------------------------------------------------------ process bookkeeping

LIVE = {}  # pid -> (starttime, label): every process we started and have not reaped


def remember(pid, label):
    try:
        LIVE[pid] = (read_stat(f"/proc/{pid}/stat")[2], label)
    except (OSError, ValueError, IndexError):
        pass


def same_process(pid, starttime):
    try:
        return read_stat(f"/proc/{pid}/stat")[2] == starttime
    except (OSError, ValueError, IndexError):
        return False


def kill_remembered(pids, sig=signal.SIGKILL):
    for pid in pids:
        st = LIVE.get(pid)
        if st and same_process(pid, st[0]):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if p in LIVE and same_process(p, LIVE[p][0])
                 and not _zombie(p)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return s[s.rindex(")") + 2] == "Z"
    except OSError:
        return True


class Running:
    """A started server: its Popen, every pid of its tree, its port."""

    def __init__(self, server, popen, port, tmp):
        self.server, self.popen, self.port, self.tmp = server, popen, port, tmp
        self.pids = [popen.pid]

    def refresh(self):
        self.pids = tree(self.popen.pid)
        for p in self.pids:
            if p not in LIVE:
                remember(p, self.server.name)
        return self.pids

    def workers(self):
        """Worker units: child processes, or threads of the one process (h2o)."""
        if self.server.kind == "threads":
            return thread_ticks(self.popen.pid)
        return proc_ticks(self.pids[1:])

    def stop(self):
        pids = list(dict.fromkeys(self.refresh() + [p for p, v in LIVE.items()
                                                    if v[1] == self.server.name]))
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(8)
            except subprocess.TimeoutExpired:
                kill_remembered([self.popen.pid])
                self.popen.wait(5)
        if not wait_gone(pids, 3):
            kill_remembered(pids)
            wait_gone(pids, 5)
        for p in pids:
            LIVE.pop(p, None)


STARTED = []  # Running servers and helper Popens, for cleanup on any exit


def cleanup():
    for r in list(STARTED):
        try:
            if isinstance(r, Running):
                r.stop()
            elif r.poll() is None:
                r.kill()
                r.wait(5)
        except Exception as e:  # keep cleaning the rest
            print(f"bench: cleanup: {e}", file=sys.stderr)
        STARTED.remove(r)
    kill_remembered(list(LIVE))


# ------------------------------------------------------------------ one run


def start_server(server, tmp, port, workers, pinned, docroot=None, fd_plan=None):
    limits = fd_plan["limits"] if fd_plan else None
    argv = server.prepare(tmp, port, workers, docroot, limits)
    nofile = limits["nofile"] if limits else NOFILE
    if pinned:
        argv = ["taskset", "-c", "0"] + argv
    log = open(tmp / "server.log", "wb")
    popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             cwd=tmp, env=server.env(port, workers), start_new_session=True,
                             preexec_fn=lambda: raise_nofile(nofile))
    log.close()
    remember(popen.pid, server.name)
    r = Running(server, popen, port, tmp)
    STARTED.append(r)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {popen.returncode}: "
                               f"{(tmp / 'server.log').read_text(errors='replace')[-2000:]}")
        r.refresh()
        if len(r.workers()) >= workers and http_get(port):
            return r, argv
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} not ready on port {port} after 20 s: "
                       f"{(tmp / 'server.log').read_text(errors='replace')[-2000:]}")


def wrk_argv(wl, port, duration):
    argv = ["wrk", f"-t{wl['threads']}", f"-c{wl['conns']}", f"-d{duration}s", "--latency",
            "-s", str(BENCH / wl.get("script", "report.lua"))]
    for h in wl.get("headers", []):
        argv += ["-H", h]
    argv.append(f"http://{HOST}:{port}{wl.get('path', '/')}")
    if wl.get("pinned"):
        argv = ["taskset", "-c", "1"] + argv
    return argv


def wrk_env(wl):
    e = dict(os.environ)
    e["WRK_REPORT_LUA"] = str(BENCH / "report.lua")
    return e


def run_wrk(argv, env, duration):
    """Run wrk; returns (parsed WRKJSON, text, cpu seconds used by wrk)."""
    t0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                         start_new_session=True)
    remember(p.pid, "wrk")
    STARTED.append(p)
    try:
        out, _ = p.communicate(timeout=duration + 20)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    STARTED.remove(p)
    LIVE.pop(p.pid, None)
    t1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (t1.ru_utime - t0.ru_utime) + (t1.ru_stime - t0.ru_stime)
    m = re.search(r"^WRKJSON (\{.*\})$", out, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no WRKJSON line (exit {p.returncode}):\n{out[-2000:]}")
    return json.loads(m.group(1)), out, cpu


def perf_works():
    if shutil.which("perf") is None:
        return False, "perf not installed"
    p = subprocess.run(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
                        "--", "true"], capture_output=True, text=True)
    if p.returncode != 0 or "<not supported>" in p.stderr or "raw_syscalls" not in p.stderr:
        return False, (p.stderr.strip().splitlines() or ["perf stat failed"])[-1]
    return True, ""


def start_perf(pids, out):
    p = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
                          "-p", ",".join(map(str, pids)), "-o", str(out)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    remember(p.pid, "perf")
    STARTED.append(p)
    return p


def stop_perf(p, out):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    STARTED.remove(p)
    LIVE.pop(p.pid, None)
    counts = {}
    try:
        for line in out.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            f = line.split(",")
            if len(f) >= 3:
                try:
                    counts[f[2]] = int(float(f[0]))
                except ValueError:
                    counts[f[2]] = None
    except OSError:
        pass
    return counts.get("raw_syscalls:sys_enter"), counts.get("context-switches")


def start_idle(port, count, max_seconds, extra=(), nofile=None, errlog=None):
    err = open(errlog, "w+") if errlog else subprocess.PIPE
    p = subprocess.Popen(["/usr/bin/python3", str(BENCH / "idle_conns.py"), "--port", str(port),
                          "--count", str(count), "--max-seconds", str(max_seconds), *extra],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                         text=True, start_new_session=True, preexec_fn=lambda: raise_nofile(nofile))
    remember(p.pid, "idle_conns")
    STARTED.append(p)
    line = p.stdout.readline().split()
    if len(line) != 3 or line[0] != "ready":
        if errlog:
            err.seek(0)
            msg = err.read()
            err.close()
        else:
            msg = p.stderr.read() if p.poll() is not None else ""
        raise RuntimeError(f"idle_conns.py did not get ready: {line} {msg[-1000:]}")
    if errlog:
        err.close()
    return p, int(line[1]), int(line[2])


def start_big_idle(port, plan, open_seconds, max_seconds, tmp, port_of=None):
    """The helpers of plan["helpers"], one after another, each from its own source
    addresses (127.0.0.2 onwards, PER_SOURCE connections each), within open_seconds
    in all. A helper that got under half of its connections answered stops the
    rest: the server holds no more. Helper i connects to port_of(i) if given (the
    control's holders), else to port. Returns (helpers, opened, failed, messages)."""
    procs, opened, failed, notes = [], 0, 0, []
    source = 2
    t0 = time.monotonic()
    try:
        for i, n in enumerate(plan["helpers"]):
            left = open_seconds - (time.monotonic() - t0)
            if left <= 1:
                notes.append(f"gave up opening after {open_seconds:g} s: {opened:,} of "
                             f"{sum(plan['helpers']):,} answered")
                break
            errlog = tmp / f"idle-{i}.err"
            p, got, bad = start_idle(port_of(i) if port_of else port, n, max_seconds,
                                     ["--source", str(source), "--per-source", str(PER_SOURCE),
                                      "--open-seconds", f"{left:.0f}"],
                                     nofile=plan["nofile"], errlog=errlog)
            procs.append(p)
            opened, failed = opened + got, failed + bad
            source += math.ceil(n / PER_SOURCE)
            msg = errlog.read_text(errors="replace").strip()
            if msg:
                notes.append(msg)
            if got * 2 < n:  # as the helper itself: the server holds no more
                break
    except BaseException:
        for p in procs:
            stop_idle(p)
        raise
    return procs, opened, failed, notes


def start_holders(ports, nofile, max_seconds, tmp):
    """idle_holder.py on each of ports: the bare stand-ins that hold the control's idle
    connections (one per idle helper, so each holds exactly what one helper opens)."""
    procs = []
    try:
        for port in ports:
            errlog = tmp / f"holder-{port}.err"
            with open(errlog, "w") as err:
                p = subprocess.Popen(["/usr/bin/python3", str(BENCH / "idle_holder.py"), "--port", str(port),
                                      "--nofile", str(nofile), "--max-seconds", str(max_seconds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                     text=True, start_new_session=True)
            remember(p.pid, "idle_holder")
            STARTED.append(p)
            procs.append(p)
            line = p.stdout.readline().split()
            if line != ["listening", str(port)]:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
                raise RuntimeError(f"idle_holder.py on {port} did not listen: {line} "
                                   f"{errlog.read_text(errors='replace')[-500:]}")
    except BaseException:
        for p in procs:
            stop_holder(p)
        raise
    return procs


def stop_holder(p):
    end_helper(p, lambda h: h.stdin.close())


def control_ports(port, n):
    """n free ports for the control's holders, from port + 100 on."""
    out, cand = [], port + 100
    while len(out) < n:
        if port_free(cand):
            out.append(cand)
        cand += 1
        if cand > port + 1000:
            raise RuntimeError("no free ports for idle_holder.py")
    return out


def end_helper(p, tell_to_finish):
    """tell_to_finish(p), then give the helper 30 s to exit (killed after that), and
    forget it. Returns what tell_to_finish returned (None if it failed)."""
    said = None
    try:
        said = tell_to_finish(p)
        p.wait(30)
    except (OSError, subprocess.TimeoutExpired):
        p.kill()
        p.wait()
    STARTED.remove(p)
    LIVE.pop(p.pid, None)
    return said


def stop_idle(p):
    """Stops an idle_conns.py helper; returns how many of its connections were still open."""
    def ask_alive(h):
        h.stdin.write("check\n")
        h.stdin.flush()
        line = h.stdout.readline().split()
        return int(line[1]) if len(line) == 2 and line[0] == "alive" else None
    return end_helper(p, ask_alive)


def wait_for_quiet(max_wait):
    """Before a run (nothing of ours running): wait until the CPUs are < 10% busy over
    0.5 s, for at most max_wait seconds. Returns (seconds waited, busy % first seen)."""
    t0 = time.monotonic()
    first = None
    while True:
        b0, _ = cpu_stat()
        time.sleep(0.5)
        b1, _ = cpu_stat()
        busy = 100.0 * (b1 - b0) / CLK_TCK / (0.5 * os.cpu_count())
        if first is None:
            first = busy
        if busy < 10 or time.monotonic() - t0 >= max_wait:
            return round(time.monotonic() - t0 - 0.5, 1), round(first, 1)
        time.sleep(0.5)


def shares(d):
    total = sum(d.values())
    if total <= 0:
        return []
    return sorted((round(100.0 * v / total, 1) for v in d.values()), reverse=True)


def one_run(args, server, wl_name, run_index, port, perf_ok, fd_plan=None):
    wl = WORKLOADS[wl_name]
    pinned = wl.get("pinned", False)
    workers = 1 if pinned else fd_plan["workers"] if fd_plan else args.workers
    tmp = Path(tempfile.mkdtemp(prefix=f"{server.name}-{wl_name}-{run_index}-", dir=args.tmp))
    tmp.chmod(0o755)  # h2o and nginx workers run as nobody
    rec = dict(server=server.name, workload=wl_name, run=run_index, port=port, workers=workers,
               pinned=pinned, started=datetime.datetime.now().isoformat(timespec="seconds"))
    docroot = make_docroot(tmp) if wl.get("static") else None
    running, argv = start_server(server, tmp, port, workers, pinned, docroot, fd_plan)
    rec["server_argv"] = argv
    if run_index == 0:  # the generated config, for the report
        rec["config"] = {f.name: f.read_text() for f in sorted(tmp.iterdir())
                         if f.suffix in (".toml", ".conf")}
    idle = []
    try:
        if docroot is not None:
            check_static(server, port)
        wenv = wrk_env(wl)
        # warm-up: the same load, short
        if args.warmup > 0:
            run_wrk(wrk_argv(wl, port, args.warmup), wenv, args.warmup)
        if wl.get("baseline"):
            # the same load without the idle connections, on this same server instance
            # (same workers: idle100k may run more of them than the keepalive workload)
            rec["before_idle"] = side_run(running, wl, port, wenv, args.duration)
        if wl.get("idle"):
            pids = running.refresh()
            rss0 = rss_bytes(pids)
            # the workers' own (preforkd's bar): the master, or Node's primary, is left out
            wpids = pids[1:] if server.kind == "processes" else pids
            rss0w = rss_bytes(wpids)
            t_open = time.monotonic()
            if fd_plan:
                open_s = wl.get("open_seconds", 120)
                idle, opened, failed, notes = start_big_idle(
                    port, fd_plan, open_s, args.duration * 6 + open_s + 120, tmp)
            else:
                p, opened, failed = start_idle(port, wl["idle"], args.duration * 4 + 120)
                idle, notes = [p], []
            open_s = time.monotonic() - t_open
            time.sleep(0.3)
            pids = running.refresh()
            wpids = pids[1:] if server.kind == "processes" else pids
            rss1, rss1w = rss_bytes(pids), rss_bytes(wpids)
            per = connections_per_process(pids[1:], port) if server.kind == "processes" else {}
            rec["idle"] = dict(requested=wl["idle"], opened=opened, failed=failed,
                               rss_before=rss0, rss_after=rss1,
                               rss_per_conn=(rss1 - rss0) / opened if opened else None,
                               worker_rss_before=rss0w, worker_rss_after=rss1w,
                               worker_rss_per_conn=(rss1w - rss0w) / opened if opened else None,
                               per_worker=sorted(per.values(), reverse=True),
                               open_s=round(open_s, 1), helpers=len(idle), notes=notes)
            if fd_plan:
                rec["idle"].update(fd_mode=fd_plan["mode"], nofile=fd_plan["nofile"])
        pids = running.refresh()
        rec["pids"] = len(pids)
        sample = {}

        def sample_conns():
            if server.kind != "processes" or not wl.get("sample_conns", True):
                return  # threads share one fd table; see WORKLOADS for the others
            time.sleep(args.duration / 2)
            sample.update(connections_per_process(running.pids[1:], port))

        sampler = threading.Thread(target=sample_conns, daemon=True)
        argv = wrk_argv(wl, port, args.duration)
        rec["wrk_argv"] = argv
        counts = getattr(server, "request_counts", None)
        r0 = counts() if counts else {}
        w0 = running.workers()
        c0 = proc_ticks(pids)
        busy0, steal0 = cpu_stat()
        t_start = time.monotonic()
        sampler.start()
        result, text, wrk_cpu = run_wrk(argv, wenv, args.duration)
        elapsed = time.monotonic() - t_start
        c1 = proc_ticks(pids)
        w1 = running.workers()
        r1 = counts() if counts else {}
        busy1, steal1 = cpu_stat()
        sampler.join(timeout=5)
        # Syscalls and context switches: a separate, shorter wrk pass with perf
        # attached, so perf's tracepoint overhead never touches req/s or CPU/req.
        syscalls = ctxsw = perf_req = None
        if perf_ok and run_index < args.perf_runs:
            perf_out = tmp / "perf.csv"
            perf = start_perf(running.refresh(), perf_out)
            time.sleep(0.3)
            perf_result, _, _ = run_wrk(wrk_argv(wl, port, args.perf_duration), wenv, args.perf_duration)
            syscalls, ctxsw = stop_perf(perf, perf_out)
            perf_req = perf_result["requests"]
        rec["rss_end"] = rss_bytes(running.refresh())
        if idle:
            alive = [stop_idle(p) for p in idle]
            rec["idle"]["alive_after"] = None if None in alive else sum(alive)
            idle = []
        if wl.get("control") and fd_plan and not args.no_idle_control:
            held = rec["idle"].get("alive_after")
            held = rec["idle"]["opened"] if held is None else held
            try:  # a failed control must not cost the measured run
                rec["control_idle"] = idle_control(args, running, wl, port, wenv, fd_plan, held, tmp)
            except Exception as e:  # noqa: BLE001 - reported, the suite goes on
                rec["control_idle"] = dict(error=str(e)[-500:])
                print(f"bench: idle control failed: {e}", file=sys.stderr)
        req = result["requests"]
        wdelta = {k: w1[k] - w0.get(k, 0) for k in w1}
        if server.kind == "threads":  # h2o: only threads that did real work
            tot = sum(wdelta.values())
            wdelta = {k: v for k, v in wdelta.items() if tot and v >= 0.02 * tot}
        server_cpu_s = cpu_seconds_between(c0, c1)
        other = (busy1 - busy0) / CLK_TCK - server_cpu_s - wrk_cpu
        rec.update(
            wrk=result, wrk_text=text,
            rps=req / (result["duration_us"] / 1e6) if result["duration_us"] else 0,
            # response bytes (heads included) per second, as wrk counts them
            mib_s=result["bytes"] / (1 << 20) / (result["duration_us"] / 1e6) if result["duration_us"] else 0,
            bytes_per_req=result["bytes"] / req if req else None,
            requests=req,
            p50_us=result["p50_us"], p99_us=result["p99_us"],
            socket_errors=socket_errors(result),
            non2xx=result["non2xx"],
            server_cpu_s=server_cpu_s,
            cpu_us_per_req=server_cpu_s * 1e6 / req if req else None,
            wrk_cpu_s=wrk_cpu,
            other_cpu_s=other,
            elapsed_s=elapsed,
            machine_busy_pct=100.0 * (busy1 - busy0) / CLK_TCK / (elapsed * os.cpu_count()),
            steal_s=(steal1 - steal0) / CLK_TCK,
            syscalls=syscalls, ctx_switches=ctxsw, perf_requests=perf_req,
            syscalls_per_req=syscalls / perf_req if syscalls is not None and perf_req else None,
            ctxsw_per_req=ctxsw / perf_req if ctxsw is not None and perf_req else None,
            worker_cpu_share=shares(wdelta),
            worker_req_share=shares({k: r1[k] - r0.get(k, 0) for k in r1}) if r1 else [],
            worker_conn_share=shares(sample) if sample else [],
            worker_conns=sorted(sample.values(), reverse=True),
        )
    finally:
        for p in idle:
            stop_idle(p)
        running.stop()
        STARTED.remove(running)
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return rec


def side_run(running, wl, port, wenv, duration):
    """One more wrk run beside the measured one (idle100k's without and control runs):
    req/s, latency and the server's CPU per request."""
    pids = running.refresh()
    c0 = proc_ticks(pids)
    r, _, _ = run_wrk(wrk_argv(wl, port, duration), wenv, duration)
    c1 = proc_ticks(pids)
    dur = r["duration_us"] / 1e6
    cpu_s = cpu_seconds_between(c0, c1)
    return dict(rps=r["requests"] / dur if dur else 0, requests=r["requests"],
                p50_us=r["p50_us"], p99_us=r["p99_us"],
                cpu_us_per_req=cpu_s * 1e6 / r["requests"] if r["requests"] else None,
                socket_errors=socket_errors(r))


def idle_control(args, running, wl, port, wenv, fd_plan, count, tmp):
    """The same wrk run on the same server once more, with as many idle connections open
    on the machine as the server held (count) but held by bare stand-ins
    (idle_holder.py), not by the server: what p99 loses to that many open connections
    whoever holds them."""
    holders, idle = [], []
    try:
        open_s = wl.get("open_seconds", 120)
        max_s = args.duration * 4 + open_s + 120
        plan = dict(fd_plan, helpers=split_count(count, max(fd_plan["helpers"])))
        ports = control_ports(port, len(plan["helpers"]))
        holders = start_holders(ports, plan["nofile"], max_s + 60, tmp)
        idle, opened, failed, notes = start_big_idle(port, plan, open_s, max_s, tmp,
                                                     port_of=lambda i: ports[i])
        time.sleep(0.3)
        out = dict(opened=opened, failed=failed, holders=len(holders), notes=notes,
                   **side_run(running, wl, port, wenv, args.duration))
        alive = [stop_idle(p) for p in idle]
        idle = []
        out["alive_after"] = None if None in alive else sum(alive)
        return out
    finally:
        for p in idle:
            stop_idle(p)
        for p in holders:
            stop_holder(p)


# --------------------------------------------------------------------- main


def machine_info():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return dict(nproc=os.cpu_count(), cpu_model=model, kernel=platform.release(), memory=mem,
                os=run_text(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]).strip(),
                somaxconn=Path("/proc/sys/net/core/somaxconn").read_text().strip(),
                tcp_tw_reuse=Path("/proc/sys/net/ipv4/tcp_tw_reuse").read_text().strip(),
                clk_tck=CLK_TCK, wake_cost=wake_cost())


def wake_cost():
    """bench/wake_cost's line: what waking a task asleep on another CPU costs on this machine
    (on the VM of 2026-12-02, whose idle vCPUs halt, ~10x a round trip on one CPU), or why it
    was not measured."""
    tool = BENCH / ".build" / "wake_cost"
    try:
        r = subprocess.run([str(tool)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"not measured ({e})"
    return (r.stdout.strip() if r.returncode == 0
            else f"not measured (exit {r.returncode}: {r.stderr.strip()})")


def main():
    ap = argparse.ArgumentParser(description="preforkd benchmark suite (run via bench/run.sh)")
    ap.add_argument("-d", "--duration", type=int, default=5, help="seconds per measured run (default 5)")
    ap.add_argument("-r", "--runs", type=int, default=3, help="runs per server and workload (default 3)")
    ap.add_argument("-w", "--warmup", type=int, default=1, help="warm-up seconds after each start (default 1)")
    ap.add_argument("-s", "--servers", default="preforkd-shared,preforkd-reuseport,preforkd-cpu,nginx,h2o,node-cluster,ceiling,ceiling-reuseport",
                    help="comma list, alternated in this order")
    ap.add_argument("-l", "--workloads",
                    default="keepalive,keepalive1,pipelined,close,idle10k,idle100k,pinned,static4k,static1m",
                    help="comma list (static4k and static1m run only the servers that serve files: "
                         "preforkd, nginx, h2o)")
    ap.add_argument("--workers", type=int, default=os.cpu_count(), help="workers per server (default nproc)")
    ap.add_argument("--quick", action="store_true", help="1 run of 2 s per server and workload: a smoke test, not a measurement")
    ap.add_argument("--no-perf", action="store_true", help="skip perf stat (syscalls, context switches)")
    ap.add_argument("--perf-runs", type=int, default=1,
                    help="rounds that add a perf-stat pass after the measured run (default 1: the first)")
    ap.add_argument("--perf-duration", type=int, default=2, help="seconds of the perf-stat pass (default 2)")
    ap.add_argument("--max-other-cpu", type=float, default=15,
                    help="a run during which other processes used more than this %% of the CPUs is "
                         "run again (default 15)")
    ap.add_argument("--retries", type=int, default=1, help="how often a disturbed run is repeated (default 1)")
    ap.add_argument("--quiet-wait", type=float, default=20,
                    help="before each run, wait up to this many seconds for the machine to be idle (default 20)")
    ap.add_argument("--base-port", type=int, default=18080)
    ap.add_argument("--preforkd", default=str(REPO / "build-bench" / "preforkd"))
    ap.add_argument("--ceiling", required=True)
    ap.add_argument("--out", default=str(BENCH / "results"))
    ap.add_argument("--stamp", default=datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S"))
    ap.add_argument("--command", default="", help="the command line, for the report")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the generated configs and logs")
    ap.add_argument("--keep-page-reporting", action="store_true",
                    help="leave the VM's free page reporting order as it is (the suite holds it at 10)")
    ap.add_argument("--no-idle-control", action="store_true",
                    help="idle100k: skip the control run (the idle connections held by idle_holder.py)")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.runs, args.warmup, args.perf_duration = 2, 1, 1, 1
    args.ceiling = str(Path(args.ceiling).resolve())
    args.preforkd = str(Path(args.preforkd).resolve())
    args.servers = [s for s in args.servers.split(",") if s]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for w in args.workloads:
        if w not in WORKLOADS:
            sys.exit(f"bench: unknown workload {w!r}; known: {', '.join(WORKLOADS)}")
    if os.cpu_count() < 2 and "pinned" in args.workloads:
        sys.exit("bench: the pinned workload needs 2 CPUs")

    def on_signal(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    raise_own_nofile()

    servers = make_servers(args)
    ports = {}
    for s in servers:
        port = args.base_port + s.port_offset
        while not port_free(port):
            port += 10
            if port > args.base_port + 200:
                sys.exit(f"bench: no free port for {s.name}")
        ports[s.name] = port

    perf_ok, perf_why = (False, "disabled with --no-perf") if args.no_perf else perf_works()
    if not perf_ok:
        print(f"bench: perf stat unavailable ({perf_why}); syscalls and context switches not measured",
              file=sys.stderr)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    args.tmp = tempfile.mkdtemp(prefix="preforkd-bench-")
    os.chmod(args.tmp, 0o755)
    doc = dict(
        stamp=args.stamp, date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        command=args.command or " ".join(shlex.quote(a) for a in sys.argv),
        settings=dict(duration=args.duration, runs=args.runs, warmup=args.warmup, workers=args.workers,
                      perf_runs=args.perf_runs, perf_duration=args.perf_duration,
                      max_other_cpu=args.max_other_cpu, retries=args.retries, quiet_wait=args.quiet_wait,
                      repo=str(REPO), run_dir=args.tmp,
                      servers=args.servers, workloads=args.workloads, perf=perf_ok, perf_note=perf_why,
                      ports=ports),
        machine=machine_info(),
        versions=dict({s.name: s.version() for s in servers},
                      wrk=run_text(["wrk", "-v"]).splitlines()[0].split(" Copyright")[0],
                      perf=run_text(["perf", "--version"]).strip() if shutil.which("perf") else None,
                      python=platform.python_version()),
        workloads={w: dict(WORKLOADS[w], wrk=" ".join(shlex.quote(a) for a in wrk_argv(
            WORKLOADS[w], 18080, args.duration))) for w in args.workloads},
        runs=[], failures=[], discarded=[], skipped={})
    fd_plans = {}
    atexit.register(restore_sysctls)   # planning may raise them; an interrupt before the runs must not keep them
    doc["settings"]["page_reporting"] = hold_page_reporting(keep=args.keep_page_reporting)
    print(f"bench: {doc['settings']['page_reporting']}", file=sys.stderr, flush=True)
    for w in args.workloads:
        if WORKLOADS[w].get("big_idle"):
            plan = fd_plans[w] = plan_big_idle(WORKLOADS[w]["idle"], args.workers)
            if plan["skip"]:
                doc["skipped"][w] = plan["skip"]
                print(f"bench: {w} skipped: {plan['skip']}", file=sys.stderr, flush=True)
            else:
                doc["workloads"][w]["fd_plan"] = {k: v for k, v in plan.items() if k != "skip"}
                print(f"bench: {w}: {plan['note']}", file=sys.stderr, flush=True)
    json_path = out_dir / f"{args.stamp}.json"
    total = sum(args.runs * sum(1 for s in servers if s.serves_files or not WORKLOADS[w].get("static"))
                for w in args.workloads if w not in doc["skipped"])
    n = 0
    t_begin = time.monotonic()
    try:
        for wl in args.workloads:
            if wl in doc["skipped"]:
                continue
            for r in range(args.runs):
                for s in servers:
                    if WORKLOADS[wl].get("static") and not s.serves_files:
                        continue
                    n += 1
                    try:
                        for attempt in range(args.retries + 1):
                            waited, busy = wait_for_quiet(args.quiet_wait)
                            rec = one_run(args, s, wl, r, ports[s.name], perf_ok, fd_plans.get(wl))
                            rec["quiet_wait_s"], rec["busy_before_pct"] = waited, busy
                            other = 100.0 * rec["other_cpu_s"] / (rec["elapsed_s"] * os.cpu_count())
                            rec["other_cpu_pct"] = other
                            if other <= args.max_other_cpu or attempt == args.retries:
                                break
                            print(f"[{n}/{total}] {wl} run {r + 1} {s.name}: other CPU {other:.0f}% "
                                  f"(> {args.max_other_cpu:g}%): disturbed, running it again", flush=True)
                            doc["discarded"].append(rec)
                        doc["runs"].append(rec)
                        extra = ""
                        if rec.get("idle"):
                            i = rec["idle"]
                            extra = (f" idle {i['opened']}/{i['requested']} alive {i.get('alive_after')}"
                                     f" +{(i['rss_per_conn'] or 0):.0f} B/conn")
                            if i.get("worker_rss_per_conn") is not None:
                                extra += f" (workers {i['worker_rss_per_conn']:.0f})"
                            if i.get("open_s") is not None:
                                extra += f" opened in {i['open_s']:.0f}s"
                            if rec.get("before_idle"):
                                b = rec["before_idle"]
                                extra += f" p99 without {b['p99_us'] / 1000:.2f} ms"
                                if b.get("cpu_us_per_req") is not None:
                                    extra += f" (cpu {b['cpu_us_per_req']:.2f} us/req)"
                            if rec.get("control_idle", {}).get("p99_us") is not None:
                                c = rec["control_idle"]
                                extra += (f", held elsewhere {c['p99_us'] / 1000:.2f} ms"
                                          f" (cpu {c['cpu_us_per_req'] or 0:.2f} us/req)")
                            for note in i.get("notes") or []:
                                extra += f"\n    {note}"
                        sc = rec["syscalls_per_req"]
                        if WORKLOADS[wl].get("static"):
                            extra += f" {rec['mib_s']:,.0f} MiB/s"
                        print(f"[{n}/{total} {time.monotonic() - t_begin:5.0f}s] {wl:9} run {r + 1} {s.name:18} "
                              f"{rec['rps']:>10,.0f} req/s  p99 {rec['p99_us'] / 1000:6.2f} ms  "
                              f"cpu {rec['cpu_us_per_req']:.2f} us/req"
                              + (f"  {sc:.2f} syscalls/req" if sc is not None else "")
                              + f"  err {rec['socket_errors']}/{rec['non2xx']}  other {other:.0f}%{extra}",
                              flush=True)
                    except KeyboardInterrupt:
                        raise
                    except Exception as e:  # record and go on with the others
                        msg = f"{wl} run {r + 1} {s.name}: {e}"
                        print(f"[{n}/{total}] FAILED {msg}", file=sys.stderr, flush=True)
                        doc["failures"].append(msg)
                    json_path.write_text(json.dumps(doc, indent=1))
    except KeyboardInterrupt:
        print("bench: interrupted; stopping servers", file=sys.stderr)
        doc["interrupted"] = True
    finally:
        cleanup()
        restore_sysctls()
        doc["elapsed_s"] = round(time.monotonic() - t_begin, 1)
        json_path.write_text(json.dumps(doc, indent=1))
        if not args.keep_tmp:
            shutil.rmtree(args.tmp, ignore_errors=True)
    print(f"bench: raw results in {json_path} ({doc['elapsed_s']:.0f} s)")
    return 1 if doc.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
