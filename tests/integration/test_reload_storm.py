"""A storm of reloads under load: 200 HUPs 10 ms apart collapse into a few generations,
superseded ones are stopped, the scoreboard never fills, and a configuration changed
after the storm takes effect at once. No request fails throughout.

Real processes, signals and sockets on 127.0.0.1; load bounded in time; only processes
this file started are signalled, by pid.
"""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from conftest import WORKER_TITLE, BIN, Client, ConnectionClosed, alive, children, cmdline, free_port, request, \
    wait_for_port, wait_until, worker_crashes
from helpers import get_body

WRK = shutil.which("wrk")


def write_conf(path, port, body, workers=2):
    path.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\nworkers = {workers}\nbalance = "shared"\n'
        f'pid_file = "{path.parent}/p.pid"\ncontrol_socket = "{path.parent}/c.sock"\n'
        f'[[route]]\npath = "/"\nbody = "{body}"\n')


class PythonLoad:
    """Keep-alive GET / from threads, bounded in time; any exception or non-200 fails."""

    def __init__(self, port, seconds, threads=8):
        self.port = port
        self.deadline = time.monotonic() + seconds
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self):
        c = None
        while time.monotonic() < self.deadline:
            try:
                if c is None:
                    c = Client(self.port, timeout=5)
                c.send(request())
                r = c.read_response()
                with self.lock:
                    if r.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"status {r.status}")
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, ConnectionClosed, AssertionError) as e:
                with self.lock:
                    self.failures.append(repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def finish(self):
        for t in self.threads:
            t.join(30)
        assert not any(t.is_alive() for t in self.threads), "a load thread did not finish"
        return self.ok, self.failures


class WrkLoad:
    def __init__(self, port, seconds):
        self.proc = subprocess.Popen([WRK, "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     stdin=subprocess.DEVNULL)

    def finish(self):
        out, _ = self.proc.communicate(timeout=60)
        m = re.search(r"^\s*(\d+) requests in", out, re.M)
        assert m, out
        failures = [l.strip() for l in out.splitlines() if "Socket errors" in l or "Non-2xx" in l]
        return int(m.group(1)), failures + ([] if self.proc.returncode == 0 else [f"wrk exited {self.proc.returncode}"])


def worker_count(master):
    return len([p for p in children(master) if alive(p) and WORKER_TITLE.match(cmdline(p) or "")])


def test_reload_storm_under_load_then_a_changed_config_takes_effect(tmp_path):
    port = free_port()
    conf = tmp_path / "s.toml"
    write_conf(conf, port, "before")
    log_path = tmp_path / "log"
    with open(log_path, "wb") as log:
        master = subprocess.Popen([BIN, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=master)
        wait_until(lambda: worker_count(master.pid) == 2, 5.0, what="two workers")
        load = WrkLoad(port, 9) if WRK else PythonLoad(port, 9)
        time.sleep(0.3)
        peak = 0
        for i in range(200):
            os.kill(master.pid, signal.SIGHUP)
            time.sleep(0.01)
            peak = max(peak, worker_count(master.pid))
        write_conf(conf, port, "after")
        os.kill(master.pid, signal.SIGHUP)
        t0 = time.monotonic()
        def new_body_served():
            nonlocal peak
            peak = max(peak, worker_count(master.pid))
            return get_body(port, timeout=2.0) == b"after"
        wait_until(new_body_served, 5.0, interval=0.05, what="the changed configuration to serve")
        took = time.monotonic() - t0
        wait_until(lambda: worker_count(master.pid) == 2, 10.0, interval=0.05, what="two workers again")
        ok, failures = load.finish()
        assert master.poll() is None
        text = log_path.read_text()
        assert failures == [], failures[:5]
        assert ok > 1000, ok
        assert "no free scoreboard entry" not in text
        assert worker_crashes(text) == [], worker_crashes(text)
        # HUPs that come while a generation is starting wait for it (how many share one
        # window depends on how fast a generation gets ready, so only that some did is
        # checked); at any moment there is the serving generation, at most one starting,
        # and what still drains: measured 6-7 workers at the peak on the release build,
        # 9-12 on the sanitizer build (its workers start and drain slower), sampled after
        # every HUP; a fork storm would be hundreds.
        generations = len(re.findall(r"starting generation \d+", text))
        collapsed = text.count("is still starting;")
        assert collapsed >= 10, (generations, collapsed)
        assert peak <= 14, peak
        print(f"storm: {ok} requests, 0 failed; {generations} generations for 201 HUPs ({collapsed} collapsed); "
              f"peak {peak} workers; "
              f"changed body served {took:.2f} s after its HUP")
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
