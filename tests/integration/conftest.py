"""Fixtures that start the real preforkd binary on a free port with a temp config."""
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

BIN = os.environ.get("PREFORKD_BIN", str(Path(__file__).resolve().parents[2] / "build" / "preforkd"))

DEFAULT_ROUTES = """
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {port}")


class Server:
    def __init__(self, tmp_path, workers=2, balance="shared", extra="", routes=DEFAULT_ROUTES):
        self.port = free_port()
        self.conf = tmp_path / "server.toml"
        self.conf.write_text(
            f'[server]\nlisten = "127.0.0.1:{self.port}"\nworkers = {workers}\n'
            f'balance = "{balance}"\n{extra}\n{routes}')
        self.log = tmp_path / "preforkd.log"
        self.workers = workers
        self.proc = None

    def start(self):
        self.log_file = open(self.log, "wb")
        self.proc = subprocess.Popen([BIN, "-c", str(self.conf)], stdout=self.log_file, stderr=subprocess.STDOUT)
        wait_for_port(self.port)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(**kw):
        s = Server(tmp_path, **kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def server(server_factory):
    return server_factory()
