"""The pid file and control socket against another local user (issue 11, item 1).

Each attack is played for real: the victim is a root master or root's `preforkd -s` /
`status`, the attacker is a process that setuid's to nobody (65534) and plants a
symlink, a world-writable file, a rogue socket listener or a forged pid file. Without
root there is neither victim nor attacker: those tests skip.

Real processes, sockets and signals; every wait is bounded; only processes this file
started are signalled, by pid.
"""
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, DEFAULT_ROUTES, alive, default_runtime_path, free_port, wait_for_port, wait_until
from helpers import cli, refused

NOBODY = 65534

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: the victim is a root master and the attacker a process that setuid's to nobody (65534)")


# --------------------------------------------------------------------------- helpers

def as_nobody(fn, *args):
    """Runs fn(*args) in a forked child as uid/gid 65534; fails the test if fn raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            fn(*args)
            code = 0
        except BaseException as e:   # report it to the parent, whatever it is
            os.write(w, repr(e).encode()[:1000])
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        why = f.read().decode(errors="replace")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"the step as nobody failed: {why}"


NOBODY_KW = dict(user=NOBODY, group=NOBODY, extra_groups=[])


def write_conf(directory, port, pid_file=None, sock=None, name=None):
    conf = Path(directory) / (name or f"server-{port}.toml")
    text = f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 1\n'
    if pid_file is not None:
        text += f'pid_file = "{pid_file}"\n'
    if sock is not None:
        text += f'control_socket = "{sock}"\n'
    conf.write_text(text + DEFAULT_ROUTES)
    conf.chmod(0o644)
    return conf




class Master:
    """A running master (stopped on exit), optionally as another user or with a umask."""

    def __init__(self, conf, port, **popen_kw):
        self.conf, self.port, self.kw = conf, port, popen_kw
        self.proc = None
        self.log = tempfile.TemporaryFile()

    def __enter__(self):
        self.proc = subprocess.Popen([BIN, "-c", str(self.conf)], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, **self.kw)
        try:
            wait_for_port(self.port, proc=self.proc)
        except BaseException:
            self.__exit__()
            raise
        return self

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def shared_dir():
    """Root's directory that nobody may read (configs, victims) but not write."""
    d = tempfile.mkdtemp(prefix="pfd-rt-", dir="/tmp")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def nobody_dir():
    """A private directory of nobody's."""
    d = tempfile.mkdtemp(prefix="pfd-rt-nobody-", dir="/tmp")
    os.chown(d, NOBODY, NOBODY)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def port_in_tmp():
    """A free port and its names straight in /tmp (the old default place), removed afterwards."""
    port = free_port()
    names = [f"/tmp/preforkd-{port}.pid", f"/tmp/preforkd-{port}.pid.tmp", f"/tmp/preforkd-{port}.sock"]
    yield port
    for n in names:
        try:
            os.unlink(n)
        except FileNotFoundError:
            pass


def victim_file(directory):
    victim = directory / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    return victim


def plant_symlink(target, at):
    os.symlink(target, at)


