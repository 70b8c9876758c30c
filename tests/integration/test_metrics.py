"""Metrics in Prometheus' text format (issue 15): the master's [metrics] listener, the
`builtin = "metrics"` route on the main port and `preforkd status --prometheus`, all from
the one renderer over the scoreboard. They parse with python3-prometheus-client, their
request counters add up exactly to the requests sent across all workers, they never go
back across a kill -9, a recycle, a reload or a scale-down, and restarts count each reason.

Real processes, signals and sockets on 127.0.0.1; every loop is bounded in count and time.
"""
import os
import signal
import socket
import time

import pytest

from conftest import Client, DEFAULT_ROUTES, absent, alive, free_port, request, wait_until
from helpers import cli, supervised

prometheus_parser = pytest.importorskip("prometheus_client.parser")

CODE_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"]
REASONS = ["crash", "hang", "recycle", "reload", "scale"]


def metrics_routes(metrics_port):
    return DEFAULT_ROUTES + f"""
[[route]]
path = "/metrics"
builtin = "metrics"

[metrics]
listen = "127.0.0.1:{metrics_port}"
"""


def server_with_metrics(server_factory, ctl_dir, workers=3, balance="reuseport", **supervisor):
    mport = free_port()
    s = supervised(server_factory, ctl_dir, workers=workers, balance=balance, routes=metrics_routes(mport),
                   **supervisor)
    s.metrics_port = mport
    return s


def http_get(port, path="/metrics", method="GET"):
    with Client(port) as c:
        c.send(request(method=method, path=path, headers={"Host": "127.0.0.1", "Connection": "close"}))
        return c.read_response()


def parse(text):
    """{(name, frozenset(labels)): value} of every sample; families by name."""
    samples = {}
    families = {}
    for fam in prometheus_parser.text_string_to_metric_families(text):
        families[fam.name] = fam
        for smp in fam.samples:
            key = (smp.name, frozenset(smp.labels.items()))
            assert key not in samples, f"sample {key} twice"
            samples[key] = smp.value
    return samples, families


def scrape_listener(s):
    r = http_get(s.metrics_port)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    return parse(r.body.decode())[0]


def scrape_route(s):
    r = http_get(s.port)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    return parse(r.body.decode())[0]


def scrape_status(s):
    r = cli("status", "-c", s.conf, "--prometheus")
    assert r.returncode == 0, r.stderr
    return parse(r.stdout)[0]


def by_class(samples):
    out = {c: 0 for c in CODE_CLASSES}
    for (name, labels), v in samples.items():
        if name == "preforkd_requests_total":
            out[dict(labels)["code_class"]] += v
    return out


def series(samples, name):
    """{worker slot: value} of a per-worker sample."""
    return {int(dict(labels)["worker"]): v for (n, labels), v in samples.items()
            if n == name and set(dict(labels)) == {"worker"}}


def restarts(samples):
    return {dict(labels)["reason"]: v for (n, labels), v in samples.items() if n == "preforkd_worker_restarts_total"}


def send_requests(port, ok=0, not_found=0, bad=0):
    """Each on its own connection (so reuseport spreads them over the workers), each answered."""
    for _ in range(ok):
        assert http_get(port, "/").status == 200
    for _ in range(not_found):
        assert http_get(port, "/no-such-page").status == 404
    for _ in range(bad):
        with Client(port) as c:
            c.send(b"NOT A REQUEST\r\n\r\n")
            assert c.read_response().status == 400


def wait_counts(s, expected, what):
    """The listener's counts by class reach `expected` (a worker counts an answer once it is in
    the output: the client may see it a moment before): returns the samples."""
    return wait_until(lambda: (smp := scrape_listener(s)) and by_class(smp) == expected and smp, 3.0,
                      interval=0.05, what=f"{what}: requests_total by class == {expected}")


class Monotonic:
    """Every counter series of every scrape: never below what an earlier scrape showed."""

    def __init__(self):
        self.last = {}

    def check(self, samples, families_counters=("preforkd_requests_total", "preforkd_accepted_connections_total",
                                                 "preforkd_bytes_in_total", "preforkd_bytes_out_total",
                                                 "preforkd_request_duration_seconds_count",
                                                 "preforkd_request_duration_seconds_sum",
                                                 "preforkd_request_duration_seconds_bucket",
                                                 "preforkd_worker_cpu_seconds_total",
                                                 "preforkd_worker_restarts_total")):
        for key, v in samples.items():
            if key[0] in families_counters:
                before = self.last.get(key)
                assert before is None or v >= before, f"{key} went back from {before} to {v}"
                self.last[key] = v
        for key in self.last:
            assert key in samples, f"series {key} vanished"


