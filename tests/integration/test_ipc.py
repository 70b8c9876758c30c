"""Messages between workers (issue 14, IPC), as Node's process.send / on('message'):
a module's send_message goes to the master, which relays it to every worker of the
current generation (or one slot); `preforkd ctl send [--slot N] TEXT` does the same.
Driven through examples/broadcast: POST /app/broadcast/ sends its body, every worker
stores it in on_message, GET answers what this worker holds (X-Worker-Slot says which
worker answered, X-Messages how many messages it has had).

Real processes, sockets and signals; balance = "reuseport" spreads fresh connections
over the workers, so every worker is reached by a bounded number of them."""
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import BIN, Client, get, request, wait_until
from helpers import cli, kill_slot_and_wait_respawn, supervised

MODULE = Path(BIN).resolve().parent / "examples" / "broadcast" / "libbroadcast.so"
MAX_MESSAGE = 64 * 1024
WORKERS = 3

ROUTES = f"""
[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"

[[route]]
prefix = "/app/broadcast/"
module = "{MODULE}"

[[route]]
prefix = "/app/second/"
module = "{MODULE}"
"""


@pytest.fixture
def bc(server_factory, ctl_dir):
    assert MODULE.exists(), f"{MODULE} is not built (examples/broadcast, meson)"
    return supervised(server_factory, ctl_dir, workers=WORKERS, balance="reuseport", routes=ROUTES)


def view(port, path="/app/broadcast/"):
    """(slot, value, messages) of the worker a fresh connection lands on."""
    r = get(port, path)
    assert r.status == 200, r
    return int(r.header("X-Worker-Slot")), r.body, int(r.header("X-Messages"))


def views(port, slots=range(WORKERS), path="/app/broadcast/", rounds=300):
    """{slot: (value, messages)} over fresh connections, once every slot in `slots` answered."""
    seen = {}
    for _ in range(rounds):
        slot, value, n = view(port, path)
        seen[slot] = (value, n)
        if set(slots) <= seen.keys():
            return seen
    pytest.fail(f"{rounds} connections reached only slots {sorted(seen)}")


def all_hold(port, value, slots=range(WORKERS), path="/app/broadcast/", timeout=5.0):
    """Waits until every worker of `slots` holds `value`; returns the last views."""
    deadline = time.monotonic() + timeout
    while True:
        last = views(port, slots, path)
        if all(v == value for v, _ in last.values()):
            return last
        if time.monotonic() >= deadline:
            pytest.fail(f"not every worker holds {value[:40]!r} after {timeout} s: "
                        f"{ {s: (v[:40], n) for s, (v, n) in last.items()} }")
        time.sleep(0.02)


def post(c, body, query=""):
    c.send(request("POST", "/app/broadcast/" + query,
                   headers={"Host": "x", "Content-Length": str(len(body))}, body=body))
    return c.read_response()


def ctl_send(s, *args):
    return cli("ctl", "send", *args, "-c", s.conf)


def test_a_post_on_one_worker_is_seen_by_every_worker(bc):
    with Client(bc.port) as c:
        r = post(c, b"first value")
        assert (r.status, r.body) == (202, b"sent\n")
    seen = all_hold(bc.port, b"first value")
    assert all(n == 1 for _, n in seen.values()), seen
    # Again, from whichever worker the next connection reaches: the newer value everywhere,
    # each worker having had exactly the two messages (the sender included).
    with Client(bc.port) as c:
        assert post(c, b"second value").status == 202
    seen = all_hold(bc.port, b"second value")
    assert all(n == 2 for _, n in seen.values()), seen
    # Every module route of a worker gets every message.
    all_hold(bc.port, b"second value", path="/app/second/")


def test_a_post_to_one_slot_reaches_only_that_worker(bc):
    with Client(bc.port) as c:
        assert post(c, b"for slot 2", "?slot=2").status == 202
    wait_until(lambda: views(bc.port)[2][0] == b"for slot 2", 5.0, interval=0.02, what="slot 2 holding it")
    # Channels are first in, first out: once a broadcast sent after it has reached
    # everyone, a worker that had the first message too would count two.
    r = ctl_send(bc, "after")
    assert r.returncode == 0 and r.stdout == f"sent to {WORKERS} workers\n", r
    seen = all_hold(bc.port, b"after")
    assert {s: n for s, (_, n) in seen.items()} == {0: 1, 1: 1, 2: 2}


