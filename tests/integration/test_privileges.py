"""Least privilege (issue 15): [server] user/group, the control socket's peer check,
rlimit_nofile and cpu_affinity, checked on the real processes through /proc.

Most of these need root (CI runs as root): they skip with the reason otherwise.
"""
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BIN, free_port, get, wait_until
from helpers import refused

NOBODY = 65534

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing users needs root (CI runs the tests as root)")


def proc_status(pid, task=None):
    """{field: value} of /proc/PID/status (or of one of its threads)."""
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    out = {}
    for line in Path(path).read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def ids(status, key):
    return [int(v) for v in status[key].split()]


def open_files_limit(pid):
    """(soft, hard) of RLIMIT_NOFILE from /proc/PID/limits."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-files line in /proc/{pid}/limits")


@pytest.fixture
def shared_dir():
    """A directory the user nobody can search and read (pytest's tmp_path is 0700 under a
    0700 root directory); files made in it are 0644 unless a test says otherwise."""
    d = Path(tempfile.mkdtemp(prefix="pfd-priv-", dir="/tmp"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def as_nobody(args, **kw):
    """Runs args as uid and gid 65534 with no supplementary groups."""
    return subprocess.run(args, user=NOBODY, group=NOBODY, extra_groups=[], capture_output=True, text=True, **kw)


def other_user():
    """A user that exists and is not nobody (for a master that runs as nobody)."""
    for name in ("daemon", "bin", "root"):
        try:
            if pwd.getpwnam(name).pw_uid != NOBODY:
                return name
        except KeyError:
            pass
    pytest.skip("no user other than nobody")


@needs_root
def test_workers_run_as_nobody_and_serve_files_nobody_may_read(shared_dir, server_factory):
    www = shared_dir / "www"
    www.mkdir()
    os.chmod(www, 0o755)
    (www / "open.txt").write_text("for everyone\n")
    os.chmod(www / "open.txt", 0o644)
    (www / "secret.txt").write_text("root only\n")
    os.chmod(www / "secret.txt", 0o600)
    routes = f'[[route]]\nprefix = "/files/"\nroot = "{www}"\n[[route]]\npath = "/"\nbody = "hello word"\n'
    s = server_factory(workers=2, extra='user = "nobody"\n', routes=routes)

    master = proc_status(s.pid)
    assert ids(master, "Uid") == [0, 0, 0, 0], master["Uid"]
    workers = s.worker_slots()
    assert len(workers) == 2
    for slot, pid in workers.items():
        st = proc_status(pid)
        assert ids(st, "Uid") == [NOBODY] * 4, f"worker {slot}: Uid {st['Uid']}"
        assert ids(st, "Gid") == [NOBODY] * 4, f"worker {slot}: Gid {st['Gid']}"
        assert st["Groups"] == "", f"worker {slot}: supplementary groups {st['Groups']!r}"
        assert st["NoNewPrivs"] == "1", f"worker {slot}: NoNewPrivs {st['NoNewPrivs']}"
        # The kernel leaves a process that changed its ids undumpable: its /proc files are
        # root's, and other processes of nobody cannot ptrace it.
        assert os.stat(f"/proc/{pid}/mem").st_uid == 0

    for _ in range(4):   # both workers, as far as the kernel spreads them
        r = get(s.port, "/files/open.txt")
        assert r.status == 200 and r.body == b"for everyone\n"
        # The master (root) could read it; a worker running as nobody may not.
        assert get(s.port, "/files/secret.txt").status == 403
    assert get(s.port, "/").body == b"hello word"

    # A replacement worker drops too (the crash path forks the same way).
    victim = workers[0]
    os.kill(victim, 9)
    fresh = wait_until(lambda: (p := s.worker_slots().get(0)) not in (None, victim) and p, 5.0, what="slot 0 respawned")
    wait_until(lambda: ids(proc_status(fresh), "Uid") == [NOBODY] * 4, 2.0, what="respawned worker as nobody")
    s.stop()
    log = s.log_text()
    assert "cannot drop privileges" not in log


@needs_root
def test_control_socket_refuses_a_client_of_another_uid(shared_dir, server_factory):
    sock = shared_dir / "ctl.sock"
    s = server_factory(workers=1, extra=f'user = "nobody"\npid_file = "{shared_dir}/p.pid"\n'
                                          f'control_socket = "{sock}"\n')
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    probe = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n"
             f"    s.connect({str(sock)!r})\n"
             "except OSError as e:\n"
             "    print('connect', e.errno); sys.exit(0)\n"
             "s.settimeout(3)\n"
             "try:\n"
             "    s.sendall(b'status\\n')\n"
             "    data = b''\n"
             "    while chunk := s.recv(65536):\n"
             "        data += chunk\n"
             "except OSError as e:\n"
             "    print('io', e.errno); sys.exit(0)\n"
             "print('answer', len(data), data[:40])\n")
    # As shipped the file's mode keeps other users out...
    out = as_nobody(["/usr/bin/python3", "-c", probe], timeout=10).stdout
    assert out.startswith("connect 13"), out   # EACCES
    # ...and where it does not (a loosened mode), the master's own check does.
    os.chmod(sock, 0o666)
    out = as_nobody(["/usr/bin/python3", "-c", probe], timeout=10).stdout
    assert out.startswith("io") or out.startswith("answer 0 "), f"another uid got an answer: {out}"
    wait_until(lambda: f"control: refused a client of uid {NOBODY}" in s.log_text(), 3.0,
               what="the refusal's log line")
    # Root (and the master's own user) are still served.
    r = subprocess.run([BIN, "status", "-c", str(s.conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "1 worker" in r.stdout, r.stdout + r.stderr


@needs_root
def test_a_master_that_is_not_root_refuses_to_start_workers_as_another_user(shared_dir):
    os.chown(shared_dir, NOBODY, NOBODY)   # nobody's pid file and control socket go here
    other = other_user()

    def config(name, extra):
        port = free_port()
        conf = shared_dir / name
        conf.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = 1\n'
                        f'pid_file = "{shared_dir}/{name}.pid"\ncontrol_socket = "{shared_dir}/{name}.sock"\n'
                        f'{extra}\n[[route]]\npath = "/"\nbody = "hello word"\n')
        os.chmod(conf, 0o644)
        return conf, port

    def run_master(conf, timeout=5):
        """(exit code or None if it kept running, output) of a master run as nobody."""
        p = subprocess.Popen([BIN, "-c", str(conf)], user=NOBODY, group=NOBODY, extra_groups=[],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out
        except subprocess.TimeoutExpired:
            p.terminate()
            out, _ = p.communicate(timeout=5)
            return None, out

    conf, port = config("other.toml", f'user = "{other}"')
    code, out = run_master(conf)
    assert code == 1, f"exit {code}:\n{out}"
    assert f'preforkd: server.user = "{other}" needs the master to run as root (it runs as uid {NOBODY}); ' \
           f'not starting' in out, out
    assert not (shared_dir / "other.toml.pid").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()

    # A group other than its own needs root too.
    conf, _ = config("group.toml", 'user = "nobody"\ngroup = "0"')
    code, out = run_master(conf)
    assert code == 1 and 'server.group = "0" needs the master to run as root' in out, out

    # Its own user needs no drop: it starts, and serves.
    conf, port = config("own.toml", 'user = "nobody"')
    p = subprocess.Popen([BIN, "-c", str(conf)], user=NOBODY, group=NOBODY, extra_groups=[],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: get_or_none(port) == b"hello word" or p.poll() is not None, 5.0, what="own-user master")
        assert p.poll() is None, p.stdout.read()
    finally:
        p.terminate()
        p.communicate(timeout=5)
    if shutil.which("setpriv"):
        # Root without CAP_SETUID/CAP_SETGID (a restricted container) cannot drop either.
        conf, _ = config("nocap.toml", 'user = "nobody"')
        r = subprocess.run(["setpriv", "--bounding-set=-setuid,-setgid", "--inh-caps=-all", BIN, "-c", str(conf)],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "(it runs as uid 0, without CAP_SETUID and CAP_SETGID); not starting" in r.stderr, r.stderr


@needs_root
def test_a_drop_the_kernel_refuses_is_an_error_at_start_not_a_worker_as_root(server_factory):
    """In a user namespace root has every capability, but may not call setgroups (and
    uid 65534 is not mapped): only trying shows it, and the master tries before it forks
    any worker."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare (util-linux)")
    if subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True).returncode != 0:
        pytest.skip("user namespaces are not available here")
    s = server_factory(start=False, workers=1, extra='user = "nobody"\n')
    code, out = refused(s.conf, prefix=("unshare", "--user", "--map-root-user"))
    assert code == 1, out
    assert 'preforkd: cannot drop privileges to user "nobody" (uid 65534, gid 65534): setgroups: ' \
           'Operation not permitted; not starting' in out, out
    assert "worker 0 started" not in out