def check_histograms(samples, expected_total):
    total = 0
    for slot, count in series(samples, "preforkd_request_duration_seconds_count").items():
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in samples.items()
                          if n == "preforkd_request_duration_seconds_bucket" and dict(l)["worker"] == str(slot)))
        assert len(buckets) == 15 and buckets[-1][0] == float("inf")
        values = [v for _, v in buckets]
        assert values == sorted(values), f"worker {slot}: buckets not cumulative: {buckets}"
        assert values[-1] == count, f"worker {slot}: +Inf bucket {values[-1]} != _count {count}"
        requests = sum(v for (n, l), v in samples.items()
                       if n == "preforkd_requests_total" and dict(l)["worker"] == str(slot))
        assert count == requests, f"worker {slot}: _count {count} != its requests {requests}"
        total += count
    assert total == expected_total


# --------------------------------------------------------------------------- tests

def test_three_endpoints_parse_and_count_every_request_once_across_workers(server_factory, ctl_dir):
    s = server_with_metrics(server_factory, ctl_dir, workers=3)
    send_requests(s.port, ok=60, not_found=12, bad=5)
    expected = {"1xx": 0, "2xx": 60, "3xx": 0, "4xx": 17, "5xx": 0}
    samples = wait_counts(s, expected, "after the first requests")
    busy = [slot for slot, v in series(samples, "preforkd_request_duration_seconds_count").items() if v > 0]
    assert len(busy) >= 2, f"the requests should spread over several workers: {busy}"
    assert set(series(samples, "preforkd_accepted_connections_total")) == {0, 1, 2}
    # One per request, and the start's probe of the port (a connection without a request).
    assert 77 <= sum(series(samples, "preforkd_accepted_connections_total").values()) <= 78
    check_histograms(samples, 77)
    assert samples[("preforkd_workers_up", frozenset())] == 3
    assert samples[("preforkd_config_generation", frozenset())] == 1
    # The master publishes readiness in its loop: at the latest on the round after this scrape.
    wait_until(lambda: scrape_listener(s)[("preforkd_readiness", frozenset({("state", "ready")}))] == 1, 3.0,
               interval=0.05, what="readiness ready")
    start = samples[("preforkd_master_start_time_seconds", frozenset())]
    assert time.time() - 60 < start <= time.time()
    assert restarts(samples) == {r: 0 for r in REASONS}
    # The master samples memory once a second.
    wait_until(lambda: all(v > 0 for v in series(scrape_listener(s), "preforkd_worker_resident_memory_bytes").values()),
               3.0, interval=0.1, what="every worker's RSS")

    # status --prometheus: the same counts (the master renders it too).
    assert by_class(scrape_status(s)) == expected
    # The route, in a worker: the same counts (its own request is counted once answered)...
    route = scrape_route(s)
    assert by_class(route) == expected
    check_histograms(route, 77)
    # ...and then it is one more 2xx.
    wait_counts(s, dict(expected, **{"2xx": 61}), "after a scrape of the route")
    # HEAD of the route: no body, counted as a 2xx.
    with Client(s.port) as c:
        c.send(request(method="HEAD", path="/metrics", headers={"Host": "x", "Connection": "close"}))
        r = c.read_response(head_only=True)
        assert r.status == 200 and int(r.header("Content-Length")) > 1000
        assert c.closed_by_peer()
    wait_counts(s, dict(expected, **{"2xx": 62}), "after a HEAD of the route")


