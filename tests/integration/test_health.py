"""/readyz and /livez across a graceful stop and a drain (the kube-apiserver model): not
ready as soon as a graceful stop (QUIT) or `preforkd -s drain` begins, while the server
keeps serving, with Connection: close, for [server] shutdown_delay; only then does it stop
accepting. Real binary, real signals, 127.0.0.1 only, every wait bounded."""
import signal
import socket
import time

from conftest import Client, ConnectionClosed, request, wait_until
from helpers import cli, slow_init_module

HEALTH_ROUTES = """
[[route]]
path = "/"
body = "BODY"
content_type = "text/plain"

[[route]]
path = "/readyz"
builtin = "readyz"

[[route]]
path = "/livez"
builtin = "livez"
"""


def health_server(server_factory, ctl_dir, shutdown_delay, body="hello word", workers=2, start=True):
    extra = (f'shutdown_delay = "{shutdown_delay}"\n'
             f'pid_file = "{ctl_dir}/h.pid"\ncontrol_socket = "{ctl_dir}/h.sock"\n')
    return server_factory(start=start, workers=workers, extra=extra, routes=HEALTH_ROUTES.replace("BODY", body))


def fetch(port, path="/", keep_alive=False, timeout=2.0):
    """(status, body, Connection header) of one request on a fresh connection; None if
    the connection is refused or cut."""
    try:
        with Client(port, timeout=timeout) as c:
            headers = {"Host": "x"} if keep_alive else {"Host": "x", "Connection": "close"}
            c.send(request(path=path, headers=headers))
            r = c.read_response()
            return r.status, r.body, r.header("Connection")
    except (OSError, ConnectionClosed):
        return None


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def test_readyz_turns_503_at_a_graceful_stop_while_serving_goes_on_for_shutdown_delay(server_factory, ctl_dir):
    delay = 1.5
    s = health_server(server_factory, ctl_dir, f"{int(delay * 1000)}ms")
    wait_until(lambda: fetch(s.port, "/readyz") == (200, b"ready\n", "close"), 5, what="/readyz 200")
    assert fetch(s.port, "/livez")[0] == 200
    # A keep-alive client that was there before the stop: its next answer closes it.
    early = Client(s.port)
    early.send(request(headers={"Host": "x"}))
    assert early.read_response().header("Connection") is None
    s.signal(signal.SIGQUIT)
    t0 = time.monotonic()
    wait_until(lambda: fetch(s.port, "/readyz") == (503, b"not ready: draining\n", "close"), 1.0,
               what="/readyz 503 right after QUIT")
    # Serving goes on for the whole delay, every answer ending its connection.
    served = 0
    while time.monotonic() - t0 < delay - 0.4:
        r = fetch(s.port, keep_alive=True)
        assert r == (200, b"hello word", "close"), (time.monotonic() - t0, r)
        assert fetch(s.port, "/livez")[0] == 200
        assert fetch(s.port, "/readyz")[0] == 503
        served += 1
        time.sleep(0.05)
    assert served >= 5
    early.send(request(headers={"Host": "x"}))
    r = early.read_response()
    assert (r.status, r.header("Connection")) == (200, "close")
    assert early.closed_by_peer()
    early.close()
    # Then the graceful stop: nothing listens any more, and the master exits.
    wait_until(lambda: refused(s.port), delay + 3, interval=0.02, what="connections refused after the delay")
    refused_after = time.monotonic() - t0
    assert refused_after >= delay - 0.1, refused_after
    s.proc.wait(5)
    assert s.proc.returncode == 0
    log = s.log_text()
    assert "still serving for 1.500 s (shutdown_delay)" in log, log
    assert "shutdown_delay is over: stopping gracefully" in log, log


def test_drain_keeps_serving_not_ready_until_quit_which_waits_only_what_remains(server_factory, ctl_dir):
    delay = 3.0
    s = health_server(server_factory, ctl_dir, "3s", body="v1")
    wait_until(lambda: fetch(s.port, "/readyz") == (200, b"ready\n", "close"), 5, what="/readyz 200")
    r = cli("-s", "drain", "-c", s.conf)
    assert r.returncode == 0, r.stderr
    t_drain = time.monotonic()
    wait_until(lambda: fetch(s.port, "/readyz") == (503, b"not ready: draining\n", "close"), 1.0,
               what="/readyz 503 after -s drain")
    # A reload during the drain: the new generation serves, and it stays not ready.
    s.conf.write_text(s.conf.read_text().replace('body = "v1"', 'body = "v2"'))
    s.signal(signal.SIGHUP)
    # (Until the new generation is ready the old one serves too.)
    wait_until(lambda: s.log_text().count("exited with code 0") >= 2, 5, what="the old generation gone")
    for _ in range(5):
        assert fetch(s.port, keep_alive=True) == (200, b"v2", "close")
        assert fetch(s.port, "/readyz")[0] == 503
        assert fetch(s.port, "/livez")[0] == 200
        time.sleep(0.05)
    # Draining is no stop: still serving well past anything a stop would wait.
    while time.monotonic() - t_drain < 2.0:
        time.sleep(0.05)
    assert fetch(s.port, keep_alive=True) == (200, b"v2", "close")
    assert s.proc.poll() is None
    # QUIT 2 s into the drain: the stop waits out the 1 s left of the 3 s delay.
    s.signal(signal.SIGQUIT)
    t_quit = time.monotonic()
    assert fetch(s.port) == (200, b"v2", "close")
    wait_until(lambda: refused(s.port), 5, interval=0.02, what="connections refused")
    waited = time.monotonic() - t_quit
    assert delay - 2.0 - 0.5 <= waited <= delay - 2.0 + 1.2, waited
    s.proc.wait(5)
    assert "received SIGWINCH: draining" in s.log_text()


def test_term_during_shutdown_delay_stops_at_once(server_factory, ctl_dir):
    s = health_server(server_factory, ctl_dir, "10s")
    wait_until(lambda: fetch(s.port, "/readyz") == (200, b"ready\n", "close"), 5, what="/readyz 200")
    s.signal(signal.SIGQUIT)
    wait_until(lambda: fetch(s.port, "/readyz") == (503, b"not ready: draining\n", "close"), 1.0,
               what="/readyz 503")
    t0 = time.monotonic()
    s.signal(signal.SIGTERM)
    s.proc.wait(3)
    assert time.monotonic() - t0 < 2.0
    assert refused(s.port)


def test_readyz_is_503_until_every_worker_of_the_first_generation_is_up(server_factory, ctl_dir, tmp_path):
    # Slot 1's worker takes 1.5 s in a module's init; slot 0 answers meanwhile: not ready yet.
    so = slow_init_module(tmp_path, 1500)
    extra = (f'pid_file = "{ctl_dir}/h.pid"\ncontrol_socket = "{ctl_dir}/h.sock"\n')
    routes = HEALTH_ROUTES.replace("BODY", "x") + f'\n[[route]]\npath = "/m"\nmodule = "{so}"\n'
    s = server_factory(start=False, workers=2, extra=extra, routes=routes)
    s.start(wait_workers=False)
    t0 = time.monotonic()
    first = wait_until(lambda: fetch(s.port, "/readyz"), 2, what="an answer from slot 0")
    assert first == (503, b"not ready: starting\n", "close"), first
    assert time.monotonic() - t0 < 1.3
    wait_until(lambda: fetch(s.port, "/readyz") == (200, b"ready\n", "close"), 5, what="/readyz 200")
    assert time.monotonic() - t0 >= 1.0
    assert fetch(s.port, "/livez")[0] == 200
