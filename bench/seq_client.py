#!/usr/bin/python3
"""Send N `GET /` requests one after another on one keep-alive connection.

Used by callgrind.sh: a fixed, deterministic number of requests, each answered
before the next is sent (or, with --depth D, D requests in one write, the next D
once all D are answered: pipelining).  Exits 1 unless every response is a 200
"hello word".

  /usr/bin/python3 bench/seq_client.py --port 18080 --requests 20000 [--depth 16]
"""
import argparse
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--depth", type=int, default=1, help="requests per write (pipelining)")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    if args.depth < 1 or args.requests % args.depth != 0:
        sys.exit("seq_client: --depth must be at least 1 and divide --requests")
    s = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    batch = REQUEST * args.depth
    for i in range(0, args.requests, args.depth):
        s.sendall(batch)
        data = b""
        while data.count(b"hello word") < args.depth:
            chunk = s.recv(65536)
            if not chunk:
                sys.exit(f"seq_client: connection closed after {i} responses")
            data += chunk
        answers = data.split(b"HTTP/1.1 ")[1:]
        if len(answers) != args.depth or not all(a.startswith(b"200 ") for a in answers):
            sys.exit(f"seq_client: responses {i}..{i + args.depth - 1}: {data[:80]!r}")
    s.close()


if __name__ == "__main__":
    main()