def get_or_none(port):
    try:
        return get(port, "/").body
    except OSError:
        return None


def has_cap_sys_resource():
    eff = int(proc_status(os.getpid())["CapEff"], 16)
    return bool(eff & (1 << 24))


@needs_root
def test_rlimit_nofile_is_applied_to_workers(server_factory):
    hard = open_files_limit(os.getpid())[1]
    lower = 4321   # below the hard limit: the soft one is set, the hard one kept
    s = server_factory(workers=2, extra=f'user = "nobody"\nrlimit_nofile = {lower}\n')
    for slot, pid in s.worker_slots().items():
        assert open_files_limit(pid) == (lower, hard), f"worker {slot}"
    assert open_files_limit(s.pid) == (lower, hard)
    s.stop()
    if not has_cap_sys_resource():
        return   # raising the hard limit: see the next test
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    wanted = min(hard + 1000, nr_open)   # above the hard limit: only root may, and does
    s = server_factory(workers=2, extra=f'user = "nobody"\nrlimit_nofile = {wanted}\n')
    for slot, pid in s.worker_slots().items():
        assert open_files_limit(pid) == (wanted, max(wanted, hard)), f"worker {slot}"


@needs_root
def test_rlimit_nofile_the_kernel_refuses_is_a_clear_error_at_start(shared_dir, server_factory):
    hard = open_files_limit(os.getpid())[1]
    nr_open = int(Path("/proc/sys/fs/nr_open").read_text())
    if has_cap_sys_resource():
        if nr_open >= 1 << 30:
            pytest.skip("fs.nr_open allows every value rlimit_nofile may take")
        wanted, why = nr_open + 1, rf"no process may pass fs\.nr_open = {nr_open}"
    else:   # root in a container without CAP_SYS_RESOURCE, as here
        wanted, why = hard + 1, r"only root with CAP_SYS_RESOURCE may raise it, and this one lacks it"
    s = server_factory(start=False, workers=1, extra=f'rlimit_nofile = {wanted}\n')
    r = subprocess.run([BIN, "-c", str(s.conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(rf"^preforkd: server\.rlimit_nofile = {wanted}: setrlimit failed: Operation not permitted "
                     rf"\(hard limit {hard}; {why}\); not starting$", r.stderr, re.M), r.stderr
    # Not root: past the hard limit is never allowed.
    conf = shared_dir / "nofile.toml"
    conf.write_text(s.conf.read_text())
    os.chmod(conf, 0o644)
    r = as_nobody([BIN, "-c", str(conf)], timeout=10)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"preforkd: server.rlimit_nofile = {wanted}: setrlimit failed: Operation not permitted " \
           f"(hard limit {hard}; only root may raise it); not starting" in r.stderr, r.stderr


def test_cpu_affinity_auto_pins_slot_i_to_the_ith_allowed_cpu(server_factory):
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("one CPU: every worker runs on it whatever cpu_affinity says")
    workers = len(allowed) + 1   # the last slot wraps around to the first CPU
    s = server_factory(workers=workers, extra='cpu_affinity = "auto"\n',
                       routes=f'[[route]]\nprefix = "/f/"\nroot = "{Path(__file__).parent}"\n'
                              '[[route]]\npath = "/"\nbody = "hello word"\n')
    # A file request starts a worker's helper threads: they inherit its CPU.
    for _ in range(2 * workers):
        assert get(s.port, f"/f/{Path(__file__).name}").status == 200
    slots = s.worker_slots()
    assert len(slots) == workers
    threads = 0
    for slot, pid in slots.items():
        cpu = str(allowed[slot % len(allowed)])
        assert proc_status(pid)["Cpus_allowed_list"] == cpu, f"worker {slot}"
        for task in os.listdir(f"/proc/{pid}/task"):
            st = proc_status(pid, task)
            if st["Name"].startswith("iou-"):
                continue   # io_uring's own workers follow the ring, not the process mask
            threads += int(task) != pid
            assert st["Cpus_allowed_list"] == cpu, f"worker {slot} thread {st['Name']}"
    assert threads > 0, "no worker started a helper thread"
    assert proc_status(s.pid)["Cpus_allowed_list"] == proc_status(os.getpid())["Cpus_allowed_list"], \
        "the master itself stays on the whole set"
    # A replacement keeps its slot's CPU, and the mapping is logged once.
    victim = slots[1]
    os.kill(victim, 9)
    fresh = wait_until(lambda: (p := s.worker_slots().get(1)) not in (None, victim) and p, 5.0, what="slot 1 respawned")
    wait_until(lambda: proc_status(fresh)["Cpus_allowed_list"] == str(allowed[1]), 2.0, what="respawned worker pinned")
    lines = [line for line in s.log_text().splitlines() if "cpu_affinity auto:" in line]
    assert len(lines) == 1, lines
    assert "slot 0 on CPU %d, slot 1 on CPU %d" % (allowed[0], allowed[1]) in lines[0]


def test_cpu_affinity_off_leaves_workers_on_every_allowed_cpu(server_factory):
    s = server_factory(workers=2, extra='cpu_affinity = "off"\n')
    mine = proc_status(os.getpid())["Cpus_allowed_list"]
    for pid in s.worker_slots().values():
        assert proc_status(pid)["Cpus_allowed_list"] == mine
    assert "cpu_affinity" not in s.log_text()
