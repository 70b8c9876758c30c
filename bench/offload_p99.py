#!/usr/bin/env python3
"""GET / latency while CPU-heavy module work runs on the offload threads (issue 14's bar:
with 2 `sum` requests in flight per worker, `GET /` p99 under `wrk -t1 -c32` within 2x of
its value without them).

preforkd runs 2 workers with the fixed route `/` and the `sum` example on `/app/sum`.
Each round measures `wrk -t1 -c32 --latency /` alone, then again while 4 keep-alive
connections, 2 held by each worker (checked through the workers' descriptor tables), send
one `sum` after another, so each worker has 2 sums in flight for the whole wrk run.

    bench/offload_p99.py                       # build/preforkd, 3 rounds of 5 s
    bench/offload_p99.py -r 5 --threads 1 --extra 'offload_nudge = "0s"'

Every load is bounded: wrk by -d, the sum senders by a deadline and a count.
"""
import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import bench

SUM_N = 1_000_000_000  # ~0.3 s of one CPU per sum here; each sender sends the next at once


def wrk(port, seconds):
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency",
                          f"http://{bench.HOST}:{port}/"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    return rps, p99_ms


def worker_pids(master):
    return [p for p in bench.tree(master)[1:]]


def holder(port, client_port, pids):
    """The worker whose descriptor table holds the server side of the connection from
    `client_port`, or None."""
    inode = None
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote = parts[1], parts[2]
            if (int(local.rsplit(":", 1)[1], 16) == port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port):
                inode = parts[9]
    if inode is None:
        return None
    for p in pids:
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    if os.readlink(f"/proc/{p}/fd/{fd}") == f"socket:[{inode}]":
                        return p
                except OSError:
                    pass
        except OSError:
            pass
    return None