def plant_file(at, text, mode):
    fd = os.open(at, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.write(fd, text.encode())
    os.fchmod(fd, mode)
    os.close(fd)


def plant_stale_socket(at):
    s = socket.socket(socket.AF_UNIX)
    s.bind(at)
    s.close()


ROGUE = r"""
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
os.chmod(sys.argv[1], 0o777)
s.settimeout(0.1)
print("ready", flush=True)
end = time.monotonic() + 30
while time.monotonic() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    with c:
        c.settimeout(1)
        try:
            c.recv(256)
            c.sendall(b"master pid 1, up 99 s, listening on 0.0.0.0:1 (balance shared), 1 workers (rogue answer)\n")
        except OSError:
            pass
"""


class Rogue:
    """nobody listening on a Unix socket path, answering anything like a master would."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", ROGUE, self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, **NOBODY_KW)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", f"the rogue listener did not start: {line!r}"
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait(5)



def stop_with_cli(conf, m, what):
    """`preforkd -s stop` as root succeeds, and the master exits."""
    r = cli("-s", "stop", "-c", conf)
    assert r.returncode == 0, r
    wait_until(lambda: m.proc.poll() is not None, 5, what=what)

# --------------------------------------------------------------------------- the pid file

@needs_root
def test_symlinks_planted_at_the_pid_file_names_are_not_followed(shared_dir, port_in_tmp):
    # Today's default place: /tmp/preforkd-<port>.pid, where anyone can plant names.
    port = port_in_tmp
    pid_path = f"/tmp/preforkd-{port}.pid"
    victim = victim_file(shared_dir)
    as_nobody(plant_symlink, str(victim), pid_path + ".tmp")
    conf = write_conf(shared_dir, port, pid_file=pid_path, sock=shared_dir / "c.sock")
    with Master(conf, port) as m:
        assert victim.read_text() == "precious\n", "the root master wrote through nobody's symlink"
        st = os.lstat(pid_path)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == 0, f"pid file {st}"
        assert Path(pid_path).read_text() == f"{m.proc.pid}\n"
    # The final name too: replaced, never written through.
    os.unlink(pid_path + ".tmp")
    as_nobody(plant_symlink, str(victim), pid_path)
    with Master(conf, port) as m:
        assert victim.read_text() == "precious\n"
        assert not os.path.islink(pid_path) and Path(pid_path).read_text() == f"{m.proc.pid}\n", m.output()


@needs_root
def test_a_planted_world_writable_file_never_becomes_the_pid_file(shared_dir, port_in_tmp):
    port = port_in_tmp
    pid_path = f"/tmp/preforkd-{port}.pid"
    as_nobody(plant_file, pid_path + ".tmp", "", 0o666)
    planted = os.stat(pid_path + ".tmp").st_ino
    conf = write_conf(shared_dir, port, pid_file=pid_path, sock=shared_dir / "c.sock")
    with Master(conf, port) as m:
        st = os.lstat(pid_path)
        assert st.st_ino != planted, "the pid file is the file nobody planted"
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o644, f"owner {st.st_uid}, mode {oct(st.st_mode)}"
        assert Path(pid_path).read_text() == f"{m.proc.pid}\n"

        def rewrite():
            with open(pid_path, "w") as f:
                f.write("1\n")

        with pytest.raises(AssertionError, match="PermissionError"):
            as_nobody(rewrite)
        assert Path(pid_path).read_text() == f"{m.proc.pid}\n"


def test_pid_file_is_0644_and_socket_0600_whatever_the_umask(tmp_path):
    port = free_port()
    conf = write_conf(tmp_path, port, pid_file=tmp_path / "m.pid", sock=tmp_path / "m.sock")
    with Master(conf, port, umask=0o077) as m:
        st = os.stat(tmp_path / "m.pid")
        assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == os.geteuid(), oct(st.st_mode)
        st = os.stat(tmp_path / "m.sock")
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert (tmp_path / "m.pid").read_text() == f"{m.proc.pid}\n"
        # Nothing left under a temporary name.
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pid", "m.sock", conf.name]


# --------------------------------------------------------------------------- -s SIGNAL

@needs_root
def test_signal_refuses_a_pid_file_that_names_an_unrelated_process(shared_dir, port_in_tmp):
    port = port_in_tmp
    pid_path = f"/tmp/preforkd-{port}.pid"
    conf = write_conf(shared_dir, port, pid_file=pid_path, sock=shared_dir / "c.sock")
    unrelated = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        # nobody forges the pid file (no master is running).
        as_nobody(plant_file, pid_path, f"{unrelated.pid}\n", 0o644)
        r = cli("-s", "stop", "-c", conf)
        assert r.returncode == 1, r
        assert f"pid {unrelated.pid}" in r.stderr and 'is not a preforkd master (it is "sleep 30")' in r.stderr, \
            r.stderr
        time.sleep(0.1)
        assert unrelated.poll() is None and alive(unrelated.pid), "root's -s stop killed an unrelated process"
        # The same from a stale pid file of root's own, its pid reused by another process.
        os.unlink(pid_path)
        Path(pid_path).write_text(f"{unrelated.pid}\n")
        r = cli("-s", "quit", "-c", conf)
        assert r.returncode == 1 and "is not a preforkd master" in r.stderr, r
        assert unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait(5)


@needs_root
def test_signal_refuses_a_pid_file_another_user_wrote_for_a_real_master(shared_dir, port_in_tmp):
    port = port_in_tmp
    conf = write_conf(shared_dir, port, pid_file=shared_dir / "m.pid", sock=shared_dir / "m.sock")
    with Master(conf, port) as m:
        forged_path = f"/tmp/preforkd-{port}.pid"
        as_nobody(plant_file, forged_path, f"{m.proc.pid}\n", 0o644)
        forged = write_conf(shared_dir, port, pid_file=forged_path, sock=shared_dir / "m.sock", name="forged.toml")
        r = cli("-s", "stop", "-c", forged)
        assert r.returncode == 1 and "belongs to uid 65534" in r.stderr, r
        assert m.proc.poll() is None
        # The master's own pid file, read by another user: not theirs to signal.
        r = cli("-s", "stop", "-c", conf, **NOBODY_KW)
        assert r.returncode == 1 and f"is run by uid 0, not by you (uid {NOBODY})" in r.stderr, r
        assert m.proc.poll() is None
        # Root, with the real pid file: stops it.
        stop_with_cli(conf, m, "the master to stop")


# --------------------------------------------------------------------------- the control socket

@needs_root
def test_a_rogue_listener_at_the_socket_path_is_not_trusted(shared_dir, port_in_tmp):
    port = port_in_tmp
    sock = f"/tmp/preforkd-{port}.sock"
    conf = write_conf(shared_dir, port, pid_file=shared_dir / "m.pid", sock=sock)
    with Rogue(sock) as rogue:
        r = cli("status", "-c", conf)
        assert "rogue" not in r.stdout, f"root's status printed nobody's answer: {r.stdout!r}"
        assert r.returncode == 1 and f"served by pid {rogue.proc.pid} of uid {NOBODY}" in r.stderr, r
        assert "not trusting it" in r.stderr
        r = cli("ctl", "scale", "2", "-c", conf)
        assert r.returncode == 1 and "rogue" not in r.stdout, r

        code, out = refused(conf)
        assert code == 1, out
        assert "another preforkd master is running" not in out, out
        assert f"{sock} is served by pid {rogue.proc.pid} of uid {NOBODY}" in out, out
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode) and st.st_uid == NOBODY, "the master removed nobody's socket"
        assert not (shared_dir / "m.pid").exists(), "a master that did not start wrote its pid file"


@needs_root
def test_only_a_stale_socket_of_ours_is_replaced(tmp_path, port_in_tmp):
    port = port_in_tmp
    # A regular file at the socket path: kept, and said so.
    sock = tmp_path / "m.sock"
    sock.write_text("important\n")
    conf = write_conf(tmp_path, port, pid_file=tmp_path / "m.pid", sock=sock)
    code, out = refused(conf)
    assert code == 1 and f"{sock} exists and is a regular file, not a socket: not removing it" in out, out
    assert sock.read_text() == "important\n"
    # A stale socket of another user's (nobody bound it and went away): kept.
    tmp_sock = f"/tmp/preforkd-{port}.sock"
    as_nobody(plant_stale_socket, tmp_sock)
    conf = write_conf(tmp_path, port, pid_file=tmp_path / "m.pid", sock=tmp_sock)
    code, out = refused(conf)
    assert code == 1 and f"{tmp_sock} is a socket of uid {NOBODY}, not of uid 0: not replacing it" in out, out
    assert stat.S_ISSOCK(os.lstat(tmp_sock).st_mode) and os.lstat(tmp_sock).st_uid == NOBODY
    # A stale socket of our own (a master killed with SIGKILL): replaced.
    sock.unlink()
    plant_stale_socket(str(sock))
    conf = write_conf(tmp_path, port, pid_file=tmp_path / "m.pid", sock=sock)
    with Master(conf, port) as m:
        r = cli("status", "-c", conf)
        assert r.returncode == 0 and f"master pid {m.proc.pid}" in r.stdout, r


# --------------------------------------------------------------------------- directories

@needs_root
def test_a_directory_others_can_write_or_own_is_refused(shared_dir):
    port = free_port()
    open_dir = shared_dir / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    conf = write_conf(shared_dir, port, pid_file=open_dir / "m.pid", sock=shared_dir / "m.sock")
    code, out = refused(conf)
    assert code == 1 and f"{open_dir} is writable by other users (mode 0777) and not sticky" in out, out
    assert list(open_dir.iterdir()) == []
    # Not writable by others, but nobody's: nobody could rename it away and put another in its place.
    theirs = shared_dir / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    conf = write_conf(shared_dir, port, pid_file=shared_dir / "m.pid", sock=theirs / "m.sock")
    code, out = refused(conf)
    assert code == 1 and f"{theirs} belongs to uid {NOBODY}, not to uid 0 or root" in out, out
    assert list(theirs.iterdir()) == []


@needs_root
def test_an_unprivileged_master_refuses_bare_tmp_and_runs_in_its_own_directory(shared_dir, nobody_dir, port_in_tmp):
    port = port_in_tmp
    conf = write_conf(shared_dir, port, pid_file=f"/tmp/preforkd-{port}.pid", sock=nobody_dir / "m.sock")
    code, out = refused(conf, **NOBODY_KW)
    assert code == 1, out
    assert f"/tmp is writable by other users (mode 1777) and is uid 0's, not uid {NOBODY}'s" in out, out
    assert not os.path.exists(f"/tmp/preforkd-{port}.pid")

    conf = write_conf(shared_dir, port, pid_file=nobody_dir / "m.pid", sock=nobody_dir / "m.sock")
    with Master(conf, port, **NOBODY_KW) as m:
        st = os.stat(nobody_dir / "m.pid")
        assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o644, (st.st_uid, oct(st.st_mode))
        r = cli("status", "-c", conf, **NOBODY_KW)
        assert r.returncode == 0 and f"master pid {m.proc.pid}" in r.stdout, r
        # Root may signal any user's master.
        stop_with_cli(conf, m, "nobody's master to stop")


# --------------------------------------------------------------------------- default paths

@needs_root
def test_default_files_are_out_of_other_users_reach(shared_dir, port_in_tmp):
    # The attacks of the tests above, at the names that were the defaults: they no longer matter.
    port = port_in_tmp
    victim = victim_file(shared_dir)
    as_nobody(plant_symlink, str(victim), f"/tmp/preforkd-{port}.pid.tmp")
    as_nobody(plant_symlink, str(victim), f"/tmp/preforkd-{port}.pid")
    conf = write_conf(shared_dir, port)
    with Rogue(f"/tmp/preforkd-{port}.sock"), Master(conf, port) as m:
        pid_path = default_runtime_path(port, "pid")
        assert pid_path.startswith("/run/preforkd/"), pid_path
        assert Path(pid_path).read_text() == f"{m.proc.pid}\n"
        assert victim.read_text() == "precious\n"
        d = os.lstat("/run/preforkd")
        assert stat.S_ISDIR(d.st_mode) and d.st_uid == 0 and d.st_mode & 0o022 == 0, oct(d.st_mode)
        r = cli("status", "-c", conf)
        assert r.returncode == 0 and f"master pid {m.proc.pid}" in r.stdout and "rogue" not in r.stdout, r
        stop_with_cli(conf, m, "the master to stop")
    assert not os.path.exists(pid_path)


def nobody_env(xdg=None):
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    if xdg is not None:
        env["XDG_RUNTIME_DIR"] = str(xdg)
    return env


@needs_root
def test_an_unprivileged_master_defaults_to_its_xdg_runtime_dir(shared_dir, nobody_dir):
    os.chmod(nobody_dir, 0o700)
    port = free_port()
    conf = write_conf(shared_dir, port)
    env = nobody_env(nobody_dir)
    pid_path = default_runtime_path(port, "pid", uid=NOBODY, env=env)
    assert pid_path == f"{nobody_dir}/preforkd/preforkd-{port}.pid"
    with Master(conf, port, env=env, **NOBODY_KW) as m:
        assert Path(pid_path).read_text() == f"{m.proc.pid}\n"
        d = os.lstat(nobody_dir / "preforkd")
        assert d.st_uid == NOBODY and stat.S_IMODE(d.st_mode) == 0o700, oct(d.st_mode)
        r = cli("status", "-c", conf, env=env, **NOBODY_KW)
        assert r.returncode == 0 and f"master pid {m.proc.pid}" in r.stdout, r
        r = cli("-s", "stop", "-c", conf, env=env, **NOBODY_KW)
        assert r.returncode == 0, r
        wait_until(lambda: m.proc.poll() is not None, 5, what="nobody's master to stop")


@pytest.fixture
def nobody_fallback_dir():
    """/tmp/preforkd-65534, nobody's fallback directory, absent at the start (an existing one is put back)."""
    path = Path(f"/tmp/preforkd-{NOBODY}")
    saved = None
    if os.path.lexists(path):
        saved = Path(tempfile.mkdtemp(prefix="pfd-rt-saved-", dir="/tmp")) / "d"
        os.rename(path, saved)
    yield path
    if os.path.islink(path) or not os.path.isdir(path):
        if os.path.lexists(path):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)
    if saved is not None:
        os.rename(saved, path)
        os.rmdir(saved.parent)


