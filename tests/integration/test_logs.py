"""The access log, the error log and reopening them (issue 15): every request gets one
line (error answers too), none is lost across a graceful stop, a reload or a logrotate
move-then-USR1; the error log goes to a file at a level; journald priority prefixes.
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path


from conftest import BIN, DEFAULT_ROUTES, Client, free_port, request, wait_for_port, wait_until, worker_crashes
from helpers import cli, sum_lasting

COMBINED = re.compile(
    r'^(?P<addr>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\x[0-9A-F]{2})*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>(?:[^"\\]|\\x[0-9A-F]{2})*)" "(?P<agent>(?:[^"\\]|\\x[0-9A-F]{2})*)" '
    r'rt=(?P<rt>\d+) slot=(?P<slot>\d+)$')
JSON_KEYS = ["time", "remote_addr", "request", "status", "bytes_sent", "referer", "user_agent",
             "request_time_us", "slot"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


def log_config(access, fmt="combined", error=None, level=None):
    text = f'[log]\naccess = "{access}"\naccess_format = "{fmt}"\n'
    if error is not None:
        text += f'error = "{error}"\n'
    if level is not None:
        text += f'level = "{level}"\n'
    return text


def read_lines(path):
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    assert not data or data.endswith(b"\n"), f"a partial last line in {path}: {data[-200:]!r}"
    return data.decode("ascii").splitlines()   # escaped: nothing but ASCII


def combined(lines):
    out = []
    for line in lines:
        m = COMBINED.match(line)
        assert m, f"not a combined access line: {line!r}"
        out.append(m.groupdict())
    return out


def json_lines(lines):
    out = []
    for line in lines:
        obj = json.loads(line)
        assert list(obj) == JSON_KEYS, line
        out.append(obj)
    return out


def stop_gracefully(srv, timeout=10):
    srv.signal(signal.SIGQUIT)
    srv.proc.wait(timeout)


def keepalive_requests(port, n, path="/", headers=None):
    with Client(port) as c:
        for _ in range(n):
            c.send(request(path=path, headers={"Host": "x", **(headers or {})}))
            assert c.read_response().status in (200, 404)


def pipelined(port, n):
    with Client(port) as c:
        c.send(b"".join(request(headers={"Host": "x"}) for _ in range(n)))
        for _ in range(n):
            assert c.read_response().status == 200


def bad_request(port):
    with Client(port) as c:
        c.send(b"NOT A REQUEST\r\n\r\n")
        assert c.read_response().status == 400


def traffic(port):
    """Requests over several connections (so both workers serve): keep-alive, pipelined,
    a 404 and a 400. Returns how many requests were answered."""
    conns = [threading.Thread(target=keepalive_requests, args=(port, 20)) for _ in range(6)]
    for t in conns:
        t.start()
    pipelined(port, 600)   # ~70 KB of lines: more than one 64 KiB write
    keepalive_requests(port, 3, path="/missing")
    bad_request(port)
    for t in conns:
        t.join(10)
    return 6 * 20 + 600 + 3 + 1


def test_combined_lines_parse_and_count_every_request(server_factory, tmp_path):
    access = tmp_path / "access.log"
    srv = server_factory(workers=2, extra=log_config(access))
    sent = traffic(srv.port)
    with Client(srv.port) as c:
        c.send(request(headers={"Host": "x", "Referer": "http://r/\"q\"", "User-Agent": "t\t\xe9 \\x",
                                "Connection": "close"}))
        assert c.read_response().status == 200
    sent += 1
    stop_gracefully(srv)
    lines = combined(read_lines(access))
    assert len(lines) == sent
    statuses = [int(l["status"]) for l in lines]
    assert statuses.count(404) == 3 and statuses.count(400) == 1 and statuses.count(200) == sent - 4
    assert {l["addr"] for l in lines} == {"127.0.0.1"}
    assert {int(l["slot"]) for l in lines} <= {0, 1}
    assert len({int(l["slot"]) for l in lines}) == 2, "both workers served and logged"
    ok = next(l for l in lines if l["status"] == "200")
    assert ok["request"] == "GET / HTTP/1.1"
    # Head and body: the body is "hello word".
    assert int(ok["bytes"]) > len("hello word") + 40
    bad = next(l for l in lines if l["status"] == "400")
    assert bad["request"] == "-" and int(bad["bytes"]) > 0
    last = lines[-1] if lines[-1]["referer"] != "-" else next(l for l in lines if l["referer"] != "-")
    assert last["referer"] == r"http://r/\x22q\x22"
    assert last["agent"] == r"t\x09\xE9 \x5Cx"


def test_json_lines_parse_and_escape(server_factory, tmp_path):
    access = tmp_path / "access.json"
    srv = server_factory(workers=2, extra=log_config(access, "json"))
    sent = traffic(srv.port)
    agent = 'a "quoted" \\ tab\t caf\xe9'
    with Client(srv.port) as c:
        # A backslash in the query (a quote in a target is refused): escaped in the request field.
        c.send(request(path="/missing?q=\\x", headers={"Host": "x", "User-Agent": agent, "Connection": "close"}))
        assert c.read_response().status == 404
    sent += 1
    stop_gracefully(srv)
    lines = json_lines(read_lines(access))
    assert len(lines) == sent
    assert sum(1 for l in lines if l["status"] == 404) == 4
    assert sum(1 for l in lines if l["status"] == 400) == 1
    odd = next(l for l in lines if l["user_agent"] == agent)
    assert odd["request"] == 'GET /missing?q=\\x HTTP/1.1' and odd["referer"] == ""
    assert odd["remote_addr"] == "127.0.0.1" and odd["slot"] in (0, 1)
    assert isinstance(odd["request_time_us"], int) and odd["bytes_sent"] > 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", odd["time"])
    assert next(l for l in lines if l["status"] == 400)["request"] == ""


def load(port, stop, counts, i):
    """Keep-alive requests until told to stop; counts[i]: answers received."""
    while not stop.is_set():
        try:
            with Client(port, timeout=5) as c:
                while not stop.is_set():
                    c.send(request(headers={"Host": "x"}))
                    r = c.read_response()
                    counts[i] += 1
                    if (r.header("Connection") or "").lower() == "close":
                        break
        except (OSError, AssertionError, Exception):
            if stop.is_set():
                return
            time.sleep(0.01)


def half_sent(port):
    """A request whose head is not complete yet: in flight across a signal."""
    c = Client(port)
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    return c


def test_no_line_lost_across_reload_and_graceful_stop(server_factory, tmp_path):
    access = tmp_path / "access.json"
    srv = server_factory(workers=2, extra=log_config(access, "json"))
    stop = threading.Event()
    counts = [0] * 4
    threads = [threading.Thread(target=load, args=(srv.port, stop, counts, i)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: sum(counts) > 300, 10, what="load")
        pending = half_sent(srv.port)
        old = set(srv.worker_pids())
        srv.signal(signal.SIGHUP)   # reload: the old workers drain (one waits for this request) and exit
        wait_until(lambda: len(set(srv.worker_pids()) - old) == 2, 10, what="the new workers")
        time.sleep(0.2)
        pending.send(b"\r\n")
        assert pending.read_response().status == 200
        pending.close()
        wait_until(lambda: not (old & set(srv.worker_pids())), 10, what="the old workers gone")
        wait_until(lambda: sum(counts) > 600, 10, what="load after the reload")
        pending = half_sent(srv.port)
        srv.signal(signal.SIGQUIT)   # graceful stop with requests in flight
        time.sleep(0.1)
        pending.send(b"\r\n")
        assert pending.read_response().status == 200
        pending.close()
        srv.proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    lines = json_lines(read_lines(access))
    assert len(lines) == sum(counts) + 2
    assert all(l["status"] == 200 for l in lines)


def wait_reopened(log_path, workers, before):
    def done():
        return log_path.read_text(errors="replace").count("log files reopened") >= before + workers + 1
    wait_until(done, 5, what="every worker reopened")


def test_move_then_usr1_or_s_reopen_loses_no_line(server_factory, tmp_path):
    access = tmp_path / "access.log"
    srv = server_factory(workers=2, extra=log_config(access))
    errors = srv.log   # the error log: stderr here
    counts = []
    for rotation, how in enumerate(["USR1", "-s reopen"]):
        n = traffic(srv.port)
        rotated = tmp_path / f"access.log.{rotation + 1}"
        os.rename(access, rotated)   # as logrotate does, then it signals
        before = errors.read_text(errors="replace").count("log files reopened")
        if how == "USR1":
            srv.signal(signal.SIGUSR1)
        else:
            r = cli("-s", "reopen", "-c", srv.conf)
            assert r.returncode == 0, r.stderr
        wait_reopened(errors, 2, before)
        assert access.exists(), "the master opened the new file"
        counts.append(n)
    after = traffic(srv.port)
    stop_gracefully(srv)
    # What was sent before each move is in the moved file; what came after, in the new one.
    assert len(combined(read_lines(tmp_path / "access.log.1"))) == counts[0]
    assert len(combined(read_lines(tmp_path / "access.log.2"))) == counts[1]
    assert len(combined(read_lines(access))) == after


def start_raw(tmp_path, conf_text, stderr_path, env=None):
    """A master with stderr to a file of ours (the fixtures' Server cannot set env)."""
    port = free_port()
    conf = tmp_path / f"raw-{port}.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 2\n{conf_text}\n'
                    '[[route]]\npath = "/"\nbody = "hello word"\n')
    out = open(stderr_path, "ab")
    proc = subprocess.Popen([BIN, "-c", str(conf)], stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    out.close()
    try:
        wait_for_port(port, proc=proc)
    except BaseException:
        stop_raw(proc)
        raise
    return proc, port, conf


def stop_raw(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_error_log_to_a_file_at_level_warn(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    error = tmp_path / "error.log"
    stderr = tmp_path / "stderr.txt"
    proc, port, _ = start_raw(tmp_path, log_config(logs / "access.log", error=error, level="warn"), stderr)
    try:
        keepalive_requests(port, 5)
        # A reopen that cannot open the access log's file (its directory is gone) is an error.
        os.rename(logs, tmp_path / "logs.old")
        proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: "cannot open the access log" in error.read_text(), 5, what="the reopen error")
        keepalive_requests(port, 5)   # logged on to the old file
    finally:
        stop_raw(proc)
    text = error.read_text()
    assert not worker_crashes(text), text
    lines = text.splitlines()
    assert lines and all(TIMESTAMP.match(l) for l in lines), text
    assert any(" master: error: reopen: cannot open the access log" in l for l in lines), text
    # Info lines (start, workers, the signal) are below the level.
    assert "listening on" not in text and "started, pid" not in text and "received SIGUSR1" not in text
    assert stderr.read_text() == "", "nothing after the start on the original stderr"
    assert len(combined(read_lines(tmp_path / "logs.old" / "access.log"))) == 10


def test_error_log_file_is_reopened_too(tmp_path):
    error = tmp_path / "error.log"
    proc, port, _ = start_raw(tmp_path, f'[log]\nerror = "{error}"\n', tmp_path / "stderr.txt")
    try:
        wait_until(lambda: error.read_text().count("started, pid") == 2, 5, what="workers started")
        os.rename(error, tmp_path / "error.log.1")
        proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: error.exists() and error.read_text().count("log files reopened") >= 3, 5,
                   what="the master and both workers in the new file")
    finally:
        stop_raw(proc)
    new = error.read_text()
    assert re.search(r"preforkd\[\d+\] worker \d: log files reopened", new)
    assert "all workers exited; master exiting" in new
    assert "received SIGUSR1" in (tmp_path / "error.log.1").read_text()


def test_journal_stream_lines_carry_priorities_and_no_timestamp(tmp_path):
    stderr = tmp_path / "journal.txt"
    stderr.touch()
    st = os.stat(stderr)
    logs = tmp_path / "logs"
    logs.mkdir()
    proc, port, _ = start_raw(tmp_path, log_config(logs / "access.log"), stderr,
                              env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    try:
        keepalive_requests(port, 3)
        os.rename(logs, tmp_path / "logs.old")
        proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: "cannot open the access log" in stderr.read_text(), 5, what="the reopen error")
    finally:
        stop_raw(proc)
    lines = stderr.read_text().splitlines()
    assert lines
    for l in lines:
        assert re.match(r"^<[3467]>preforkd\[\d+\] (master|worker \d+): \S", l), l
    assert any(re.match(r"^<6>preforkd\[\d+\] master: listening on ", l) for l in lines)
    assert any(re.match(r"^<3>preforkd\[\d+\] master: reopen: cannot open the access log", l) for l in lines)

    # A JOURNAL_STREAM naming another stream than stderr (inherited, with stderr
    # redirected since): not journald, plain timestamped lines.
    stderr = tmp_path / "plain.txt"
    other = tmp_path / "other"
    other.touch()
    st = os.stat(other)
    proc, port, _ = start_raw(tmp_path, "", stderr, env={"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    stop_raw(proc)
    lines = stderr.read_text().splitlines()
    assert lines and all(TIMESTAMP.match(l) for l in lines), lines


def test_access_log_to_stderr_keeps_lines_whole(server_factory):
    srv = server_factory(workers=2, extra=log_config("stderr"))
    # The test's log file is opened without O_APPEND; the workers' ring writes at the
    # file's position could land two lines at one offset (a line lost, seen once under
    # ASan), so the server makes its stderr append.
    flags = next(int(l.split()[1], 8) for l in open(f"/proc/{srv.proc.pid}/fdinfo/2") if l.startswith("flags:"))
    assert flags & os.O_APPEND, f"stderr is not appending: flags {flags:o}"
    sent = traffic(srv.port)
    stop_gracefully(srv)
    access = [l for l in srv.log_text().splitlines() if not TIMESTAMP.match(l)]
    assert len(combined(access)) == sent


def test_a_log_file_that_cannot_be_opened_stops_the_start(tmp_path):
    missing = tmp_path / "no-such-dir" / "access.log"
    port = free_port()
    conf = tmp_path / "bad.toml"
    conf.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 1\n{log_config(missing)}')
    r = subprocess.run([BIN, "-c", str(conf)], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 1
    assert f"cannot open the access log {missing}: open failed: No such file or directory" in r.stderr


def test_a_request_whose_client_leaves_before_its_answer_is_logged_499_once(server_factory, tmp_path):
    # An offloaded sum (a second or so on this build) whose client resets the connection first:
    # its answer never goes out, and it is still one line (and one count), 499 as nginx logs
    # it. The worker waits for the sum before it leaves, so its size bounds the quit below.
    so = Path(BIN).resolve().parent / "examples" / "sum" / "libsum.so"
    access = tmp_path / "access.json"
    routes = DEFAULT_ROUTES + f'\n[[route]]\npath = "/app/sum"\nmodule = "{so}"\n'
    srv = server_factory(workers=1, extra=log_config(access, "json"), routes=routes)
    n = sum_lasting(srv.port)
    c = Client(srv.port)
    c.send(f"GET /app/sum?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    time.sleep(0.2)
    # A reset, not a FIN: a client that only half-closes may still read its answer.
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    wait_until(lambda: len(read_lines(access)) >= 2, 5, interval=0.1, what="the 499 line")
    with Client(srv.port) as d:
        d.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert d.read_response().status == 200
    srv.signal(signal.SIGQUIT)
    srv.proc.wait(10)
    lines = json_lines(read_lines(access))
    assert [(l["request"], l["status"]) for l in lines] == [("GET /app/sum?n=500000000 HTTP/1.1", 200),
                                                            (f"GET /app/sum?n={n} HTTP/1.1", 499),
                                                            ("GET / HTTP/1.1", 200)], lines
