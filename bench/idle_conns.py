#!/usr/bin/python3
"""Open N keep-alive connections to 127.0.0.1:PORT and hold them idle.

Each connection sends one `GET /` and reads its response, so the server holds it
as an idle keep-alive connection (not a fresh, never-used one). Connections are
opened in batches so the listen queue never overflows.

Protocol on stdout/stdin (used by bench.py):
  prints  "ready OPENED FAILED"  once every connection is open and answered;
  then waits for a line on stdin (or EOF, or --max-seconds);
  prints  "alive N"              N = connections the server has not closed;
  closes everything and exits.

  /usr/bin/python3 bench/idle_conns.py --port 18080 --count 10000
"""
import argparse
import errno
import resource
import select
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = need + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, hard), max(want, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_batch(host, port, n, deadline):
    """Connect n sockets, send one request on each, read its response.

    Returns (answered sockets, number failed)."""
    sel = selectors.DefaultSelector()
    pending = {}
    failed = 0
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failed += 1
            continue
        pending[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    done = []
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--max-seconds", type=float, default=600,
                    help="give up holding after this long (the helper always stops by itself)")
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("idle_conns: only loopback targets are allowed")
    raise_nofile(args.count)

    start = time.monotonic()
    socks, failed = [], 0
    remaining = args.count
    while remaining > 0:
        n = min(args.batch, remaining)
        got, bad = open_batch(args.host, args.port, n, start + 120)
        socks += got
        failed += bad
        remaining -= n
    print(f"ready {len(socks)} {failed}", flush=True)

    ready, _, _ = select.select([sys.stdin], [], [], max(0.0, args.max_seconds - (time.monotonic() - start)))
    if ready:
        sys.stdin.readline()
    print(f"alive {count_alive(socks)}", flush=True)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