def read_answer(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return head.split(b"\r\n", 1)[0], body


def two_per_worker(port, pids, tries=40):
    """4 connected sockets, 2 held by each of the 2 workers (the rest closed)."""
    chosen = {p: [] for p in pids}
    spare = []
    for _ in range(tries):
        if all(len(v) == 2 for v in chosen.values()):
            break
        s = socket.create_connection((bench.HOST, port), timeout=30)
        # a request answered proves the worker has accepted it (and holds the descriptor)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        read_answer(s)
        p = holder(port, s.getsockname()[1], pids)
        if p in chosen and len(chosen[p]) < 2:
            chosen[p].append(s)
        else:
            spare.append(s)
    for s in spare:
        s.close()
    if not all(len(v) == 2 for v in chosen.values()):
        raise RuntimeError(f"could not place 2 connections on each worker: {chosen}")
    return [s for v in chosen.values() for s in v]


def send_sums(sock, stop, deadline, answers, errors):
    req = f"GET /app/sum?n={SUM_N} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    want = f"Sum is {SUM_N * (SUM_N - 1) // 2}".encode()
    for _ in range(1000):
        if stop.is_set() or time.monotonic() > deadline:
            return
        try:
            sock.sendall(req)
            status, body = read_answer(sock)
        except OSError as e:
            errors.append(repr(e))
            return
        if body != want:
            errors.append(f"{status!r} {body[:80]!r}")
            return
        answers.append(1)


def helper_seconds(pid):
    """CPU seconds of the worker's offload threads (named pfd-offload)."""
    ticks = bench.thread_ticks(pid)
    return sum(t for tid, t in ticks.items() if thread_name(pid, tid) == "pfd-offload") / bench.CLK_TCK


def thread_name(pid, tid):
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return ""


def set_slice(tids, us):
    import ctypes, struct
    libc = ctypes.CDLL(None, use_errno=True)
    for t in tids:
        # struct sched_attr: size, policy, flags, nice, prio, runtime, deadline, period
        attr = struct.pack("IIQiIQQQ", 48, 0, 0, 0, 0, us * 1000, 0, 0)
        buf = ctypes.create_string_buffer(attr)
        if libc.syscall(314, t, buf, 0) != 0:
            print("sched_setattr", t, ctypes.get_errno())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preforkd", default=str(bench.REPO / "build/preforkd"))
    ap.add_argument("-r", "--rounds", type=int, default=3)
    ap.add_argument("-d", "--duration", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="offload_threads per worker")
    ap.add_argument("--extra", default="", help="more [server] lines for the config")
    ap.add_argument("--port", type=int, default=18140)
    ap.add_argument("--helpers-cgroup", help="experiment: a cgroup v1 directory (made by you, e.g. with\n                    cpu.idle = 1) to move the helper threads into once they run")
    ap.add_argument("--loop-slice-us", type=int, help="experiment: sched_setattr slice of the loop threads")
    ap.add_argument("--pin-nudge", action="store_true", help="experiment (before the server did it "
                    "itself): pin the i-th worker's pfd-nudge thread to CPU i")
    ap.add_argument("--loop-nice", type=int, help="experiment: nice value of the loop threads (as nginx's "
                    "worker_priority; below 0 needs root)")
    args = ap.parse_args()

    binary = Path(args.preforkd).resolve()
    module = binary.parent / "examples/sum/libsum.so"
    tmp = Path(tempfile.mkdtemp(prefix="pfd-offload-"))
    conf = tmp / "server.toml"
    conf.write_text("[server]\n"
                    f'listen = "{bench.HOST}:{args.port}"\n'
                    "workers = 2\n"
                    f"offload_threads = {args.threads}\n"
                    f"{args.extra}\n"
                    "[limits]\nhandler_timeout = \"120s\"\nmax_requests_per_connection = 0\n"
                    "\n[[route]]\npath = \"/\"\nbody = \"hello word\"\ncontent_type = \"text/plain\"\n"
                    f"\n[[route]]\npath = \"/app/sum\"\nmodule = \"{module}\"\n")
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen([str(binary), "-c", str(conf)], stdout=log, stderr=log)
    try:
        for _ in range(100):
            if bench.http_get(args.port):
                break
            time.sleep(0.1)
        else:
            sys.exit(f"preforkd did not answer; log in {tmp}/server.log")
        time.sleep(0.3)
        pids = worker_pids(server.pid)
        if len(pids) != 2:
            sys.exit(f"expected 2 workers, found {pids}")
        if args.loop_nice is not None:
            for p in pids:
                os.setpriority(os.PRIO_PROCESS, p, args.loop_nice)
        wrk(args.port, 2)   # warm-up
        rows = []
        for r in range(args.rounds):
            alone = wrk(args.port, args.duration)
            socks = two_per_worker(args.port, pids)
            stop, answers, errors = threading.Event(), [], []
            deadline = time.monotonic() + args.duration + 20
            senders = [threading.Thread(target=send_sums, args=(s, stop, deadline, answers, errors))
                       for s in socks]
            for t in senders:
                t.start()
            time.sleep(0.5)   # every sum started
            if args.helpers_cgroup:
                for p in pids:
                    for tid in bench.thread_ticks(p):
                        if thread_name(p, tid) == "pfd-offload":
                            Path(args.helpers_cgroup, "tasks").write_text(str(tid))
            if args.loop_slice_us:
                set_slice(pids, args.loop_slice_us)
            if args.pin_nudge:
                for i, p in enumerate(pids):
                    for tid in bench.thread_ticks(p):
                        if thread_name(p, tid) == "pfd-nudge":
                            os.sched_setaffinity(tid, {i % os.cpu_count()})
            before = {p: helper_seconds(p) for p in pids}
            during = wrk(args.port, args.duration)
            used = {p: helper_seconds(p) - before[p] for p in pids}
            stop.set()
            for t in senders:
                t.join(60)
            for s in socks:
                s.close()
            if errors:
                sys.exit(f"sum errors: {errors}")
            rows.append((alone, during, used, len(answers)))
            print(f"round {r + 1}: alone {alone[0]:,.0f} req/s p99 {alone[1]:.2f} ms; "
                  f"during sums {during[0]:,.0f} req/s p99 {during[1]:.2f} ms "
                  f"({during[1] / alone[1]:.2f}x); helper CPU s per worker "
                  f"{[round(u, 2) for u in used.values()]}; sums answered {len(answers)}",
                  flush=True)
            time.sleep(1.0)   # the last sums end before the next alone run
        ratios = [d[1] / a[1] for a, d, _, _ in rows]
        print(f"p99 ratio median {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f}); bar: within 2x")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    main()