def test_ctl_send_to_every_worker_and_to_one_slot(bc):
    r = ctl_send(bc, "  hello,  all ")
    assert (r.returncode, r.stdout) == (0, f"sent to {WORKERS} workers\n"), r
    all_hold(bc.port, b"  hello,  all ")
    r = ctl_send(bc, "--slot", "1", "just one")
    assert (r.returncode, r.stdout) == (0, "sent to 1 worker\n"), r
    wait_until(lambda: views(bc.port)[1][0] == b"just one", 5.0, interval=0.02, what="slot 1 holding it")
    seen = views(bc.port)
    assert seen[0][0] == seen[2][0] == b"  hello,  all ", seen
    # No such slot: refused, and nobody gets it.
    r = ctl_send(bc, "--slot", "9", "nobody")
    assert r.returncode == 1 and "no worker serves slot 9" in r.stdout, r
    for bad in (["--slot", "-1", "x"], ["--slot", "one", "x"], []):
        r = ctl_send(bc, *bad)
        assert r.returncode != 0 and "ctl send" in r.stderr, (bad, r)
    r = ctl_send(bc, "two\nlines")
    assert r.returncode != 0 and "one line" in r.stderr, r
    assert views(bc.port)[0][1] == 1


def test_messages_are_bounded_in_size(bc):
    largest = bytes([ord("a") + i % 26 for i in range(MAX_MESSAGE)])
    with Client(bc.port) as c:
        r = post(c, largest)
        assert r.status == 202, r
        all_hold(bc.port, largest)
        # One byte more: PFD_E2BIG for the module (413 from the example), sent to nobody.
        r = post(c, largest + b"!")
        assert (r.status, r.body) == (413, b"message too large\n"), r
        # An empty message is a message (not the end of the channel).
        r = post(c, b"")
        assert r.status == 202, r
    seen = all_hold(bc.port, b"")
    assert all(n == 2 for _, n in seen.values()), seen
    # The command line: the same bound, the whole message through the control socket.
    text = "x" * MAX_MESSAGE
    r = ctl_send(bc, text)
    assert (r.returncode, r.stdout) == (0, f"sent to {WORKERS} workers\n"), r.stdout[:200]
    all_hold(bc.port, text.encode())
    r = ctl_send(bc, text + "x")
    assert r.returncode != 0 and "too large" in r.stderr, r.stderr[:200]
    # Past the CLI (a raw client of the control socket): the master refuses it too.
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as u:
        u.settimeout(5)
        u.connect(str(bc.ctl))
        u.sendall(b"send -1 " + b"y" * (MAX_MESSAGE + 1) + b"\n")
        reply = b""
        while chunk := u.recv(4096):
            reply += chunk
    assert reply.startswith(b"error: message too large"), reply[:200]
    assert all(n == 3 for _, n in views(bc.port).values())


def test_a_worker_that_does_not_read_never_blocks_the_master(bc):
    """A stopped worker's channel fills: the master drops what does not fit (counted,
    logged) and goes on relaying to the others at once; the worker, once it runs again,
    gets messages again."""
    stopped = bc.worker_slots()[1]
    payload = "m" * 60_000
    sends = 20
    os.kill(stopped, signal.SIGSTOP)
    try:
        replies = []
        for i in range(sends):
            t0 = time.monotonic()
            r = ctl_send(bc, f"{i:02d}" + payload)
            replies.append((time.monotonic() - t0, r.returncode, r.stdout))
        assert all(rc == 0 for _, rc, _ in replies), replies
        assert max(t for t, _, _ in replies) < 1.0, replies
        dropped = [out for _, _, out in replies if "1 dropped (channel full)" in out]
        assert dropped, [out for _, _, out in replies]
        # The two that read had every message.
        assert all(out.startswith(f"sent to {WORKERS - 1} workers; 1 dropped") or
                   out == f"sent to {WORKERS} workers\n" for _, _, out in replies), replies
    finally:
        os.kill(stopped, signal.SIGCONT)
    wait_until(lambda: "dropped: its channel is full" in bc.log_text(), 2.0, what="the drop logged")
    # It reads again: the next message reaches it too; it missed only what was dropped.
    assert ctl_send(bc, "again").stdout == f"sent to {WORKERS} workers\n"
    seen = all_hold(bc.port, b"again")
    assert seen[0][1] == seen[2][1] == sends + 1, seen
    assert seen[1][1] == sends + 1 - len(dropped), seen


