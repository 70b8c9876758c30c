"""Static files (issue 13): a file route ([[route]] prefix/root) checked over real sockets.

Each test builds its own docroot under tmp_path (static_tree.build_tree: www/ as the root,
a secret file outside it) and its own config with an absolute root, starts preforkd
and talks to it with raw sockets, so every byte of the target is exactly what is sent.

Covered: traversal in all its spellings (never a byte of the secret), symlinks with
follow_symlinks off and on, dotfiles, non-regular files (FIFO, socket, device),
directories and their redirects, MIME types, validators and Cache-Control, HEAD,
methods, ranges (single, multipart, invalid, If-Range), every precondition, precompressed
siblings, a 100 MiB file to 8 clients at once (warm and cold page cache) while "/" keeps
answering, files changed, replaced, deleted and truncated, permissions, and keep-alive
after errors.
"""
import email.utils
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import conftest
from conftest import Client, request
from static_tree import (INSIDE_MARK, SECRET_MARK, build_tree, exchange, fetch, file_route, make_big_file,
                         parse_byteranges, raw_request, sanitized)

STATIC_TREE = str(Path(__file__).with_name("static_tree.py"))
PASSWD_MARK = b"root:x:0:0"
MIB = 1 << 20


def start(server_factory, root, workers=1, **settings):
    return server_factory(workers=workers, routes=file_route(root, **settings))


def under_asan(srv):
    return any(sanitized(pid) for pid in [srv.pid, *srv.worker_pids()])


def keep_alive(target, method="GET", headers=None):
    """Request bytes for a keep-alive connection (no Connection: close)."""
    hdrs = {"Host": "127.0.0.1"}
    hdrs.update(headers or {})
    return request(method=method, path=target, headers=hdrs)


def read_answer(c, method="GET"):
    """One answer on a Client: a 304 (and any answer to HEAD) has no body, whatever its
    fields say (RFC 9110 6.4.1); the rest are framed by Content-Length."""
    r = c.read_response(head_only=True)
    if method == "HEAD" or r.status == 304:
        return r
    length = r.header("Content-Length")
    assert length is not None and length.isdigit(), f"no usable Content-Length in {r.raw_head!r}"
    n = int(length)
    while len(c.buf) < n:
        c._fill()
    r.body, c.buf = c.buf[:n], c.buf[n:]
    return r


def get_on(c, target, method="GET", headers=None):
    c.send(keep_alive(target, method, headers))
    return read_answer(c, method)


def assert_root_still_answers(port):
    r = conftest.get(port, "/")
    assert r.status == 200 and r.body == b"hello word", r


@pytest.fixture
def tree(tmp_path):
    root, outside = build_tree(tmp_path)
    return tmp_path, root, outside


# --------------------------------------------------------------------------- traversal

def make_symlinks(base, root):
    """Symlinks out of the root (absolute, relative, through a directory, through a magic
    link) and inside it."""
    links = {
        "abs_out": str(base / "secret.txt"),
        "rel_out": "../secret.txt",
        "sub/up_out": "../../outside/secret.txt",
        "dir_out": str(base / "outside"),
        "dir_out_rel": "../outside",
        "magic_out": f"/proc/self/root{base}/secret.txt",
        "proc_fd": "/proc/self/fd/0",
        "in_link": "inside.txt",
        "sub/up_in": "../inside.txt",
        "dir_in": "sub",
        # Absolute, but naming a file inside the root: RESOLVE_BENEATH refuses every
        # absolute symlink (it cannot be resolved against the root safely).
        "abs_in": str(root / "inside.txt"),
        "loop": "loop",
        "dangling": "no-such-file",
    }
    for name, to in links.items():
        os.symlink(to, root / name)
    (root / ("b" * 255)).write_bytes(b"longest name\n")


INSIDE = INSIDE_MARK + b"\n"
SUB_INSIDE = INSIDE_MARK + b" (sub)\n"
LITERAL = b"literal %2e%2e directory\n"

LONG_PATH = "/static/" + "/".join(["d" * 200] * 21) + "/x.txt"   # 4,226 bytes below the prefix
assert len(LONG_PATH) - len("/static/") > 4095

# (target, status with follow_symlinks = false, with it true, with allow_dotfiles = true,
#  the body of a 200). Statuses from proto/target_path.hpp: 400 bad escape, 403 a ".."
# segment, 404 separators/NUL/controls/dotfiles/too long; handlers/file_lookup.cpp: 403 a
# symlink refused or leaving the root, 404 nothing there.
TRAVERSAL = [
    # plain and encoded dot segments
    ("/static/../secret.txt", 403, 403, 403, None),
    ("/static/../../secret.txt", 403, 403, 403, None),
    ("/static/../outside/secret.txt", 403, 403, 403, None),
    ("/static/sub/../../secret.txt", 403, 403, 403, None),
    ("/static/inside.txt/../../secret.txt", 403, 403, 403, None),
    ("/static/%2e%2e/secret.txt", 403, 403, 403, None),
    ("/static/%2E%2E/secret.txt", 403, 403, 403, None),
    ("/static/.%2E/secret.txt", 403, 403, 403, None),
    ("/static/%2e./secret.txt", 403, 403, 403, None),
    ("/static/sub/%2e%2e/%2e%2e/secret.txt", 403, 403, 403, None),
    ("/static/./../secret.txt", 403, 403, 403, None),
    ("/static//../secret.txt", 403, 403, 403, None),
    ("/static/..", 403, 403, 403, None),
    ("/static/%2e%2e", 403, 403, 403, None),
    ("/static/../secret.txt?download=1", 403, 403, 403, None),
    ("/static/" + "../" * 1500 + "secret.txt", 403, 403, 403, None),
    # double encoding: decoded once, "%252e%252e" is the literal name "%2e%2e"
    ("/static/%252e%252e/secret.txt", 404, 404, 404, None),
    ("/static/%252e%252e/inside.txt", 200, 200, 200, LITERAL),
    ("/static/%252e%252e%252fsecret.txt", 404, 404, 404, None),
    ("/static/..%252fsecret.txt", 404, 404, 404, None),   # a dotfile name, and absent
    # encoded separators
    ("/static/..%2fsecret.txt", 404, 404, 404, None),
    ("/static/%2e%2e%2fsecret.txt", 404, 404, 404, None),
    ("/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", 404, 404, 404, None),
    ("/static/sub%2f..%2f..%2fsecret.txt", 404, 404, 404, None),
    ("/static/%2fetc/passwd", 404, 404, 404, None),
    ("/static/..%5csecret.txt", 404, 404, 404, None),
    ("/static/%2e%2e%5c%2e%2e%5csecret.txt", 404, 404, 404, None),
    # raw backslashes
    # a raw backslash is no byte of a path (RFC 3986; browsers turn it into '/'): 400
    ("/static/..\\secret.txt", 400, 400, 400, None),
    ("/static/sub\\..\\..\\secret.txt", 400, 400, 400, None),
    # NUL and controls
    ("/static/inside.txt%00", 404, 404, 404, None),
    ("/static/inside.txt%00.html", 404, 404, 404, None),
    ("/static/..%00/secret.txt", 404, 404, 404, None),
    ("/static/%0a/../secret.txt", 404, 404, 404, None),
    ("/static/inside\x00.txt", 400, 400, 400, None),     # a raw NUL: the parser refuses it
    # malformed escapes: 400 before any segment is looked at
    ("/static/%zz/../secret.txt", 400, 400, 400, None),
    ("/static/%2", 400, 400, 400, None),
    ("/static/%%32%65%%32%65/secret.txt", 400, 400, 400, None),
    # non-shortest UTF-8 for '.' and '/' is not a dot or a slash
    ("/static/%c0%ae%c0%ae/secret.txt", 404, 404, 404, None),
    ("/static/%e0%80%ae%e0%80%ae/secret.txt", 404, 404, 404, None),
    ("/static/..%c0%afsecret.txt", 404, 404, 404, None),
    ("/static/.../secret.txt", 404, 404, 404, None),
    ("/static/..;/secret.txt", 404, 404, 404, None),
    # overlong: NAME_MAX and PATH_MAX
    ("/static/" + "b" * 255, 200, 200, 200, b"longest name\n"),
    ("/static/" + "b" * 256, 404, 404, 404, None),
    (LONG_PATH, 404, 404, 404, None),
    # outside the prefix: no route
    ("//static/../secret.txt", 404, 404, 404, None),
    ("/STATIC/../secret.txt", 404, 404, 404, None),
    ("/static%2f..%2fsecret.txt", 404, 404, 404, None),
    # absolute-form targets (RFC 9112 3.2.2)
    ("http://127.0.0.1/static/../secret.txt", 403, 403, 403, None),
    ("http://127.0.0.1/static/%2e%2e/secret.txt", 403, 403, 403, None),
    ("http://127.0.0.1/static/..%2fsecret.txt", 404, 404, 404, None),
    ("http://127.0.0.1/../secret.txt", 404, 404, 404, None),
    ("http://evil.example/static/../../secret.txt", 403, 403, 403, None),
    ("http://127.0.0.1/static/inside.txt", 200, 200, 200, INSIDE),
    # symlinks: none followed when off; when on, only those resolving inside the root
    ("/static/abs_out", 403, 403, 403, None),
    ("/static/rel_out", 403, 403, 403, None),
    ("/static/sub/up_out", 403, 403, 403, None),
    ("/static/dir_out/secret.txt", 403, 403, 403, None),
    ("/static/dir_out_rel/secret.txt", 403, 403, 403, None),
    ("/static/magic_out", 403, 403, 403, None),
    ("/static/proc_fd", 403, 403, 403, None),
    ("/static/abs_in", 403, 403, 403, None),
    ("/static/loop", 403, 403, 403, None),
    ("/static/dangling", 403, 404, 403, None),
    ("/static/in_link", 403, 200, 403, INSIDE),
    ("/static/sub/up_in", 403, 200, 403, INSIDE),
    ("/static/dir_in/inside.txt", 403, 200, 403, SUB_INSIDE),
    # dotfiles
    ("/static/.env", 404, 404, 200, b"DOTENV=1\n"),
    ("/static/.git/config", 404, 404, 200, b"[core]\n"),
    ("/static/sub/.env", 404, 404, 200, b"SUBDOTENV=1\n"),
    ("/static/%2eenv", 404, 404, 200, b"DOTENV=1\n"),
    ("/static/.git/", 404, 404, 403, None),   # allowed: a directory without an index
    # and the files that are there, for contrast
    ("/static/inside.txt", 200, 200, 200, INSIDE),
    ("/static/sub/./inside.txt", 200, 200, 200, SUB_INSIDE),
    ("/static//sub//inside.txt", 200, 200, 200, SUB_INSIDE),
]
assert len(TRAVERSAL) >= 60


