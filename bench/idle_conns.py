#!/usr/bin/python3
"""Open N keep-alive connections to 127.0.0.1:PORT and hold them idle.

Each connection sends one `GET /` and reads its response, so the server holds it
as an idle keep-alive connection (not a fresh, never-used one). Connections are
opened in batches so the listen queue never overflows.

More connections than one source address has ephemeral ports (~28k here, see
net.ipv4.ip_local_port_range) need several source addresses: --source FIRST binds
connection i to 127.0.0.(FIRST + i // --per-source) before connecting (all of 127/8
is loopback on Linux). Without --source the kernel picks 127.0.0.1, as before.

Opening is bounded: it gives up after --open-seconds in all, on a batch that makes
no progress for --stall-seconds, and once a batch gets less than half of its
connections answered (the server holds no more: they wait in its listen queue or are
refused). It then says why on stderr and holds what it has.

Protocol on stdout/stdin (used by bench.py):
  prints  "ready OPENED FAILED"  once every connection is open and answered (or opening gave up);
  then waits for a line on stdin (or EOF, or --max-seconds);
  prints  "alive N"              N = connections the server has not closed;
  closes everything and exits.

  /usr/bin/python3 bench/idle_conns.py --port 18080 --count 10000
  /usr/bin/python3 bench/idle_conns.py --port 18080 --count 19000 --source 2 --per-source 20000
"""
import argparse
import errno
import ipaddress
import resource
import select
import selectors
import socket
import struct
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# Port chosen at connect() (by the whole 4-tuple), not at bind(): bind() alone would
# need a port free on that address for every socket and scans the range to find one.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_batch(host, port, sources, deadline, stall):
    """Connect one socket per entry of `sources` (a source address, or None), send one
    request on each, read its response.

    Returns (answered sockets, number failed)."""
    sel = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for src in sources:
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:   # EMFILE: counted, not fatal
            failed += 1
            continue
        s.setblocking(False)
        try:
            if src is not None:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            err = s.connect_ex((host, port))
        except OSError as e:  # EMFILE, EADDRNOTAVAIL: counted, not fatal
            err = e.errno
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            continue
        pending[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    done = []
    last_progress = time.monotonic()
    while pending and time.monotonic() < deadline and time.monotonic() - last_progress < stall:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            last_progress = time.monotonic()
            try:
                if ev & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, "connect")
                    s.send(REQUEST)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(4096)
                if not data:
                    raise OSError(errno.ECONNRESET, "closed")
                pending[s] += data
                if pending[s].endswith(b"hello word"):
                    sel.unregister(s)
                    del pending[s]
                    done.append(s)
            except OSError:
                sel.unregister(s)
                del pending[s]
                s.close()
                failed += 1
    for s in pending:
        s.close()
        failed += 1
    sel.close()
    return done, failed


def count_alive(socks):
    alive = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:  # unexpected bytes, but the connection is open
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def loopback_source(first, i, per_source):
    if first is None:
        return None
    addr = ipaddress.IPv4Address("127.0.0.0") + first + i // per_source
    if not addr.is_loopback or str(addr).endswith(".255"):
        sys.exit(f"idle_conns: source address {addr} is not a usable loopback address")
    return str(addr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--source", type=int, default=None,
                    help="bind connection i to 127.0.0.(SOURCE + i // PER_SOURCE) (default: no bind)")
    ap.add_argument("--per-source", type=int, default=20000,
                    help="connections per source address (default 20000: under the ~28k ephemeral ports)")
    ap.add_argument("--open-seconds", type=float, default=120,
                    help="give up opening after this long in all (default 120)")
    ap.add_argument("--stall-seconds", type=float, default=10,
                    help="give up on a batch that makes no progress for this long (default 10)")
    ap.add_argument("--max-seconds", type=float, default=600,
                    help="give up holding after this long (the helper always stops by itself)")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("idle_conns: only loopback targets are allowed")
    if args.per_source < 1:
        sys.exit("idle_conns: --per-source must be at least 1")
    raise_nofile(args.count)

    start = time.monotonic()
    socks, failed = [], 0
    i = 0
    while i < args.count:
        if time.monotonic() - start >= args.open_seconds:
            print(f"idle_conns: gave up after {args.open_seconds:g} s: {len(socks)} of {args.count} "
                  "answered", file=sys.stderr, flush=True)
            break
        n = min(args.batch, args.count - i)
        sources = [loopback_source(args.source, i + k, args.per_source) for k in range(n)]
        got, bad = open_batch(args.host, args.port, sources, start + args.open_seconds,
                              args.stall_seconds)
        socks += got
        failed += bad
        i += n
        if len(got) * 2 < n:
            print(f"idle_conns: a batch got {len(got)} of {n} answered: the server holds no more; "
                  f"stopping at {len(socks)} of {args.count}", file=sys.stderr, flush=True)
            break
    print(f"ready {len(socks)} {failed}", flush=True)

    ready, _, _ = select.select([sys.stdin], [], [], max(0.0, args.max_seconds - (time.monotonic() - start)))
    if ready:
        sys.stdin.readline()
    print(f"alive {count_alive(socks)}", flush=True)
    # Closed with a reset: a normal close would leave every connection in TIME_WAIT on
    # this machine for a minute, and 100,000 of them disturb the next measured run.
    linger_off = struct.pack("ii", 1, 0)
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_off)
        except OSError:
            pass
        s.close()


if __name__ == "__main__":
    main()
