"""Command line: -t, -h, -v, bad flags, and start-up failures."""
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import BIN, REPO, Server, free_port, wait_until

LOCATED = re.compile(r"^(.+):(\d+):(\d+): (.+)$")


def run(*args, timeout=10):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def write(tmp_path, text, name="bad.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def located_lines(stderr, path):
    """The FILE:LINE:COL: message lines about path."""
    out = []
    for line in stderr.splitlines():
        m = LOCATED.match(line)
        if m and m.group(1) == str(path):
            out.append((int(m.group(2)), int(m.group(3)), m.group(4)))
    return out


# --------------------------------------------------------------------------- -t

def test_repo_config_is_valid():
    conf = REPO / "conf" / "server.toml"
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout + r.stderr


def test_generated_config_is_valid(tmp_path):
    conf = write(tmp_path, '[server]\nlisten = "127.0.0.1:8080"\nworkers = 2\nbalance = "reuseport"\n'
                           'backlog = 128\n[limits]\nmax_connections = 10\nmax_request_line = 100\n'
                           'max_header_bytes = 1000\n[[route]]\npath = "/"\nbody = "x"\n'
                           'content_type = "text/plain"\n', "good.toml")
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout


def test_bad_workers_value_points_at_line_3(tmp_path):
    conf = write(tmp_path, '[server]\nlisten = "127.0.0.1:8080"\nworkers = "many"\n')
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    lines = located_lines(r.stderr, conf)
    assert len(lines) == 1, r.stderr
    line, _, msg = lines[0]
    assert line == 3
    assert "workers" in msg and "many" in msg
    assert f"{conf}:3:" in r.stderr
    assert "is valid" not in r.stdout


def test_syntax_error(tmp_path):
    conf = write(tmp_path, '[server]\nlisten = "127.0.0.1:8080"\nworkers = = 2\n')
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    lines = located_lines(r.stderr, conf)
    assert len(lines) >= 1, r.stderr
    assert lines[0][0] == 3, r.stderr


def test_unterminated_string_is_a_syntax_error(tmp_path):
    conf = write(tmp_path, '[server]\nlisten = "127.0.0.1:8080\n')
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    assert located_lines(r.stderr, conf), r.stderr


@pytest.mark.parametrize("text,line,key", [
    ('[server]\nlisten = "127.0.0.1:8080"\nthreads = 4\n', 3, "threads"),
    ('[server]\nworkers = 1\n[limits]\nmax_body = 5\n', 4, "max_body"),
    ('[[route]]\npath = "/"\nbody = "x"\ncolour = "red"\n', 4, "colour"),
    ('[logging]\nlevel = "info"\n', 1, "logging"),
])
def test_unknown_key(tmp_path, text, line, key):
    conf = write(tmp_path, text)
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    lines = located_lines(r.stderr, conf)
    assert len(lines) == 1, r.stderr
    assert lines[0][0] == line, r.stderr
    assert key in lines[0][2]


def test_several_bad_values_give_several_lines(tmp_path):
    conf = write(tmp_path, '[server]\n'
                           'listen = "127.0.0.1:99999"\n'    # 2: bad port
                           'workers = 0\n'                   # 3
                           'balance = "roundrobin"\n'        # 4
                           'backlog = -1\n'                  # 5
                           '[limits]\n'
                           'max_request_line = 1\n'          # 7
                           '[[route]]\n'
                           'path = "nope"\n')                # 9
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    lines = located_lines(r.stderr, conf)
    assert sorted(l for l, _, _ in lines) == [2, 3, 4, 5, 7, 9], r.stderr
    msgs = " | ".join(m for _, _, m in lines)
    for word in ("listen", "workers", "balance", "backlog", "max_request_line", "path"):
        assert word in msgs, msgs


def test_duplicate_route_path(tmp_path):
    conf = write(tmp_path, '[[route]]\npath = "/"\nbody = "a"\n[[route]]\npath = "/"\nbody = "b"\n')
    r = run("-t", "-c", str(conf))
    assert r.returncode == 1
    lines = located_lines(r.stderr, conf)
    assert [l for l, _, _ in lines] == [5], r.stderr


def test_missing_file(tmp_path):
    r = run("-t", "-c", str(tmp_path / "does-not-exist.toml"))
    assert r.returncode == 1
    assert "does-not-exist.toml" in r.stderr


def test_invalid_config_does_not_start_server(tmp_path):
    conf = write(tmp_path, '[server]\nlisten = "127.0.0.1:8080"\nworkers = "many"\n')
    r = run("-c", str(conf))
    assert r.returncode == 1
    assert f"{conf}:3:" in r.stderr


# --------------------------------------------------------------------------- -h -v and bad flags

@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    r = run(flag)
    assert r.returncode == 0
    assert "usage" in r.stdout.lower()
    assert r.stderr == ""


@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(flag):
    r = run(flag)
    assert r.returncode == 0
    assert "preforkd" in r.stdout
    assert re.search(r"\d+\.\d+\.\d+", r.stdout), r.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["-x"], ["-c"], ["-t", "--nope"]])
def test_unknown_flag_exits_2_with_usage_on_stderr(args):
    r = run(*args)
    assert r.returncode == 2
    assert "usage" in r.stderr.lower()
    assert r.stdout == ""


# --------------------------------------------------------------------------- start-up failures

@pytest.mark.parametrize("balance", ["shared", "reuseport"])
def test_port_in_use(tmp_path, balance):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        conf = write(tmp_path, f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 2\n'
                               f'balance = "{balance}"\n', "inuse.toml")
        t0 = time.monotonic()
        proc = subprocess.Popen([BIN, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("preforkd kept running on a port that is already in use")
        elapsed = time.monotonic() - t0
    assert proc.returncode != 0
    assert elapsed < 2.0
    assert f"127.0.0.1:{port}" in err, err
    assert "in use" in err.lower(), err


def test_server_starts_and_stops_from_cli(tmp_path):
    s = Server(tmp_path, workers=1).start()
    try:
        assert not s.exited()
    finally:
        s.stop()
    assert s.proc.returncode == 0


@pytest.mark.parametrize("name,text,warning", [
    # An empty file is a valid configuration, with a warning.
    ("empty.toml", "", "{conf}: warning: no [[route]]: every request will be answered 404"),
    # A route path warning is located and not fatal.
    ("dots.toml", '[[route]]\npath = "/a/../b"\n', '{conf}:2:8: warning: route.path "/a/../b"'),
], ids=["empty_config", "route_path_dots"])
def test_config_warning_is_not_fatal(tmp_path, name, text, warning):
    conf = write(tmp_path, text, name)
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    assert warning.format(conf=conf) in r.stderr, r.stderr


def test_reload_logs_the_new_configs_warnings(server_factory):
    srv = server_factory(workers=1)
    text = srv.conf.read_text()
    srv.conf.write_text(text[:text.index("[[route]]")])
    srv.signal(signal.SIGHUP)
    wait_until(lambda: f"reload: {srv.conf}: warning: no [[route]]" in srv.log_text(), 5, what="the warning")
