#!/usr/bin/python3
"""Send N `GET /` requests one after another on one keep-alive connection.

Used by callgrind.sh: a fixed, deterministic number of requests, each answered
before the next is sent.  Exits 1 unless every response is a 200 "hello word".

  /usr/bin/python3 bench/seq_client.py --port 18080 --requests 20000
"""
import argparse
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    s = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(args.requests):
        s.sendall(REQUEST)
        data = b""
        while not data.endswith(b"hello word"):
            chunk = s.recv(4096)
            if not chunk:
                sys.exit(f"seq_client: connection closed after {i} responses")
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            sys.exit(f"seq_client: response {i}: {data[:80]!r}")
    s.close()


if __name__ == "__main__":
    main()
