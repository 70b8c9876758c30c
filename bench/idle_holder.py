#!/usr/bin/python3
"""Hold idle keep-alive connections for the idle100k control: a bare stand-in server.

Listens on 127.0.0.1:PORT, answers every request it reads with a fixed `200 hello word`
(what idle_conns.py waits for) and keeps the connection open. It does nothing else, so
while it holds the idle connections the server under test holds none, yet the machine
carries the same number of open TCP connections: the server's p99 measured then shows
what those connections cost the machine itself (the kernel, the scheduler), apart from
what they cost the server that holds them.

Protocol on stdout/stdin (used by bench.py):
  prints  "listening PORT"  once the socket listens;
  serves until stdin closes (or --max-seconds), then prints "held N" and exits.

  /usr/bin/python3 bench/idle_holder.py --port 18150 --nofile 101024
"""
import argparse
import os
import resource
import selectors
import socket
import sys
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: text/plain\r\n\r\nhello word"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--nofile", type=int, default=0, help="RLIMIT_NOFILE to ask for (soft = hard)")
    ap.add_argument("--max-seconds", type=float, default=600)
    a = ap.parse_args()
    if a.nofile:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, a.nofile))
        except (ValueError, OSError) as e:
            sys.exit(f"idle_holder: cannot raise RLIMIT_NOFILE to {a.nofile}: {e}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", a.port))
    listener.listen(4096)
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print(f"listening {a.port}", flush=True)
    held = set()
    deadline = time.monotonic() + a.max_seconds
    running = True
    while running and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            if key.fileobj is sys.stdin:
                if not os.read(sys.stdin.fileno(), 4096):
                    running = False
            elif key.fileobj is listener:
                while True:
                    try:
                        c, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        # EMFILE: the connection stays queued and the listener readable;
                        # pause instead of spinning (the client's batch gives up on it)
                        time.sleep(0.1)
                        break
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ)
                    held.add(c)
            else:
                c = key.fileobj
                try:
                    data = c.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    try:
                        c.send(ANSWER)  # a one-request client: the answer fits the empty buffer
                        continue
                    except OSError:
                        pass  # reset meanwhile: let go of it as of a close
                sel.unregister(c)
                held.discard(c)
                c.close()
    print(f"held {len(held)}", flush=True)


if __name__ == "__main__":
    main()