def test_send_message_never_blocks_the_module(bc):
    """The master does not read (stopped): a module's sends fill its channel and then
    answer PFD_EFULL at once (503 from the example) instead of waiting."""
    payload = b"p" * 60_000
    with Client(bc.port, timeout=2.0) as c:
        os.kill(bc.pid, signal.SIGSTOP)
        try:
            statuses = []
            for _ in range(40):
                t0 = time.monotonic()
                r = post(c, payload)
                statuses.append((r.status, round(time.monotonic() - t0, 3)))
                if r.status == 503:
                    break
            assert statuses[-1][0] == 503 and r.body == b"message channel full\n", statuses
            assert statuses[0][0] == 202 and all(s == 202 for s, _ in statuses[:-1]), statuses
            assert max(t for _, t in statuses) < 1.0, statuses
        finally:
            os.kill(bc.pid, signal.SIGCONT)
        # Once the master reads again, so does the channel. The relay of the burst may
        # still fill a slow worker's channel, where the master drops (and logs) what does
        # not fit rather than wait: a message sent once that is over reaches every worker.
        wait_until(lambda: post(c, b"unblocked").status == 202, 5.0, interval=0.05, what="a send accepted again")

        def sent_and_held_everywhere():
            return post(c, b"unblocked").status == 202 and all(
                v == b"unblocked" for v, _ in views(bc.port).values())

        wait_until(sent_and_held_everywhere, 10.0, interval=0.1, what="every worker holding b'unblocked'")


def test_respawned_workers_get_a_fresh_channel(bc):
    def master_fds():
        return len(os.listdir(f"/proc/{bc.pid}/fd"))

    # The master holds a descriptor for a moment now and then (a control client of an
    # earlier test not yet closed, a /proc file being sampled): its count at rest is the
    # least seen over a while.
    fds_before = min(master_fds() for _ in range(20) if time.sleep(0.01) is None)
    for slot in (0, 2, 0):
        kill_slot_and_wait_respawn(bc, slot)
    wait_until(lambda: master_fds() <= fds_before, 3.0,
               what=f"the master back at {fds_before} descriptors (no channel of a dead worker kept)")
    r = ctl_send(bc, "after respawns")
    assert r.stdout == f"sent to {WORKERS} workers\n", r
    all_hold(bc.port, b"after respawns")
    # A respawned worker sends, too: find a connection to slot 0 and post from it.
    for _ in range(300):
        with Client(bc.port) as c:
            c.send(request(path="/app/broadcast/", headers={"Host": "x"}))
            if c.read_response().header("X-Worker-Slot") != "0":
                continue
            assert post(c, b"from the new slot 0").status == 202
            break
    else:
        pytest.fail("no connection reached slot 0")
    all_hold(bc.port, b"from the new slot 0")


def test_messages_go_to_the_generation_a_reload_starts(bc):
    old = set(bc.worker_slots().values())
    assert ctl_send(bc, "generation 1").returncode == 0
    all_hold(bc.port, b"generation 1")
    bc.signal(signal.SIGHUP)
    wait_until(lambda: not set(bc.worker_pids()) & old and len(bc.worker_slots()) == WORKERS, 10.0,
               what="the old generation gone, the new one named")
    # The new workers start empty (a module's state is per process), and receive.
    assert all(n == 0 for _, n in views(bc.port).values())
    r = ctl_send(bc, "generation 2")
    assert r.stdout == f"sent to {WORKERS} workers\n", r
    all_hold(bc.port, b"generation 2")
    with Client(bc.port) as c:
        assert post(c, b"posted in generation 2").status == 202
    all_hold(bc.port, b"posted in generation 2")
