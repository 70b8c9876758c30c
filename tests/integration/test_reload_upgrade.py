"""Reload (HUP) and binary upgrade (USR2) under load: no failed request, and a bad
configuration or a broken binary leaves the running server as it was."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

from conftest import BIN, Client, ConnectionClosed, alive, free_port, get, request, wait_for_port, wait_until


class Load:
    """Keep-alive clients in threads; every exception or non-200 is a failure. With
    new_connection_each_time, every request says Connection: close, so whatever sits
    in a listen queue when a socket closes shows up as a reset or a timeout."""

    def __init__(self, port, threads=4, new_connection_each_time=False):
        self.port = port
        self.headers = {"Host": "x", "Connection": "close"} if new_connection_each_time else None
        self.stop_flag = threading.Event()
        self.ok = 0
        self.failures = []
        self.bodies = set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        client = None
        while not self.stop_flag.is_set():
            try:
                if client is None:
                    client = Client(self.port, timeout=5)
                client.send(request(headers=self.headers))
                r = client.read_response()
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                        self.bodies.add(r.body)
                    else:
                        self.failures.append(f"status {r.status}")
                if (r.header("Connection") or "").lower() == "close":
                    client.sock.close()
                    client = None
            except (OSError, ConnectionClosed) as e:
                with self.lock:
                    self.failures.append(repr(e))
                client = None

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(10)


def write_conf(path, port, body, workers=2, balance="shared", broken=False):
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = {workers}\nbalance = "{balance}"\n'
        f'pid_file = "{path.parent}/p.pid"\ncontrol_socket = "{path.parent}/c.sock"\n'
        + ('workers_typo = 3\n' if broken else '')
        + f'[[route]]\npath = "/"\nbody = "{body}"\n')


def start(binary, conf, log):
    proc = subprocess.Popen([str(binary), "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    return proc


def stop(proc, *pids):
    for pid in (proc.pid, *pids):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running(conf, log_path, port, binary=BIN):
    """The master on conf, logging to log_path, once it listens on port; stopped on the way out."""
    with open(log_path, "wb") as log:
        proc = start(binary, conf, log)
        try:
            wait_for_port(port, proc=proc)
            yield proc
        finally:
            stop(proc)


def test_twenty_reloads_under_load_lose_no_request(tmp_path):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "v0")
    with running(conf, tmp_path / "log", port) as proc:
        with Load(port) as load:
            for i in range(1, 21):
                write_conf(conf, port, f"v{i}")
                proc.send_signal(signal.SIGHUP)
                time.sleep(0.25)
            time.sleep(0.5)
        assert load.failures == [], load.failures[:5]
        assert load.ok > 500
        # Every generation served and the last one is what answers now.
        assert get(port).body == b"v20"
        assert len(load.bodies) >= 10
    text = (tmp_path / "log").read_text()
    assert text.count("reload: ") >= 20
    assert "killed by signal" not in text


def test_invalid_config_on_reload_keeps_serving_the_old_one(tmp_path):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "good")
    with running(conf, tmp_path / "log", port) as proc:
        write_conf(conf, port, "never", broken=True)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "still serving the previous configuration" in (tmp_path / "log").read_text(),
                   5, what="the reload failure in the log")
        assert get(port).body == b"good"
        assert proc.poll() is None
    text = (tmp_path / "log").read_text()
    # The broken key is named with file, line and column (line 7: after [server] and its 5 keys).
    assert f"reload failed: {conf}:7:1: unknown key 'workers_typo'" in text, text


def master_pid_from(pid_file):
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def upgradable(tmp_path):
    """A copy of the binary (an upgrade may replace it) and a configuration for it:
    (binary, port, conf, pid file)."""
    binary = tmp_path / "preforkd"
    shutil.copy(BIN, binary)
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "hello word")
    return binary, port, conf, tmp_path / "p.pid"


def test_binary_upgrade_under_load_then_quit_old_master(tmp_path):
    binary, port, conf, pid_file = upgradable(tmp_path)
    new_pid = None
    with open(tmp_path / "log", "wb") as log:
        old = start(binary, conf, log)
        try:
            wait_for_port(port, proc=old)
            with Load(port) as load:
                time.sleep(0.5)
                old.send_signal(signal.SIGUSR2)
                wait_until(lambda: (master_pid_from(pid_file) or old.pid) != old.pid, 5, what="the new pid file")
                new_pid = master_pid_from(pid_file)
                assert master_pid_from(tmp_path / "p.pid.oldbin") == old.pid
                wait_until(lambda: "adopted 1 listening socket" in (tmp_path / "log").read_text(), 5,
                           what="the new master adopting the socket")
                time.sleep(0.5)   # both masters serve side by side
                old.send_signal(signal.SIGQUIT)
                old.wait(10)
                time.sleep(0.5)
            assert old.returncode == 0
            assert load.failures == [], load.failures[:5]
            assert load.ok > 200
            assert alive(new_pid)
            assert get(port).body == b"hello word"
            assert not (tmp_path / "p.pid.oldbin").exists()
            assert master_pid_from(pid_file) == new_pid
        finally:
            stop(old, *([new_pid] if new_pid else []))
            if new_pid:
                wait_until(lambda: not alive(new_pid), 5, what="the new master to stop")


def test_broken_new_binary_leaves_old_master_serving(tmp_path):
    binary, port, conf, pid_file = upgradable(tmp_path)
    with running(conf, tmp_path / "log", port, binary=binary) as old:
        # A "new version" that fails at once.
        binary.unlink()
        binary.write_text("#!/bin/sh\necho broken build >&2\nexit 3\n")
        binary.chmod(0o755)
        with Load(port) as load:
            time.sleep(0.3)
            old.send_signal(signal.SIGUSR2)
            wait_until(lambda: "this master keeps serving" in (tmp_path / "log").read_text(), 5,
                       what="the old master to notice the failed upgrade")
            time.sleep(0.5)
        assert load.failures == [], load.failures[:5]
        assert old.poll() is None
        assert master_pid_from(pid_file) == old.pid
        assert (tmp_path / "c.sock").exists()
        status = subprocess.run([BIN, "status", "-c", str(conf)], capture_output=True, text=True, timeout=10)
        assert status.returncode == 0 and f"master pid {old.pid}" in status.stdout


def test_killing_a_random_worker_every_100ms_under_load(tmp_path):
    """The master never dies, every slot is filled at the end, no zombies, and the only
    failed requests are ones in flight on killed workers (at most one per client
    connection per kill)."""
    import random
    from conftest import children, proc_stat

    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "hello word")
    conf.write_text(conf.read_text() + '[supervisor]\nmin_uptime = "200ms"\nrestart_delay_max = "400ms"\n')
    threads = 4
    kills = 0
    with running(conf, tmp_path / "log", port) as proc:
        wait_until(lambda: len(children(proc.pid)) == 2, 5, what="2 workers")
        rng = random.Random(7)
        with Load(port, threads=threads) as load:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                workers = [p for p in children(proc.pid) if (proc_stat(p) or "Z")[0] != "Z"]
                if workers:
                    try:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                        kills += 1
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            ok_before_end = load.ok
        assert proc.poll() is None, "the master died"
        wait_until(lambda: len([p for p in children(proc.pid) if (proc_stat(p) or "Z")[0] != "Z"]) == 2, 3,
                   what="both slots filled again")
        wait_until(lambda: all((proc_stat(p) or "X")[0] != "Z" for p in children(proc.pid)), 2,
                   what="no zombies")
        assert get(port).body == b"hello word"
        assert ok_before_end > 100
        # ~90 rounds in 10 s; while both slots wait out their crash-loop back-off
        # (up to restart_delay_max) there is nothing to kill, so fewer land.
        assert kills >= 30, kills
        assert len(load.failures) <= kills * threads, (len(load.failures), kills)


def listening_sockets(port):
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def test_reload_switches_balance_mode_both_ways_under_load(tmp_path):
    # shared -> reuseport -> shared on the same address: the kernel refuses a plain and a
    # SO_REUSEPORT socket on one port, so the master must hand its socket over, not rebind;
    # and cpu (reuseport steered by CPU) to and from both.
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "shared-1", balance="shared")
    with running(conf, tmp_path / "log", port) as proc:
        with Load(port) as load:
            steps = (("reuseport", 2), ("cpu", 2), ("shared", 1), ("cpu", 2), ("reuseport", 2))
            for i, (mode, sockets) in enumerate(steps, 2):
                write_conf(conf, port, f"{mode}-{i}", balance=mode)
                proc.send_signal(signal.SIGHUP)
                wait_until(lambda: get(port).body == f"{mode}-{i}".encode(), 5.0,
                           what=f"generation {i} ({mode}) to answer")
                wait_until(lambda: listening_sockets(port) == sockets, 5.0,
                           what=f"{sockets} listening socket(s) in {mode} mode")
            time.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        assert load.ok > 100
    text = (tmp_path / "log").read_text()
    assert "reload failed" not in text, text
    assert text.count("reload: ") >= 5, text


def slot_requests(conf):
    import json
    out = subprocess.run([str(BIN), "status", "--json", "-c", str(conf)], capture_output=True, text=True,
                         timeout=5).stdout
    per = {}
    for w in json.loads(out)["workers"]:
        if w["state"] == "ready":
            per[w["slot"]] = per.get(w["slot"], 0) + w["requests"]
    return per


def test_reuseport_scale_down_and_up_loses_no_connection(tmp_path):
    # Scaling down in reuseport mode closes the removed slots' sockets: the kernel must
    # stop sending them new connections first, or those queued on them are reset.
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "hello word", workers=3, balance="reuseport")
    with running(conf, tmp_path / "log", port):
        with Load(port, new_connection_each_time=True) as churn:
            time.sleep(0.5)
            for n in (1, 3, 2):
                r = subprocess.run([str(BIN), "ctl", "scale", str(n), "-c", str(conf)], capture_output=True,
                                   text=True, timeout=5)
                assert r.returncode == 0, r.stderr
                wait_until(lambda: len(slot_requests(conf)) == n, 5.0, what=f"{n} ready workers")
                wait_until(lambda: listening_sockets(port) == n, 5.0, what=f"{n} listening sockets")
                before = slot_requests(conf)
                time.sleep(0.6)
                after = slot_requests(conf)
                # Every remaining slot gets its share of the new connections.
                assert all(after[s] - before.get(s, 0) > 20 for s in after), (n, before, after)
        assert churn.failures == [], churn.failures[:5]
        assert churn.ok > 300
    assert "killed by signal" not in (tmp_path / "log").read_text()


def upgrade_and_quit_old(old_pid, pid_file, log_path, adopted_line):
    """USR2 to the master in pid_file, wait for the new one to adopt the sockets, QUIT the old one."""
    os.kill(old_pid, signal.SIGUSR2)
    wait_until(lambda: (master_pid_from(pid_file) or old_pid) != old_pid, 5, what="the new pid file")
    new_pid = master_pid_from(pid_file)
    wait_until(lambda: log_path.read_text().count(adopted_line) >= 1, 5, what=adopted_line)
    time.sleep(0.5)   # both masters serve side by side
    os.kill(old_pid, signal.SIGQUIT)
    wait_until(lambda: not alive(old_pid), 10, what="the old master to quit")
    return new_pid


def test_binary_upgrade_to_another_reuseport_worker_count_spreads_over_the_new_slots(tmp_path):
    # The old master scaled down (so the kernel steers over its first 2 sockets); the new
    # binary's config asks for 3, then a second upgrade for 1. Each new master must steer
    # new connections over exactly its own sockets: none left idle, none reset when the
    # old master's extra sockets close.
    port = free_port()
    conf = tmp_path / "s.toml"
    pid_file = tmp_path / "p.pid"
    log_path = tmp_path / "log"
    write_conf(conf, port, "hello word", workers=3, balance="reuseport")
    masters = []
    with open(log_path, "wb") as log:
        first = start(BIN, conf, log)
        masters.append(first.pid)
        try:
            wait_for_port(port, proc=first)
            with Load(port, new_connection_each_time=True) as churn:
                r = subprocess.run([str(BIN), "ctl", "scale", "2", "-c", str(conf)], capture_output=True,
                                   text=True, timeout=5)
                assert r.returncode == 0, r.stderr
                wait_until(lambda: len(slot_requests(conf)) == 2, 5.0, what="2 ready workers")
                # The removed slot's socket has left the group (its worker let go of it).
                wait_until(lambda: listening_sockets(port) == 2, 5.0, what="2 listening sockets")
                time.sleep(0.3)
                for workers, line in ((3, "adopted 2 listening socket(s)"), (1, "adopted 1 listening socket(s)")):
                    write_conf(conf, port, "hello word", workers=workers, balance="reuseport")
                    masters.append(upgrade_and_quit_old(masters[-1], pid_file, log_path, line))
                    wait_until(lambda: listening_sockets(port) == workers, 5.0,
                               what=f"{workers} listening socket(s)")
                    wait_until(lambda: len(slot_requests(conf)) == workers, 5.0, what=f"{workers} ready workers")
                    before = slot_requests(conf)
                    time.sleep(0.6)
                    after = slot_requests(conf)
                    assert all(after[s] - before.get(s, 0) > 20 for s in range(workers)), (workers, before, after)
            assert churn.failures == [], churn.failures[:5]
            assert churn.ok > 300
        finally:
            stop(first, *masters[1:])
            for pid in masters[1:]:
                wait_until(lambda: not alive(pid), 5, what=f"master {pid} to stop")
    text = log_path.read_text()
    assert "killed by signal" not in text, text
    assert "SO_ATTACH_REUSEPORT_CBPF" not in text, text


def listen_queue_of(port, pid):
    """Connections waiting in the accept queue (a listener's Recv-Q) of the listening
    socket that process pid holds on port."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    return next(int(line.split()[1]) for line in out.splitlines() if f"pid={pid}," in line)


def worker_pid(conf, slot):
    import json
    out = subprocess.run([str(BIN), "status", "--json", "-c", str(conf)], capture_output=True, text=True,
                         timeout=5).stdout
    return next(w["pid"] for w in json.loads(out)["workers"] if w["slot"] == slot and w["state"] == "ready")


def test_reuseport_scale_up_while_a_removed_slot_still_holds_its_socket(tmp_path):
    # Scale 3 -> 2 -> 3 while slot 2's old worker has not yet let go of its socket (it is
    # stopped, so it cannot): that socket is still in the kernel's group, ahead of the
    # new slot 2's. Steering by position over 3 sockets would queue new connections on
    # the old one, which nobody accepts and whose close resets them. They must go to
    # the sockets that stay until it is gone; then the new slot gets its share.
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "hello word", workers=3, balance="reuseport")
    log_path = tmp_path / "log"
    with running(conf, log_path, port) as proc:
        old = None
        try:
            wait_until(lambda: len(slot_requests(conf)) == 3, 5.0, what="3 ready workers")
            with Load(port, threads=2, new_connection_each_time=True) as churn:
                old = worker_pid(conf, 2)
                os.kill(old, signal.SIGSTOP)
                proc.send_signal(signal.SIGTTOU)
                wait_until(lambda: "scale: 3 -> 2 workers" in log_path.read_text(), 5.0, what="the scale-down")
                proc.send_signal(signal.SIGTTIN)
                wait_until(lambda: "new sockets get connections once" in log_path.read_text(), 5.0,
                           what="the master to hold the new socket back")
                wait_until(lambda: listening_sockets(port) == 4, 5.0, what="old and new slot 2 sockets")
                queued_before = listen_queue_of(port, old)   # what came before the scale-down
                # Connections that only complete the handshake: each sits in the accept
                # queue of the socket the kernel picked until a worker takes it.
                held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(60)]
                time.sleep(0.3)
                queued_after = listen_queue_of(port, old)
                os.kill(old, signal.SIGCONT)
                wait_until(lambda: "new connections now go to all 3" in log_path.read_text(), 5.0,
                           what="the re-steer once the old socket is gone")
                for c in held:
                    c.close()
                assert queued_after <= queued_before, (queued_before, queued_after)
                time.sleep(0.2)
                before = slot_requests(conf)
                time.sleep(0.5)
                after = slot_requests(conf)
                assert all(after[s] - before.get(s, 0) > 5 for s in range(3)), (before, after)
            assert churn.failures == [], churn.failures[:5]
        finally:
            if old:
                try:
                    os.kill(old, signal.SIGCONT)
                except ProcessLookupError:
                    pass
    assert "killed by signal" not in log_path.read_text()