@needs_root
def test_an_unprivileged_master_without_xdg_uses_a_checked_dir_of_its_own(shared_dir, nobody_dir,
                                                                            nobody_fallback_dir):
    port = free_port()
    conf = write_conf(shared_dir, port)
    env = nobody_env()   # no XDG_RUNTIME_DIR
    fallback = nobody_fallback_dir
    assert default_runtime_path(port, "pid", uid=NOBODY, env=env) == f"{fallback}/preforkd-{port}.pid"
    with Master(conf, port, env=env, **NOBODY_KW) as m:
        d = os.lstat(fallback)
        assert stat.S_ISDIR(d.st_mode) and d.st_uid == NOBODY and stat.S_IMODE(d.st_mode) == 0o700, oct(d.st_mode)
        assert (fallback / f"preforkd-{port}.pid").read_text() == f"{m.proc.pid}\n"
        r = cli("status", "-c", conf, env=env, **NOBODY_KW)
        assert r.returncode == 0 and f"master pid {m.proc.pid}" in r.stdout, r
    # Checked at every start: a mode that lets others in, another owner, a link elsewhere.
    os.chmod(fallback, 0o755)
    code, out = refused(conf, env=env, **NOBODY_KW)
    assert code == 1 and f"{fallback} has mode 0755; it must be 0700" in out, out
    os.chmod(fallback, 0o700)
    os.chown(fallback, 0, 0)
    code, out = refused(conf, env=env, **NOBODY_KW)
    assert code == 1 and f"{fallback} belongs to uid 0, not to uid {NOBODY}" in out, out
    shutil.rmtree(fallback)
    os.symlink(nobody_dir, fallback)
    code, out = refused(conf, env=env, **NOBODY_KW)
    assert code == 1 and f"{fallback} is a symbolic link" in out, out
    assert list(nobody_dir.iterdir()) == []