def run_traversal(port, column):
    wrong = []
    refused = 0
    for case in TRAVERSAL:
        target, expected, body = case[0], case[column], case[4]
        r = fetch(port, target)
        if SECRET_MARK in r.data or PASSWD_MARK in r.data:
            wrong.append(f"{target[:80]!r}: LEAKED a file outside the root: {r.data[:300]!r}")
            continue
        if r.status != expected:
            wrong.append(f"{target[:80]!r}: expected {expected}, got {r.status}: {r.data[:200]!r}")
        elif expected == 200 and r.body != body:
            wrong.append(f"{target[:80]!r}: body {r.body[:100]!r}, expected {body!r}")
        elif expected != 200:
            refused += 1
            if r.header("Content-Length") != str(len(r.body)):
                wrong.append(f"{target[:80]!r}: a {r.status} whose body does not match its length: {r!r}")
    assert not wrong, f"{len(wrong)} of {len(TRAVERSAL)} cases wrong:\n" + "\n".join(wrong)
    assert refused >= 50
    assert_root_still_answers(port)


def test_traversal_without_following_symlinks(server_factory, tree):
    base, root, _ = tree
    make_symlinks(base, root)
    s = start(server_factory, root)
    run_traversal(s.port, 1)


def test_traversal_following_symlinks(server_factory, tree):
    base, root, _ = tree
    make_symlinks(base, root)
    s = start(server_factory, root, follow_symlinks=True)
    run_traversal(s.port, 2)


def test_traversal_with_dotfiles_allowed(server_factory, tree):
    base, root, _ = tree
    make_symlinks(base, root)
    s = start(server_factory, root, allow_dotfiles=True)
    run_traversal(s.port, 3)


def test_symlink_swapped_to_outside_is_refused_after_the_recheck(server_factory, tree):
    """A link that pointed inside when first served and is then pointed outside: once the
    cache's 1 s is over, the new target is refused, never served from the old entry's name."""
    base, root, _ = tree
    link = root / "moving"
    os.symlink("inside.txt", link)
    s = start(server_factory, root, follow_symlinks=True)
    r = fetch(s.port, "/static/moving")
    assert r.status == 200 and r.body == INSIDE, r
    tmp = root / "moving.new"
    os.symlink(str(base / "secret.txt"), tmp)
    os.rename(tmp, link)
    time.sleep(1.1)
    r = fetch(s.port, "/static/moving")
    assert SECRET_MARK not in r.data
    assert r.status == 403, r


# --------------------------------------------------------------------------- non-regular files