def test_listener_speaks_http(server_factory, ctl_dir):
    s = server_with_metrics(server_factory, ctl_dir, workers=2)
    assert http_get(s.metrics_port, "/other").status == 404
    assert http_get(s.metrics_port, "/metrics?x=1").status == 200
    r = http_get(s.metrics_port, "/metrics", method="POST")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD"
    # Keep-alive and pipelining: three answers in order on one connection.
    with Client(s.metrics_port) as c:
        one = request(path="/metrics", headers={"Host": "x"})
        c.send(one + request(path="/nope", headers={"Host": "x"}) + one)
        a, b, d = c.read_response(), c.read_response(), c.read_response()
        assert (a.status, b.status, d.status) == (200, 404, 200)
        assert a.header("Connection") is None and parse(a.body.decode())[0]
        c.send(request(method="HEAD", path="/metrics", headers={"Host": "x", "Connection": "close"}))
        sock = c.sock
        sock.settimeout(3)
        head = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head[-200:]
        assert b"Content-Length: " in head and b"Connection: close" in head
    # A client that sends nothing holds only its own place: others are answered meanwhile,
    # and so is a client that trickles its request.
    idle = [socket.create_connection(("127.0.0.1", s.metrics_port)) for _ in range(10)]
    try:
        t0 = time.monotonic()
        assert http_get(s.metrics_port).status == 200
        with Client(s.metrics_port) as c:
            for piece in (b"GET /met", b"rics HTTP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
                c.send(piece)
                time.sleep(0.05)
            assert c.read_response().status == 200
        assert time.monotonic() - t0 < 1.0
        # Those that sent nothing are let go once their time to send a request is out.
        idle[0].settimeout(4)
        assert idle[0].recv(1) == b""
        assert time.monotonic() - t0 >= 1.5
    finally:
        for i in idle:
            i.close()
    # The main port serves all along: the master's loop never waited on a metrics client.
    assert http_get(s.port, "/").status == 200


@pytest.mark.kills_workers
def test_counters_never_go_back_and_restarts_count_each_reason(server_factory, ctl_dir):
    s = server_with_metrics(server_factory, ctl_dir, workers=3, max_requests=15, worker_timeout="1s",
                            graceful_timeout="2s", min_uptime="100ms")
    mono = Monotonic()
    sent = {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}

    def traffic(ok, not_found=0, bad=0):
        send_requests(s.port, ok=ok, not_found=not_found, bad=bad)
        sent["2xx"] += ok
        sent["4xx"] += not_found + bad

    def settle(what, **want_restarts):
        def ok():
            smp = scrape_listener(s)
            mono.check(smp)
            r = restarts(smp)
            return by_class(smp) == sent and all(r[k] >= v for k, v in want_restarts.items()) and smp
        smp = wait_until(ok, 5.0, interval=0.05, what=what)
        assert by_class(smp) == sent
        check_histograms(smp, sum(sent.values()))
        return smp

    traffic(ok=10, not_found=3, bad=1)   # 14 requests: below every worker's max_requests
    settle("the first requests")

    # kill -9: the slot's counts stay (folded when the master reaps it); one crash.
    slots = s.worker_slots()
    victim = max(slots, key=lambda k: series(scrape_listener(s), "preforkd_request_duration_seconds_count").get(k, 0))
    os.kill(slots[victim], signal.SIGKILL)
    for _ in range(20):   # scrapes while it dies and is replaced
        mono.check(scrape_listener(s))
        time.sleep(0.01)
    smp = settle("after a kill -9", crash=1)
    assert restarts(smp)["crash"] == 1

    # max_requests: workers are recycled under traffic.
    for _ in range(6):
        traffic(ok=15)
        mono.check(scrape_listener(s))
    smp = settle("after recycles", recycle=1)
    assert restarts(smp)["crash"] == 1

    # A reload replaces every worker (once no recycle is under way: a worker still
    # waiting for its replacement would be retired by the reload too, a fourth).
    wait_until(lambda: len(s.worker_pids()) == 3, 5.0, what="the recycles over, 3 workers")
    time.sleep(0.3)
    wait_until(lambda: len(s.worker_pids()) == 3, 5.0, what="the recycles over, 3 workers")
    s.signal(signal.SIGHUP)
    wait_until(lambda: scrape_listener(s)[("preforkd_config_generation", frozenset())] == 2, 5.0,
               interval=0.05, what="generation 2")
    traffic(ok=5)
    smp = settle("after a reload", reload=3)
    assert restarts(smp)["reload"] == 3

    # Scale down by one: one worker retired for scale.
    r = cli("ctl", "scale", "2", "-c", s.conf)
    assert r.returncode == 0, r.stderr
    smp = settle("after a scale-down", scale=1)
    assert restarts(smp)["scale"] == 1
    wait_until(lambda: len(s.worker_slots()) == 2, 5.0, what="2 workers")

    # A stopped worker is killed for hanging (worker_timeout 1 s) and replaced.
    slots = s.worker_slots()
    stopped = slots[0]
    os.kill(stopped, signal.SIGSTOP)
    try:
        smp = settle("after a hang", hang=1)
        wait_until(lambda: absent(stopped), 3.0, what="the stopped worker gone")
    finally:
        if alive(stopped):
            os.kill(stopped, signal.SIGCONT)
    traffic(ok=4, not_found=1)
    smp = settle("at the end", hang=1)
    final = restarts(smp)
    assert final["crash"] == 1 and final["hang"] == 1 and final["reload"] == 3 and final["scale"] == 1, final
    assert final["recycle"] >= 1
    # The route and the status agree with the master's listener.
    assert by_class(scrape_status(s)) == sent
    assert by_class(scrape_route(s)) == sent


def test_the_listener_moves_to_the_new_master_of_a_binary_upgrade(server_factory, ctl_dir):
    # The old master holds the address until it is told to QUIT: the new one must not
    # fail its start on it (it did: EADDRINUSE, exit 1, so no upgrade could succeed with
    # [metrics] listen set), and takes it over once the old one has let go.
    s = server_with_metrics(server_factory, ctl_dir, workers=2, balance="shared")
    old = s.pid
    s.signal(signal.SIGUSR2)

    def new_master():
        try:
            pid = int(s.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if pid != old else None

    new = wait_until(new_master, 5, what="the new master's pid file")
    try:
        wait_until(lambda: "still the old master's" in s.log_text(), 5, what="the new master waiting for the address")
        assert alive(new)
        assert scrape_listener(s)   # the old master answers meanwhile
        os.kill(old, signal.SIGQUIT)
        s.proc.wait(15)
        wait_until(lambda: "metrics: listening on" in s.log_text(), 5, what="the new master listening")
        samples = scrape_listener(s)
        assert samples[("preforkd_workers_up", frozenset())] == 2, samples
    finally:
        if alive(new):
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: not alive(new), 10, what="the new master to stop")
