"""Helpers for the static file tests (test_static_files.py): a docroot with a secret file
outside it, the config of a file route, raw requests read to the peer's close, a
multipart/byteranges parser, and a downloader run as its own process (so that the
latency probe in the test process does not share a GIL with eight hashing clients).

Standard library only; 127.0.0.1 only; every wait is bounded.
"""
import hashlib
import json
import os
import re
import socket
import sys
import time
from pathlib import Path

# Never served: every traversal test checks no response holds these bytes.
SECRET_MARK = b"SECRET-OUTSIDE-THE-ROOT-7f3a9c"
INSIDE_MARK = b"inside the root"


def build_tree(base):
    """base/www (the root) and base/outside (with the secret), both absolute.

    The root holds inside.txt, sub/inside.txt, docs/index.html, nodex/ (no index), a
    directory literally named "%2e%2e" and ".git"/".env" dotfiles; the secret also sits
    right beside the root (base/secret.txt) and in base/outside/."""
    base = Path(base)
    root = base / "www"
    outside = base / "outside"
    for d in (root, root / "sub", root / "docs", root / "nodex", root / "%2e%2e", root / ".git", outside):
        d.mkdir(parents=True, exist_ok=True)
    for secret in (base / "secret.txt", outside / "secret.txt"):
        secret.write_bytes(SECRET_MARK + b"\n")
    (root / "inside.txt").write_bytes(INSIDE_MARK + b"\n")
    (root / "sub" / "inside.txt").write_bytes(INSIDE_MARK + b" (sub)\n")
    (root / "index.html").write_bytes(b"<h1>root index</h1>\n")
    (root / "docs" / "index.html").write_bytes(b"<h1>docs index</h1>\n")
    (root / "nodex" / "page.txt").write_bytes(b"a page\n")
    (root / "%2e%2e" / "inside.txt").write_bytes(b"literal %2e%2e directory\n")
    (root / ".env").write_bytes(b"DOTENV=1\n")
    (root / ".git" / "config").write_bytes(b"[core]\n")
    (root / "sub" / ".env").write_bytes(b"SUBDOTENV=1\n")
    return root, outside


def file_route(root, prefix="/static/", mime=None, **settings):
    """The TOML of the fixed "/" route and one file route (settings: index, cache_control,
    follow_symlinks, precompressed, allow_dotfiles), then [mime] if given."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v)
    text = ('\n[[route]]\npath = "/"\nbody = "hello word"\ncontent_type = "text/plain"\n'
            f'\n[[route]]\nprefix = {value(prefix)}\nroot = {value(str(root))}\n')
    text += "".join(f"{k} = {value(v)}\n" for k, v in settings.items())
    if mime:
        text += "\n[mime]\n" + "".join(f"{k} = {value(v)}\n" for k, v in mime.items())
    return text


class Raw:
    """One answer read to the peer's close: every byte the server sent, whatever it was."""

    def __init__(self, data, elapsed):
        self.data = data
        self.elapsed = elapsed
        end = data.find(b"\r\n\r\n")
        head = data[:end if end >= 0 else len(data)].decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"^HTTP/1\.[01] (\d{3}) ", lines[0] if lines else "")
        self.status = int(m.group(1)) if m else None
        self.headers = {}
        for line in lines[1:]:
            name, _, v = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(v.strip())
        self.body = data[end + 4:] if end >= 0 else b""

    def header(self, name):
        values = self.headers.get(name.lower(), [])
        assert len(values) <= 1, f"{name} appears {len(values)} times: {values}"
        return values[0] if values else None

    def __repr__(self):
        return f"<Raw {self.status} {self.data[:300]!r}>"


def raw_request(method, target, headers=None):
    """Request bytes with the target exactly as given (bytes or latin-1 text)."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    hdrs.update(headers or {})
    head = b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in hdrs.items())
    return method.encode() + b" " + target + b" HTTP/1.1\r\n" + head + b"\r\n"


def exchange(port, data, timeout=5.0):
    """Sends `data` on a fresh connection and reads to the close (bounded by timeout)."""
    t0 = time.monotonic()
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                raise AssertionError(f"no close within {timeout} s after {len(out)} bytes: {out[:300]!r}")
            if not chunk:
                break
            out += chunk
    return Raw(out, time.monotonic() - t0)


def fetch(port, target, method="GET", headers=None, timeout=5.0):
    return exchange(port, raw_request(method, target, headers), timeout)


def parse_byteranges(content_type, body):
    """[(content-range, content-type, bytes)] of a multipart/byteranges body (RFC 9110 14.6),
    checking its framing strictly: CRLF before every delimiter, the closing one last."""
    m = re.fullmatch(r'multipart/byteranges; ?boundary="?([^";]+)"?', content_type)
    assert m, f"not multipart/byteranges: {content_type!r}"
    delim = b"--" + m.group(1).encode()
    assert body.startswith(delim + b"\r\n") or body.startswith(b"\r\n" + delim + b"\r\n"), body[:200]
    if body.startswith(b"\r\n"):
        body = body[2:]
    close = b"\r\n" + delim + b"--\r\n"
    assert body.endswith(close) or body.endswith(close[:-2]), body[-200:]
    inner = body[len(delim) + 2:body.rindex(b"\r\n" + delim + b"--")]
    parts = []
    for piece in inner.split(b"\r\n" + delim + b"\r\n"):
        head, sep, content = piece.partition(b"\r\n\r\n")
        assert sep, f"a part without a head: {piece[:200]!r}"
        fields = {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, v = line.partition(":")
            fields[name.strip().lower()] = v.strip()
        parts.append((fields.get("content-range"), fields.get("content-type"), content))
    return parts


def sanitized(pid):
    """An AddressSanitizer build (the process maps libasan)."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


def make_big_file(path, size, chunk=1 << 20):
    """`size` bytes of random data (1 MiB of urandom repeated with a counter, so no two
    MiB are the same and a misplaced chunk changes the digest); returns its sha256."""
    block = os.urandom(chunk)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size // chunk):
            piece = i.to_bytes(8, "little") + block[8:]
            f.write(piece)
            h.update(piece)
        rest = size % chunk
        if rest:
            f.write(block[:rest])
            h.update(block[:rest])
    return h.hexdigest()


# --------------------------------------------------------------------------- downloader process

def download(port, target, timeout):
    """GET target on its own connection: {status, length, received, sha256, seconds}."""
    t0 = time.monotonic()
    h = hashlib.sha256()
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw_request("GET", target))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
        end = head.find(b"\r\n\r\n")
        status = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else None
        m = re.search(rb"\r\ncontent-length: *(\d+)", head[:end], re.I)
        length = int(m.group(1)) if m else None
        rest = head[end + 4:]
        h.update(rest)
        received = len(rest)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            n = s.recv_into(buf)
            if n == 0:
                break
            h.update(view[:n])
            received += n
    return {"status": status, "length": length, "received": received, "sha256": h.hexdigest(),
            "seconds": time.monotonic() - t0}


if __name__ == "__main__":
    # python3 static_tree.py download PORT TARGET TIMEOUT: one JSON line on stdout.
    if len(sys.argv) == 5 and sys.argv[1] == "download":
        print(json.dumps(download(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))), flush=True)
    else:
        sys.exit("usage: static_tree.py download PORT TARGET TIMEOUT")