def test_fifo_and_device_are_403_at_once(server_factory, tree):
    _, root, _ = tree
    os.mkfifo(root / "fifo")
    os.mkfifo(root / "fifo.css.gz")
    (root / "fifo.css").write_bytes(b"body { }\n")
    (root / "fifodir").mkdir()
    os.mkfifo(root / "fifodir" / "index.html")
    targets = ["/static/fifo", "/static/fifodir/"]
    try:
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        targets.append("/static/null")
    except PermissionError:
        pass   # no CAP_MKNOD: the FIFOs still cover non-regular files
    s = start(server_factory, root, precompressed=True)
    # A FIFO opened for reading waits for a writer unless the open is non-blocking; several
    # at once on the one worker would all hang behind it.
    results = {}
    def one(t):
        results[t] = fetch(s.port, t, timeout=3.0)
    threads = [threading.Thread(target=one, args=(t,)) for t in targets * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(results) == len(targets), results
    for t, r in results.items():
        assert r.status == 403, (t, r)
        assert r.elapsed < 1.0, (t, r.elapsed)
    # A FIFO sibling is no precompressed variant: the identity file, no hang, no Vary.
    r = fetch(s.port, "/static/fifo.css", headers={"Accept-Encoding": "gzip"}, timeout=3.0)
    assert r.status == 200 and r.body == b"body { }\n", r
    assert r.header("Content-Encoding") is None and r.header("Vary") is None, r
    assert r.elapsed < 1.0
    # And a FIFO that does have a writer is still refused.
    fd = os.open(root / "fifo", os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"from the fifo")
        r = fetch(s.port, "/static/fifo", timeout=3.0)
        assert r.status == 403 and b"from the fifo" not in r.data, r
    finally:
        os.close(fd)
    assert_root_still_answers(s.port)


def test_socket_file_is_403(server_factory, tree):
    _, root, _ = tree
    os.mknod(root / "sock", stat.S_IFSOCK | 0o666)
    s = start(server_factory, root)
    r = fetch(s.port, "/static/sock", timeout=3.0)
    assert r.status == 403, r
    assert r.elapsed < 1.0
    assert_root_still_answers(s.port)


# --------------------------------------------------------------------------- directories

def test_directories_index_and_redirects(server_factory, tree):
    _, root, _ = tree
    s = start(server_factory, root)
    r = fetch(s.port, "/static/")
    assert r.status == 200 and r.body == b"<h1>root index</h1>\n", r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    r = fetch(s.port, "/static/docs/")
    assert r.status == 200 and r.body == b"<h1>docs index</h1>\n", r
    r = fetch(s.port, "/static/docs/.")
    assert r.status == 200 and r.body == b"<h1>docs index</h1>\n", r
    r = fetch(s.port, "/static/docs/index.html")
    assert r.status == 200 and r.body == b"<h1>docs index</h1>\n", r
    r = fetch(s.port, "/static/nodex/")
    assert r.status == 403, r
    assert b"a page" not in r.body
    r = fetch(s.port, "/static/nodex/page.txt")
    assert r.status == 200 and r.body == b"a page\n", r
    for target, location in [("/static", "/static/"), ("/static/docs", "/static/docs/"),
                             ("/static/docs?x=1&y=%2F", "/static/docs/?x=1&y=%2F"),
                             ("/static/nodex", "/static/nodex/"), ("/static?q", "/static/?q")]:
        r = fetch(s.port, target)
        assert r.status == 301, (target, r)
        assert r.header("Location") == location, (target, r)
        assert r.header("Content-Length") == str(len(r.body))
    r = fetch(s.port, "/static/inside.txt/")
    assert r.status == 404, r
    r = fetch(s.port, "/static/missing/")
    assert r.status == 404, r
    r = fetch(s.port, "/static/missing")
    assert r.status == 404, r


def test_directory_without_index_setting_is_403(server_factory, tree):
    _, root, _ = tree
    s = start(server_factory, root, index="")
    for target in ["/static/", "/static/docs/"]:
        r = fetch(s.port, target)
        assert r.status == 403, (target, r)
        assert b"index" not in r.body
    r = fetch(s.port, "/static/docs/index.html")
    assert r.status == 200, r


def test_other_index_name(server_factory, tree):
    _, root, _ = tree
    (root / "docs" / "default.htm").write_bytes(b"default page\n")
    s = start(server_factory, root, index="default.htm")
    r = fetch(s.port, "/static/docs/")
    assert r.status == 200 and r.body == b"default page\n", r
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert fetch(s.port, "/static/").status == 403


# --------------------------------------------------------------------------- types and validators

MIME_CASES = {
    "a.html": "text/html; charset=utf-8",
    "a.css": "text/css; charset=utf-8",
    "a.js": "text/javascript; charset=utf-8",
    "a.json": "application/json; charset=utf-8",
    "a.txt": "text/plain; charset=utf-8",
    "a.svg": "image/svg+xml; charset=utf-8",
    "a.png": "image/png",
    "a.jpg": "image/jpeg",
    "a.woff2": "font/woff2",
    "a.wasm": "application/wasm",
    "a.pdf": "application/pdf",
    "A.CSS": "text/css; charset=utf-8",
    "archive.tar.gz": "application/gzip",
    "a.unknownext": "application/octet-stream",
    "noextension": "application/octet-stream",
    "a.gmi": "text/gemini; charset=utf-8",            # added by [mime]
    "a.md": "text/x-markdown; charset=utf-8",         # built-in replaced by [mime]
    "a.data": "application/x-thing",                  # added, not textual
    "a.latin": "text/plain; charset=iso-8859-1",      # its own charset kept
}


def test_mime_types_charset_and_overrides(server_factory, tree):
    _, root, _ = tree
    for name in MIME_CASES:
        (root / name).write_bytes(name.encode())
    s = start(server_factory, root, mime={"gmi": "text/gemini", "md": "text/x-markdown", "data": "application/x-thing",
                                          "latin": "text/plain; charset=iso-8859-1"})
    wrong = []
    for name, expected in MIME_CASES.items():
        r = fetch(s.port, "/static/" + name)
        if r.status != 200 or r.body != name.encode() or r.header("Content-Type") != expected:
            wrong.append(f"{name}: {r.status} {r.header('Content-Type')!r}, expected {expected!r}")
    assert not wrong, "\n".join(wrong)


def test_validators_cache_control_and_accept_ranges(server_factory, tree):
    _, root, _ = tree
    f = root / "dated.txt"
    f.write_bytes(b"dated\n")
    when = 1_600_000_000   # Sun, 13 Sep 2020 12:26:40 GMT
    os.utime(f, (when, when))
    s = start(server_factory, root, cache_control="public, max-age=3600")
    r = fetch(s.port, "/static/dated.txt")
    assert r.status == 200 and r.body == b"dated\n", r
    assert r.header("Last-Modified") == "Sun, 13 Sep 2020 12:26:40 GMT"
    assert r.header("Last-Modified") == email.utils.formatdate(when, usegmt=True)
    etag = r.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag
    assert r.header("Cache-Control") == "public, max-age=3600"
    assert r.header("Accept-Ranges") == "bytes"
    assert r.header("Content-Length") == "6"
    assert r.header("Vary") is None and r.header("Content-Encoding") is None
    # The same ETag again (a cache hit); another file another ETag.
    assert fetch(s.port, "/static/dated.txt").header("ETag") == etag
    assert fetch(s.port, "/static/inside.txt").header("ETag") not in (None, etag)
    # Errors carry no validators nor the route's Cache-Control.
    r = fetch(s.port, "/static/missing.txt")
    assert r.status == 404 and r.header("ETag") is None and r.header("Cache-Control") is None, r


def test_no_cache_control_unless_configured(server_factory, tree):
    _, root, _ = tree
    s = start(server_factory, root)
    r = fetch(s.port, "/static/inside.txt")
    assert r.status == 200 and r.header("Cache-Control") is None, r
    assert r.header("ETag") and r.header("Last-Modified"), r


def without_date(r):
    return [(n, v) for n, v in r.headers if n != "Date"]


def test_head_has_the_get_headers_and_no_body(server_factory, tree):
    _, root, _ = tree
    small = os.urandom(3000)
    large = os.urandom(300_000)   # above the inlined size: spliced from the file
    (root / "small.bin").write_bytes(small)
    (root / "large.bin").write_bytes(large)
    s = start(server_factory, root, cache_control="no-cache")
    with Client(s.port) as c:
        for name, content in [("small.bin", small), ("large.bin", large)]:
            for _ in range(2):   # the lookup on a helper thread, then the cached entry
                head = get_on(c, "/static/" + name, "HEAD")
                full = get_on(c, "/static/" + name)
                assert head.status == 200 and full.status == 200 and full.body == content
                assert without_date(head) == without_date(full), (head.headers, full.headers)
                assert head.header("Content-Length") == str(len(content))
            # RFC 9110 14.2: range handling is defined for GET only; a server MUST ignore
            # Range on any other method, HEAD included (satisfiable or not, one or many).
            for spec in ("bytes=10-19", "bytes=0-1,5-9", f"bytes={len(content) + 10}-"):
                head = get_on(c, "/static/" + name, "HEAD", {"Range": spec})
                assert head.status == 200 and head.header("Content-Length") == str(len(content)), (spec, head)
                assert head.header("Content-Range") is None, (spec, head)
        for target, status in [("/static/missing", 404), ("/static/docs", 301), ("/static/nodex/", 403)]:
            r = get_on(c, target, "HEAD")
            assert r.status == status, (target, r)
        # Nothing of any body came after the HEAD answers: the next answer parses in place.
        r = get_on(c, "/")
        assert r.status == 200 and r.body == b"hello word", r
        assert c.buf == b""


def test_methods_post_405_and_options(server_factory, tree):
    _, root, _ = tree
    s = start(server_factory, root)
    with Client(s.port) as c:
        for method in ["POST", "PUT", "DELETE", "PATCH"]:
            c.send(request(method=method, path="/static/inside.txt",
                           headers={"Host": "127.0.0.1", "Content-Length": "5"}, body=b"hello"))
            r = c.read_response()
            assert r.status == 405, (method, r)
            allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
            assert {"GET", "HEAD"} <= allow and "POST" not in allow, (method, r)
            assert INSIDE_MARK not in r.body
        r = get_on(c, "/static/inside.txt", "OPTIONS")
        assert r.status == 200 and r.header("Content-Length") == "0", r
        assert {m.strip() for m in r.header("Allow").split(",")} == {"GET", "HEAD", "OPTIONS"}, r
        r = get_on(c, "/static/inside.txt")
        assert r.status == 200 and r.body == INSIDE, r
    # A name that is not there is 404 whatever the method (RFC 9110 15.5.6): 405 and
    # OPTIONS's Allow are for a resource that exists.
    with Client(s.port) as c:
        for method in ["POST", "PUT", "OPTIONS", "GET"]:
            r = get_on(c, "/static/nope.txt", method, {"Content-Length": "0"})
            assert r.status == 404 and r.header("Allow") is None, (method, r)
        # OPTIONS selects no representation: its preconditions are ignored (13.2.1).
        r = get_on(c, "/static/inside.txt", "OPTIONS", {"If-Match": '"x"', "If-None-Match": "*"})
        assert r.status == 200 and r.header("Allow"), r
    # Every method looks the name up first: a traversal is refused whatever the method.
    r = fetch(s.port, "/static/../secret.txt", method="POST")
    assert r.status == 403 and SECRET_MARK not in r.data, r


def test_connect_is_405_under_a_root_file_route(server_factory, tree):
    # CONNECT's authority-form target has no path: no route takes it, not even a file
    # route at "/" (RFC 9110 9.3.6; a 404 would say a resource is missing).
    _, root, _ = tree
    s = start(server_factory, root, prefix="/")
    r = exchange(s.port, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert r.status == 405 and r.header("Allow"), r
    r = fetch(s.port, "/inside.txt")
    assert r.status == 200 and r.body == INSIDE, r


# --------------------------------------------------------------------------- ranges

@pytest.fixture
def ranged(server_factory, tree):
    """A server over two random files: 1,000 bytes (served from memory) and 100,000 bytes
    (spliced from the file); both dated in the past (a strong Last-Modified)."""
    _, root, _ = tree
    files = {"small.bin": os.urandom(1000), "large.bin": os.urandom(100_000)}
    for name, content in files.items():
        (root / name).write_bytes(content)
        os.utime(root / name, (1_600_000_000, 1_600_000_000))
    return start(server_factory, root), files


SINGLE_RANGES = [
    # (Range, first, last) with N the size; None for "last byte"
    ("bytes=0-0", 0, 0),
    ("bytes=0-99", 0, 99),
    ("bytes=100-199", 100, 199),
    ("bytes=-100", "N-100", "N-1"),
    ("bytes=-1", "N-1", "N-1"),
    ("bytes=500-", 500, "N-1"),
    ("bytes=0-", 0, "N-1"),
    ("bytes=990-999999999", 990, "N-1"),
    ("bytes=-999999", 0, "N-1"),        # a suffix longer than the file: all of it
    ("BYTES=1-2", 1, 2),                # the unit is case-insensitive
    ("bytes= 3-4 ", 3, 4),
    ("bytes=5-6,", 5, 6),               # empty list elements are ignored
    ("bytes=0-9,5-14", 0, 14),          # overlapping: coalesced into one
    ("bytes=0-9,10-19", 0, 19),         # adjacent: coalesced
]


def resolve(v, n):
    if isinstance(v, str):
        return n - int(v.split("-")[1]) if "-" in v else n
    return v


@pytest.mark.parametrize("name", ["small.bin", "large.bin"])
def test_single_ranges(ranged, name):
    s, files = ranged
    content = files[name]
    n = len(content)
    with Client(s.port) as c:
        for spec, first, last in SINGLE_RANGES:
            first, last = resolve(first, n), resolve(last, n)
            r = get_on(c, "/static/" + name, headers={"Range": spec})
            assert r.status == 206, (spec, r)
            assert r.header("Content-Range") == f"bytes {first}-{last}/{n}", (spec, r)
            assert r.header("Content-Length") == str(last - first + 1), (spec, r)
            assert r.header("Content-Type") == "application/octet-stream"
            assert r.header("ETag") and r.header("Last-Modified") and r.header("Accept-Ranges") == "bytes"
            assert r.body == content[first:last + 1], spec


@pytest.mark.parametrize("name", ["small.bin", "large.bin"])
def test_unsatisfiable_and_invalid_ranges(ranged, name):
    s, files = ranged
    content = files[name]
    n = len(content)
    with Client(s.port) as c:
        for spec in [f"bytes={n}-", f"bytes={n}-{n + 10}", "bytes=999999999-", "bytes=-0", f"bytes={n}-,{n + 5}-"]:
            r = get_on(c, "/static/" + name, headers={"Range": spec})
            assert r.status == 416, (spec, r)
            assert r.header("Content-Range") == f"bytes */{n}", (spec, r)
            assert content[:16] not in r.body
        # Invalid headers are ignored (RFC 9110 14.2): the whole file, 200.
        for spec in ["bytes=abc", "bytes=5-2", "items=0-5", "bytes=", "bytes 0-5", "bytes=--5", "bytes=0-5,x",
                     "bytes=0x10-0x20", "bytes=1-2-3", "=0-5", "bytes=-", "bytes=+1-2"]:
            r = get_on(c, "/static/" + name, headers={"Range": spec})
            assert r.status == 200, (spec, r)
            assert r.header("Content-Range") is None and r.body == content, spec
        # Abuse: more than 16 specs, or many overlapping: the whole file rather than parts.
        many = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(17))
        r = get_on(c, "/static/" + name, headers={"Range": many})
        assert r.status == 200 and r.body == content, r
        overlapping = "bytes=0-50,1-51,2-52,3-53"
        r = get_on(c, "/static/" + name, headers={"Range": overlapping})
        assert r.status == 200 and r.body == content, r
        # The connection is fine after all that.
        assert get_on(c, "/").body == b"hello word"


@pytest.mark.parametrize("name", ["small.bin", "large.bin"])
def test_multiple_ranges_multipart(ranged, name):
    s, files = ranged
    content = files[name]
    n = len(content)
    cases = [
        ("bytes=0-9,20-29,-5", [(0, 9), (20, 29), (n - 5, n - 1)]),
        ("bytes=500-599,100-199", [(500, 599), (100, 199)]),           # request order kept
        ("bytes=0-0,2-2,4-4,6-6", [(0, 0), (2, 2), (4, 4), (6, 6)]),
        (f"bytes=0-1,{n - 2}-{n + 100}", [(0, 1), (n - 2, n - 1)]),
        (f"bytes=3-5,{n}-", [(3, 5)]),   # the unsatisfiable spec dropped: one range left
    ]
    with Client(s.port) as c:
        for spec, expected in cases:
            r = get_on(c, "/static/" + name, headers={"Range": spec})
            assert r.status == 206, (spec, r)
            assert r.header("Content-Length") == str(len(r.body))
            if len(expected) == 1:
                first, last = expected[0]
                assert r.header("Content-Range") == f"bytes {first}-{last}/{n}"
                assert r.body == content[first:last + 1]
                continue
            assert r.header("Content-Range") is None, r
            parts = parse_byteranges(r.header("Content-Type"), r.body)
            assert len(parts) == len(expected), (spec, parts)
            for (crange, ctype, body), (first, last) in zip(parts, expected):
                assert crange == f"bytes {first}-{last}/{n}", (spec, crange)
                assert ctype == "application/octet-stream", (spec, ctype)
                assert body == content[first:last + 1], (spec, first, last)
        # HEAD with ranges: ignored (RFC 9110 14.2), the whole file's length, no body.
        head = get_on(c, "/static/" + name, "HEAD", {"Range": "bytes=0-9,20-29"})
        assert head.status == 200 and int(head.header("Content-Length")) == n, head
        assert get_on(c, "/").body == b"hello word"


@pytest.mark.parametrize("name", ["small.bin", "large.bin"])
def test_if_range(ranged, name):
    s, files = ranged
    content = files[name]
    with Client(s.port) as c:
        full = get_on(c, "/static/" + name)
        etag, date = full.header("ETag"), full.header("Last-Modified")
        assert date == "Sun, 13 Sep 2020 12:26:40 GMT"
        other_date = email.utils.formatdate(1_600_000_000 - 86400, usegmt=True)
        later_date = email.utils.formatdate(1_600_000_000 + 86400, usegmt=True)
        for if_range, partial in [(etag, True), ('"not-the-etag"', False), ("W/" + etag, False), (date, True),
                                  (other_date, False), (later_date, False), ("garbage", False),
                                  ("Sunday, 13-Sep-20 12:26:40 GMT", True),   # RFC 850
                                  ("Sun Sep 13 12:26:40 2020", True)]:         # asctime
            r = get_on(c, "/static/" + name, headers={"Range": "bytes=10-19", "If-Range": if_range})
            if partial:
                assert r.status == 206 and r.body == content[10:20], (if_range, r)
            else:
                assert r.status == 200 and r.body == content, (if_range, r)
        # If-Range without Range: nothing to decide, 200.
        r = get_on(c, "/static/" + name, headers={"If-Range": etag})
        assert r.status == 200 and r.body == content


# --------------------------------------------------------------------------- preconditions

def test_every_conditional_header(server_factory, tree):
    _, root, _ = tree
    f = root / "cond.txt"
    f.write_bytes(b"conditional\n")
    lm_unix = 1_600_000_000
    os.utime(f, (lm_unix, lm_unix))
    s = start(server_factory, root, cache_control="max-age=60")
    lm = email.utils.formatdate(lm_unix, usegmt=True)
    earlier = email.utils.formatdate(lm_unix - 1, usegmt=True)
    later = email.utils.formatdate(lm_unix + 3600, usegmt=True)
    with Client(s.port) as c:
        base = get_on(c, "/static/cond.txt")
        etag = base.header("ETag")
        assert base.status == 200 and etag, base
        cases = [
            # If-None-Match (weak comparison)
            ({"If-None-Match": etag}, 304),
            ({"If-None-Match": f'"a", {etag}, "b"'}, 304),
            ({"If-None-Match": "*"}, 304),
            ({"If-None-Match": "W/" + etag}, 304),
            ({"If-None-Match": '"other"'}, 200),
            ({"If-None-Match": '"other", W/"another"'}, 200),
            ({"If-None-Match": etag.strip('"')}, 200),    # unquoted: malformed, ignored
            # If-Modified-Since
            ({"If-Modified-Since": lm}, 304),
            ({"If-Modified-Since": later}, 304),
            ({"If-Modified-Since": earlier}, 200),
            ({"If-Modified-Since": "garbage"}, 200),
            ({"If-Modified-Since": "Sunday, 13-Sep-20 12:26:40 GMT"}, 304),
            ({"If-Modified-Since": "Sun Sep 13 12:26:40 2020"}, 304),
            # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
            ({"If-None-Match": '"other"', "If-Modified-Since": lm}, 200),
            ({"If-None-Match": etag, "If-Modified-Since": earlier}, 304),
            # If-Match (strong comparison)
            ({"If-Match": '"other"'}, 412),
            ({"If-Match": "W/" + etag}, 412),
            ({"If-Match": etag}, 200),
            ({"If-Match": f'"x", {etag}'}, 200),
            ({"If-Match": "*"}, 200),
            # If-Unmodified-Since
            ({"If-Unmodified-Since": earlier}, 412),
            ({"If-Unmodified-Since": lm}, 200),
            ({"If-Unmodified-Since": later}, 200),
            ({"If-Unmodified-Since": "garbage"}, 200),
            # If-Match wins over If-Unmodified-Since
            ({"If-Match": etag, "If-Unmodified-Since": earlier}, 200),
            ({"If-Match": '"other"', "If-Unmodified-Since": later}, 412),
            # If-Match passes, then If-None-Match decides
            ({"If-Match": etag, "If-None-Match": etag}, 304),
            # a 412 before a Range applies
            ({"If-Match": '"other"', "Range": "bytes=0-3"}, 412),
            ({"If-None-Match": etag, "Range": "bytes=0-3"}, 304),
        ]
        wrong = []
        for hdrs, expected in cases:
            for method in ["GET", "HEAD"]:
                r = get_on(c, "/static/cond.txt", method, hdrs)
                if r.status != expected:
                    wrong.append(f"{method} {hdrs}: expected {expected}, got {r.status}")
                    continue
                if expected == 304:
                    # The validators of the 200, no body (nothing else arrives before the
                    # next answer: read in place below).
                    if r.header("ETag") != etag or r.header("Last-Modified") != lm or \
                            r.header("Cache-Control") != "max-age=60":
                        wrong.append(f"{method} {hdrs}: 304 without the 200's validators: {r.headers}")
                    if r.header("Content-Length") not in (None, "0"):
                        wrong.append(f"{method} {hdrs}: 304 with Content-Length {r.header('Content-Length')}")
                elif method == "GET" and expected == 200 and r.body != b"conditional\n":
                    wrong.append(f"{method} {hdrs}: body {r.body!r}")
                elif method == "GET" and expected == 412 and b"conditional" in r.body:
                    wrong.append(f"{method} {hdrs}: 412 with the file's bytes")
        assert not wrong, "\n".join(wrong)
        # Every 304 above was read as a head only: were there a body, this would not parse.
        r = get_on(c, "/")
        assert r.status == 200 and r.body == b"hello word" and c.buf == b"", (r, c.buf)
        # Preconditions on a missing file are ignored: 404 (RFC 9110 13.2.1).
        for hdrs in [{"If-Match": "*"}, {"If-None-Match": "*"}, {"If-Unmodified-Since": earlier}]:
            r = get_on(c, "/static/missing.txt", headers=hdrs)
            assert r.status == 404, (hdrs, r)


def test_a_field_sent_on_several_lines_is_read_as_one(server_factory, tree):
    """RFC 9110 5.3: lines of one field are one list, in order. A client (or a proxy
    merging requests) may split If-None-Match or Accept-Encoding; a date sent twice is a
    list of dates, which 13.1.3/13.1.4 say to ignore, and two Ranges are ignored too."""
    _, root, _ = tree
    f = root / "lines.css"
    f.write_bytes(b"plain css\n" * 20)
    (root / "lines.css.br").write_bytes(b"BR" * 10)
    (root / "lines.css.gz").write_bytes(b"GZ" * 10)
    lm_unix = 1_600_000_000
    for p in [f, root / "lines.css.br", root / "lines.css.gz"]:
        os.utime(p, (lm_unix, lm_unix))
    s = start(server_factory, root, precompressed=True)
    lm = email.utils.formatdate(lm_unix, usegmt=True)
    earlier = email.utils.formatdate(lm_unix - 1, usegmt=True)

    def get_lines(lines):
        with Client(s.port) as c:
            c.send(b"GET /static/lines.css HTTP/1.1\r\nHost: x\r\n" + b"".join(l + b"\r\n" for l in lines) +
                   b"\r\n")
            return read_answer(c)

    etag = get_lines([]).header("ETag")
    assert etag
    e = etag.encode()
    assert get_lines([b'If-None-Match: "x"', b"If-None-Match: " + e]).status == 304
    assert get_lines([b'If-Match: "x"', b"If-Match: " + e]).status == 200
    assert get_lines([b'If-Match: "x"', b'If-Match: "y"']).status == 412
    # Two dates: not an HTTP-date, so ignored (one of them alone would decide).
    assert get_lines([b"If-Unmodified-Since: " + earlier.encode()] * 2).status == 200
    assert get_lines([b"If-Modified-Since: " + lm.encode(), b"If-Modified-Since: " + earlier.encode()]).status == 200
    assert get_lines([b"If-Modified-Since: " + lm.encode()]).status == 304
    # Accept-Encoding over two lines: br refused on the second.
    r = get_lines([b"Accept-Encoding: *", b"Accept-Encoding: br;q=0"])
    assert (r.status, r.header("Content-Encoding"), r.body) == (200, "gzip", b"GZ" * 10)
    r = get_lines([b"Accept-Encoding: identity;q=0.5", b"Accept-Encoding: br"])
    assert r.header("Content-Encoding") == "br"
    # Two Ranges: an invalid range set, so the whole file.
    r = get_lines([b"Range: bytes=0-1", b"Range: bytes=3-4"])
    assert (r.status, len(r.body)) == (200, 200)


def test_a_file_stamped_in_the_future_is_last_modified_now(server_factory, tree):
    """RFC 9110 8.8.2.1: Last-Modified never later than Date; the Date stands in for it,
    in the field and in the comparisons."""
    _, root, _ = tree
    f = root / "future.txt"
    f.write_bytes(b"from the future\n")
    future = int(time.time()) + 10 * 365 * 86400
    os.utime(f, (future, future))
    s = start(server_factory, root)
    with Client(s.port) as c:
        r = get_on(c, "/static/future.txt")
        assert r.status == 200 and r.body == b"from the future\n"
        date = email.utils.parsedate_to_datetime(r.header("Date"))
        modified = email.utils.parsedate_to_datetime(r.header("Last-Modified"))
        assert modified <= date, (r.header("Last-Modified"), r.header("Date"))
        # A client echoing the file's real (future) date is answered on the clamped one:
        # If-Modified-Since later than Last-Modified is "not modified".
        far = email.utils.formatdate(future, usegmt=True)
        assert get_on(c, "/static/future.txt", headers={"If-Modified-Since": far}).status == 304
        assert get_on(c, "/static/future.txt", headers={"If-Unmodified-Since": far}).status == 200


# --------------------------------------------------------------------------- precompressed

def test_precompressed_siblings(server_factory, tree):
    _, root, _ = tree
    identity = b"body { color: red }\n" * 50
    br, gz = b"BROTLI-BYTES" * 10, b"\x1f\x8bGZIP-BYTES" * 10
    (root / "style.css").write_bytes(identity)
    (root / "style.css.br").write_bytes(br)
    (root / "style.css.gz").write_bytes(gz)
    (root / "app.js").write_bytes(b"let x = 1;\n")
    (root / "app.js.gz").write_bytes(b"\x1f\x8bJSGZ")
    (root / "plain.css").write_bytes(b"p { }\n")
    s = start(server_factory, root, precompressed=True)
    cases = [
        ("style.css", "br", "br", br),
        ("style.css", "gzip", "gzip", gz),
        ("style.css", "gzip, deflate, br", "br", br),      # equal q: br, the smaller
        ("style.css", "br;q=0.5, gzip", "gzip", gz),
        ("style.css", "br;q=0, gzip;q=0", None, identity),
        ("style.css", "identity", None, identity),
        ("style.css", "x-gzip", "gzip", gz),
        ("style.css", "*", "br", br),
        ("style.css", "deflate", None, identity),
        ("style.css", None, None, identity),
        ("app.js", "br, gzip", "gzip", b"\x1f\x8bJSGZ"),
        ("app.js", "br", None, b"let x = 1;\n"),
    ]
    etags = {}
    with Client(s.port) as c:
        for name, ae, coding, body in cases:
            hdrs = {} if ae is None else {"Accept-Encoding": ae}
            r = get_on(c, "/static/" + name, headers=hdrs)
            assert r.status == 200, (name, ae, r)
            assert r.header("Content-Encoding") == coding, (name, ae, r)
            assert r.body == body, (name, ae)
            assert r.header("Vary") == "Accept-Encoding", (name, ae, r)
            # The type of the file, not of its compressed sibling.
            expected_type = "text/css; charset=utf-8" if name == "style.css" else "text/javascript; charset=utf-8"
            assert r.header("Content-Type") == expected_type, (name, ae, r)
            etags.setdefault((name, coding), set()).add(r.header("ETag"))
        # Each representation has its own one ETag.
        assert all(len(v) == 1 for v in etags.values()), etags
        style = [next(iter(etags[("style.css", k)])) for k in ("br", "gzip", None)]
        assert len(set(style)) == 3, style
        # A 304 for the br representation keeps Vary; its ETag does not match identity.
        r = get_on(c, "/static/style.css", headers={"Accept-Encoding": "br", "If-None-Match": style[0]})
        assert r.status == 304 and r.header("Vary") == "Accept-Encoding" and r.header("ETag") == style[0], r
        r = get_on(c, "/static/style.css", headers={"If-None-Match": style[0]})
        assert r.status == 200 and r.body == identity, r
        # A range of the br bytes; HEAD with the br length.
        r = get_on(c, "/static/style.css", headers={"Accept-Encoding": "br", "Range": "bytes=0-5"})
        assert r.status == 206 and r.body == br[:6] and r.header("Content-Encoding") == "br", r
        assert r.header("Content-Range") == f"bytes 0-5/{len(br)}"
        r = get_on(c, "/static/style.css", "HEAD", {"Accept-Encoding": "gzip"})
        assert r.header("Content-Length") == str(len(gz)) and r.header("Content-Encoding") == "gzip", r
        # Without siblings: no Vary, no coding, whatever the client accepts.
        r = get_on(c, "/static/plain.css", headers={"Accept-Encoding": "br, gzip"})
        assert r.status == 200 and r.body == b"p { }\n", r
        assert r.header("Vary") is None and r.header("Content-Encoding") is None, r
        # The siblings themselves are files too.
        r = get_on(c, "/static/style.css.br")
        assert r.status == 200 and r.body == br and r.header("Content-Encoding") is None, r


def test_precompressed_variants_ranges_errors_and_dates(server_factory, tree):
    """A coded variant's ranges, 412, 416 and Last-Modified."""
    _, root, _ = tree
    identity = b"0123456789" * 100
    gz = bytes(range(256)) * 2
    (root / "page.txt").write_bytes(identity)
    (root / "page.txt.gz").write_bytes(gz)
    old = time.time() - 3600
    os.utime(root / "page.txt", (old, old))
    s = start(server_factory, root, precompressed=True)
    with Client(s.port) as c:
        gzip = {"Accept-Encoding": "gzip"}
        # Several ranges of gzip bytes would be a multipart body no Content-Encoding can
        # describe (RFC 9110 8.4): the whole variant instead (14.2 lets Range be ignored).
        r = get_on(c, "/static/page.txt", headers={**gzip, "Range": "bytes=0-9,100-109"})
        assert r.status == 200 and r.body == gz and r.header("Content-Encoding") == "gzip", r
        assert r.header("Content-Range") is None, r
        # One range of them is fine, and identity keeps its multipart.
        r = get_on(c, "/static/page.txt", headers={**gzip, "Range": "bytes=10-19"})
        assert r.status == 206 and r.body == gz[10:20], r
        r = get_on(c, "/static/page.txt", headers={"Range": "bytes=0-9,100-109"})
        assert r.status == 206 and r.header("Content-Type").startswith("multipart/byteranges"), r
        # 412 and 416 depend on Accept-Encoding too (12.5.5): Vary on them as on the 200.
        for hdrs, status in [({**gzip, "If-Match": '"nope"'}, 412), ({"If-Match": '"nope"'}, 412),
                             ({**gzip, "Range": f"bytes={len(gz)}-"}, 416),
                             ({"Range": f"bytes={len(identity)}-"}, 416)]:
            r = get_on(c, "/static/page.txt", headers=hdrs)
            assert r.status == status and r.header("Vary") == "Accept-Encoding", (hdrs, r)
        # Each variant is Last-Modified at its own mtime (8.8.2): the sibling is newer.
        plain = get_on(c, "/static/page.txt")
        coded = get_on(c, "/static/page.txt", headers=gzip)
        lm_plain = email.utils.parsedate_to_datetime(plain.header("Last-Modified")).timestamp()
        lm_coded = email.utils.parsedate_to_datetime(coded.header("Last-Modified")).timestamp()
        assert lm_plain == int(old) and lm_coded > lm_plain + 3000, (plain, coded)
        # So a date the identity would match does not make the rewritten sibling a 304.
        r = get_on(c, "/static/page.txt", headers={**gzip, "If-Modified-Since": plain.header("Last-Modified")})
        assert r.status == 200 and r.body == gz, r
        r = get_on(c, "/static/page.txt", headers={"If-Modified-Since": plain.header("Last-Modified")})
        assert r.status == 304, r
    # Without siblings, no Vary on the errors either.
    (root / "alone.txt").write_bytes(b"alone\n")
    with Client(s.port) as c:
        r = get_on(c, "/static/alone.txt", headers={"Range": "bytes=100-"})
        assert r.status == 416 and r.header("Vary") is None, r


def test_precompressed_off_ignores_siblings(server_factory, tree):
    _, root, _ = tree
    (root / "style.css").write_bytes(b"identity\n")
    (root / "style.css.br").write_bytes(b"BR")
    (root / "style.css.gz").write_bytes(b"GZ")
    s = start(server_factory, root)
    r = fetch(s.port, "/static/style.css", headers={"Accept-Encoding": "br, gzip"})
    assert r.status == 200 and r.body == b"identity\n", r
    assert r.header("Vary") is None and r.header("Content-Encoding") is None, r


# --------------------------------------------------------------------------- large files under load

@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("bigroot")
    digest = make_big_file(root / "big.bin", 100 * MIB)
    yield root, digest
    (root / "big.bin").unlink()   # pytest keeps the last runs' temp dirs: not 100 MiB each


def probe_latency(port, busy, limit_s):
    """GET / on fresh connections while busy() is true: the latencies (a bounded loop)."""
    latencies = []
    deadline = time.monotonic() + limit_s
    while busy() and len(latencies) < 5000 and time.monotonic() < deadline:
        t0 = time.monotonic()
        with Client(port, timeout=5.0) as c:
            c.send(request(headers={"Host": "127.0.0.1", "Connection": "close"}))
            r = c.read_response()
        latencies.append(time.monotonic() - t0)
        assert r.status == 200 and r.body == b"hello word", r
        time.sleep(0.005)
    return latencies


def eight_downloads_while_root_answers(srv, digest, size, timeout):
    # The eight downloaders hash 800 MiB in Python on the same 2 cores: at the server's priority they
    # delay the probe itself (median 7 ms, one sample in five runs over 50 ms). Niced, they still take
    # all the CPU the server leaves them, and GET / measures the server's loop (median under 1 ms).
    procs = [subprocess.Popen(["nice", "-n", "10", sys.executable, STATIC_TREE, "download", str(srv.port),
                               "/static/big.bin", str(timeout)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    try:
        t0 = time.monotonic()
        latencies = probe_latency(srv.port, lambda: any(p.poll() is None for p in procs), timeout)
        results = []
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, timeout - (time.monotonic() - t0)))
            assert p.returncode == 0, err
            results.append(json.loads(out))
        elapsed = time.monotonic() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for res in results:
        assert res["status"] == 200 and res["length"] == size, res
        assert res["received"] == size and res["sha256"] == digest, res
    return latencies, elapsed


def report(what, latencies, elapsed):
    ordered = sorted(latencies)
    print(f"{what}: 8 x 100 MiB in {elapsed:.2f} s; GET / {len(ordered)} samples, median "
          f"{ordered[len(ordered) // 2] * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")


def latency_bound(srv):
    # Under ASan every answer costs several times more CPU on the same 2 cores.
    return 0.25 if under_asan(srv) else 0.05


def test_100mib_to_8_clients_while_root_answers(server_factory, big_file):
    root, digest = big_file
    s = start(server_factory, root)
    latencies, elapsed = eight_downloads_while_root_answers(s, digest, 100 * MIB, 60.0)
    report("warm", latencies, elapsed)
    assert len(latencies) >= 5, f"the downloads ended before GET / could be measured ({elapsed:.2f} s)"
    bound = latency_bound(s)
    assert max(latencies) < bound, (f"GET / took up to {max(latencies) * 1000:.1f} ms during the downloads "
                                    f"({len(latencies)} samples, median {sorted(latencies)[len(latencies) // 2] * 1000:.1f} ms)")
    s.assert_no_worker_died()


def resident_fraction(path):
    """The share of the file's pages in the page cache (fincore), or None if unknown."""
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE", str(path)],
                             capture_output=True, text=True, timeout=10).stdout.split()
        return int(out[0]) / max(1, int(out[1]))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def test_100mib_to_8_clients_cold_page_cache(server_factory, big_file):
    if os.geteuid() != 0:
        pytest.skip("dropping the page cache (echo 3 > /proc/sys/vm/drop_caches) needs root")
    root, digest = big_file
    s = start(server_factory, root)
    big = root / "big.bin"
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        pytest.skip(f"cannot drop the page cache here: {e}")
    fd = os.open(big, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    resident = resident_fraction(big)
    if resident is not None and resident > 0.1:
        pytest.skip(f"the page cache was not dropped: {resident:.0%} of the file still resident")
    latencies, elapsed = eight_downloads_while_root_answers(s, digest, 100 * MIB, 60.0)
    report(f"cold ({resident if resident is None else f'{resident:.0%}'} resident before)", latencies, elapsed)
    assert len(latencies) >= 5, f"the downloads ended before GET / could be measured ({elapsed:.2f} s)"
    bound = latency_bound(s)
    assert max(latencies) < bound, (f"GET / took up to {max(latencies) * 1000:.1f} ms during cold downloads "
                                    f"({len(latencies)} samples, {elapsed:.1f} s)")
    s.assert_no_worker_died()


# --------------------------------------------------------------------------- truth under change

def test_files_changed_replaced_and_deleted_are_served_fresh(server_factory, tree):
    _, root, _ = tree
    big_old, big_new = os.urandom(200_000), os.urandom(200_000)
    files = {
        "grow.txt": (b"v1\n", b"version two, longer\n"),
        "same.txt": (b"aaaa\n", b"bbbb\n"),                 # same size, new mtime
        "renamed.txt": (b"old file\n", b"new file by rename\n"),
        "big.bin": (big_old, big_new),                       # spliced, rewritten in place
        "bigrenamed.bin": (big_old, big_new[::-1]),
        "gone.txt": (b"here\n", None),
    }
    for name, (old, _) in files.items():
        (root / name).write_bytes(old)
        os.utime(root / name, (1_600_000_000, 1_600_000_000))
    s = start(server_factory, root)
    etags = {}
    for name, (old, _) in files.items():
        r = fetch(s.port, "/static/" + name)
        assert r.status == 200 and r.body == old, (name, r)
        etags[name] = r.header("ETag")
        assert fetch(s.port, "/static/" + name).body == old   # from the cache now
    for name, (_, new) in files.items():
        path = root / name
        if new is None:
            path.unlink()
        elif "renamed" in name:
            tmp = root / (name + ".tmp")
            tmp.write_bytes(new)
            os.rename(tmp, path)
        else:
            with open(path, "r+b") as f:
                f.write(new)
                f.truncate(len(new))
    # The worker trusts an entry for up to 1 s after it last checked it.
    time.sleep(1.1)
    for name, (_, new) in files.items():
        r = fetch(s.port, "/static/" + name)
        if new is None:
            assert r.status == 404, (name, r)
            continue
        assert r.status == 200 and r.body == new, (name, r.status, len(r.body))
        assert r.header("Content-Length") == str(len(new))
        assert r.header("ETag") != etags[name], name
        # And a validator of the old file no longer gives a 304.
        r = fetch(s.port, "/static/" + name, headers={"If-None-Match": etags[name]})
        assert r.status == 200 and r.body == new, (name, r)


def slow_client(port, target, rcvbuf=32 * 1024):
    """A connection with a small receive window that has read the head of target's answer:
    (socket, Content-Length, the body bytes read so far)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    sock.sendall(raw_request("GET", target))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the head: {head!r}"
        head += chunk
    end = head.index(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head[:200]
    length = int([l for l in head[:end].split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    return sock, length, bytearray(head[end + 4:])


def read_until(sock, body, n):
    while len(body) < n:
        chunk = sock.recv(min(65536, n - len(body)))
        assert chunk, f"closed after {len(body)} bytes"
        body += chunk


def read_to_close(sock, body, timeout):
    """Reads until the peer closes (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if not chunk:
            return True
        body += chunk
    return False


@pytest.fixture
def file_64mib(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    path = root / "big.bin"
    make_big_file(path, 64 * MIB)
    yield root, path
    path.unlink(missing_ok=True)


def test_truncated_during_download_closes_early(server_factory, file_64mib):
    root, path = file_64mib
    size = 64 * MIB
    s = start(server_factory, root)
    sock, length, body = slow_client(s.port, "/static/big.bin")
    with sock:
        assert length == size
        read_until(sock, body, MIB)
        new_size = 16 * MIB
        os.truncate(path, new_size)
        closed = read_to_close(sock, body, 20.0)
    assert closed, f"the connection stayed open after {len(body)} of {length} bytes"
    assert len(body) < length, "the whole Content-Length arrived from a truncated file"
    # What did arrive is the file as it was, byte for byte (no zeros, nothing mixed).
    with open(path, "rb") as f:
        now = f.read()
    check = min(len(body), new_size)
    assert hashlib.sha256(body[:check]).digest() == hashlib.sha256(now[:check]).digest()
    # A fresh request (past the cache's 1 s) gets the new length.
    time.sleep(1.1)
    r = conftest.get(s.port, "/static/big.bin")
    assert r.status == 200 and r.header("Content-Length") == str(new_size), r.headers
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(now).digest()
    assert "truncated" in s.log_text() or "changed" in s.log_text(), s.log_text()[-2000:]


def test_rewritten_in_place_during_download_closes_early(server_factory, file_64mib):
    root, path = file_64mib
    with open(path, "rb") as f:
        original_head = f.read(8 * MIB)
    s = start(server_factory, root)
    sock, length, body = slow_client(s.port, "/static/big.bin")
    with sock:
        read_until(sock, body, MIB)
        # Same size, new bytes far ahead of what has been sent: only the mtime says so.
        with open(path, "r+b") as f:
            f.seek(60 * MIB)
            f.write(b"\0" * MIB)
        closed = read_to_close(sock, body, 20.0)
    assert closed, f"the connection stayed open after {len(body)} of {length} bytes"
    assert len(body) < length, "a complete-looking body of a file rewritten while sent"
    check = min(len(body), len(original_head))
    assert bytes(body[:check]) == original_head[:check]


def test_replaced_by_rename_during_download_sends_the_old_file_whole(server_factory, file_64mib):
    """The descriptor being sent still names the old file, which did not change: all of it,
    as its Content-Length says; the next request after the recheck gets the new file."""
    root, path = file_64mib
    h = hashlib.sha256(path.read_bytes()).hexdigest()
    s = start(server_factory, root)
    sock, length, body = slow_client(s.port, "/static/big.bin")
    with sock:
        read_until(sock, body, MIB)
        tmp = root / "big.bin.new"
        tmp.write_bytes(b"replacement\n")
        os.rename(tmp, path)
        closed = read_to_close(sock, body, 30.0)
    assert len(body) == length and hashlib.sha256(body).hexdigest() == h, (len(body), length, closed)
    time.sleep(1.1)
    r = conftest.get(s.port, "/static/big.bin")
    assert r.status == 200 and r.body == b"replacement\n", r


# --------------------------------------------------------------------------- permissions and errors

def test_permission_denied_is_403(server_factory, tree, tmp_path, monkeypatch):
    _, root, _ = tree
    if os.geteuid() == 0:
        # Root reads any file through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: start the
        # server without them (setpriv drops them from the bounding set before the exec),
        # so the permission bits apply to it as to any owner.
        setpriv = "/usr/bin/setpriv"
        if not os.access(setpriv, os.X_OK):
            pytest.skip("as root, permission bits do not stop the server, and setpriv is not there to drop "
                        "CAP_DAC_OVERRIDE")
        wrapper = tmp_path / "preforkd-nodac"
        wrapper.write_text(f'#!/bin/sh\nexec {setpriv} --bounding-set -dac_override,-dac_read_search '
                           f'"{conftest.BIN}" "$@"\n')
        wrapper.chmod(0o755)
        monkeypatch.setattr(conftest, "BIN", str(wrapper))
    (root / "private.txt").write_bytes(SECRET_MARK + b" private\n")
    (root / "private.txt").chmod(0)
    locked = root / "locked"
    locked.mkdir()
    (locked / "file.txt").write_bytes(SECRET_MARK + b" locked\n")
    (locked / "index.html").write_bytes(SECRET_MARK + b" locked index\n")
    locked.chmod(0)
    noexec = root / "noexec"
    noexec.mkdir()
    (noexec / "file.txt").write_bytes(SECRET_MARK + b" noexec\n")
    noexec.chmod(0o644)   # readable, not searchable
    privdex = root / "privdex"
    privdex.mkdir()
    (privdex / "index.html").write_bytes(SECRET_MARK + b" private index\n")
    (privdex / "index.html").chmod(0)
    try:
        s = start(server_factory, root)
        status = (Path(f"/proc/{s.worker_pids()[0]}/status").read_text())
        cap_eff = int([l for l in status.splitlines() if l.startswith("CapEff:")][0].split()[1], 16)
        assert not cap_eff & ((1 << 1) | (1 << 2)), "the worker still has CAP_DAC_OVERRIDE/READ_SEARCH"
        with Client(s.port) as c:
            for target in ["/static/private.txt", "/static/locked/file.txt", "/static/locked/",
                           "/static/noexec/file.txt", "/static/privdex/"]:
                r = get_on(c, target)
                assert r.status == 403, (target, r)
                assert SECRET_MARK not in r.body, (target, r)
            # The connection and the others are fine.
            r = get_on(c, "/static/inside.txt")
            assert r.status == 200 and r.body == INSIDE, r
        assert_root_still_answers(s.port)
    finally:
        for p in (locked, noexec):
            p.chmod(0o755)   # so that tmp_path can be removed


def test_keep_alive_connection_survives_errors(server_factory, tree):
    _, root, _ = tree
    os.mkfifo(root / "fifo")
    (root / "big.bin").write_bytes(os.urandom(100_000))
    s = start(server_factory, root)
    with Client(s.port) as c:
        sequence = [
            ("/static/inside.txt", {}, 200),
            ("/static/missing.txt", {}, 404),
            ("/static/inside.txt", {}, 200),
            ("/static/../secret.txt", {}, 403),
            ("/static/fifo", {}, 403),
            ("/static/nodex/", {}, 403),
            ("/static/.env", {}, 404),
            ("/static/docs", {}, 301),
            ("/static/big.bin", {"Range": "bytes=999999-"}, 416),
            ("/static/big.bin", {"If-Match": '"nope"'}, 412),
            ("/static/big.bin", {"Range": "bytes=0-9"}, 206),
            ("/static/big.bin", {}, 200),
            ("/static/inside.txt", {}, 200),
            ("/", {}, 200),
        ]
        for target, hdrs, status in sequence:
            r = get_on(c, target, headers=hdrs)
            assert r.status == status, (target, r)
            assert r.header("Connection") != "close", (target, r)
            if target == "/static/inside.txt":
                assert r.body == INSIDE
        # Pipelined: a 404, a 403 and a 200 in one send, answered in order.
        c.send(keep_alive("/static/nope") + keep_alive("/static/%2e%2e/x") +
               keep_alive("/static/inside.txt"))
        assert [c.read_response().status for _ in range(3)] == [404, 403, 200]
    s.assert_no_worker_died()


def test_clients_that_do_not_read_hold_no_threads(server_factory, big_file):
    """Splices into a full socket never wait in the kernel: 40 downloads whose clients do
    not read leave the worker with its own threads and io_uring's few idle helpers, not a
    blocked helper thread each (54 threads for 50 such clients before)."""
    root, _ = big_file
    s = start(server_factory, root)
    [worker] = s.worker_pids()
    socks = []
    try:
        for _ in range(40):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.sendall(keep_alive("/static/big.bin"))
            socks.append(c)
        time.sleep(1.0)
        tasks = os.listdir(f"/proc/{worker}/task")
        blocked = [t for t in tasks if open(f"/proc/{worker}/task/{t}/wchan").read() == "wait_woken"]
        print(f"worker threads with 40 stalled downloads: {len(tasks)}, blocked on a socket: {len(blocked)}")
        assert len(blocked) == 0
        assert len(tasks) < 20
        assert_root_still_answers(s.port)
    finally:
        for c in socks:
            c.close()


def test_a_cut_download_leaves_nothing_for_the_next_one(server_factory, tmp_path):
    """A client that resets while its file is being spliced into the pipe: the pooled
    session's pipe may still receive those bytes. The next download on that worker must
    get only its own file (it got the other file's first 200 KiB, or hung 30 s on a full
    pipe, in 2 of 5 tries before the pipe was closed unless known to be empty)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "c.bin").write_bytes(b"C" * (200 * 1024))
    (root / "b.bin").write_bytes(b"B" * (2 * MIB))
    s = start(server_factory, root)
    for attempt in range(8):
        fd = os.open(root / "c.bin", os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)   # cold: the splice takes a moment
        os.close(fd)
        a = socket.create_connection(("127.0.0.1", s.port), timeout=5)
        a.sendall(keep_alive("/static/c.bin"))
        a.recv(200)   # the head is out; the file range is next
        a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        a.close()
        time.sleep(0.02)
        r = fetch(s.port, "/static/b.bin", timeout=10.0)
        assert r.status == 200, (attempt, r)
        assert len(r.body) == 2 * MIB and r.body.count(b"B") == len(r.body), \
            f"attempt {attempt}: {r.body.count(b'C')} bytes of the other file, {len(r.body)} in all"
