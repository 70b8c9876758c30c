"""conf/kubernetes/preforkd.yaml agrees with conf/server.toml, the configuration it mounts:
the probes ask routes that exist and answer what they should, the ports match, the
preStop hook drains for shutdown_delay, and the grace period covers shutdown_delay +
graceful_timeout. (No cluster here: the manifest is read, and the probes are sent to a
preforkd running that very configuration.)"""
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import BIN, free_port, get, wait_for_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "conf" / "kubernetes" / "preforkd.yaml"
SERVER_TOML = ROOT / "conf" / "server.toml"


def seconds(duration):
    """A preforkd duration ("2s", "500ms", "1m") in seconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert m, duration
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]]


@pytest.fixture(scope="module")
def manifest():
    docs = list(yaml.safe_load_all(MANIFEST.read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"Deployment", "Service"}, kinds.keys()
    return kinds


@pytest.fixture(scope="module")
def server_conf():
    return tomllib.loads(SERVER_TOML.read_text())


def container(manifest):
    pod = manifest["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return pod, c


def builtin_routes(conf):
    return {r["path"]: r["builtin"] for r in conf.get("route", []) if "builtin" in r}


def test_probes_ask_the_health_routes_of_the_configuration(manifest, server_conf):
    _, c = container(manifest)
    routes = builtin_routes(server_conf)
    assert routes.get(c["readinessProbe"]["httpGet"]["path"]) == "readyz", routes
    assert routes.get(c["livenessProbe"]["httpGet"]["path"]) == "livez", routes


def test_ports_match_the_listen_address(manifest, server_conf):
    _, c = container(manifest)
    listen_port = int(server_conf["server"]["listen"].rsplit(":", 1)[1])
    (port,) = c["ports"]
    assert port["containerPort"] == listen_port
    assert c["readinessProbe"]["httpGet"]["port"] in (port["name"], listen_port)
    assert c["livenessProbe"]["httpGet"]["port"] in (port["name"], listen_port)
    (svc_port,) = manifest["Service"]["spec"]["ports"]
    assert svc_port["targetPort"] in (port["name"], listen_port)
    assert manifest["Service"]["spec"]["selector"] == manifest["Deployment"]["spec"]["template"]["metadata"]["labels"]


def test_prestop_drains_for_shutdown_delay_and_the_grace_period_covers_the_stop(manifest, server_conf):
    pod, c = container(manifest)
    delay = seconds(server_conf["server"]["shutdown_delay"])
    graceful = seconds(server_conf.get("supervisor", {}).get("graceful_timeout", "30s"))
    command = " ".join(c["lifecycle"]["preStop"]["exec"]["command"])
    assert "-s drain" in command, command
    m = re.search(r"sleep (\d+(?:\.\d+)?)", command)
    assert m and float(m[1]) >= delay, (command, delay)
    # The kubelet's clock starts with preStop: the hook's wait, then the graceful stop.
    assert pod["terminationGracePeriodSeconds"] >= delay + graceful, (pod["terminationGracePeriodSeconds"], delay,
                                                                     graceful)
    # A readiness probe that fails within the drain: the pod leaves the endpoints in time.
    probe = c["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] <= delay, probe
    # The config the Deployment mounts is the one checked here.
    assert c["args"] == ["-c", "/etc/preforkd/server.toml"]
    (mount,) = c["volumeMounts"]
    assert mount["mountPath"] == "/etc/preforkd"
    assert "preforkd-config" == pod["volumes"][0]["configMap"]["name"]


def test_resources_are_set(manifest):
    _, c = container(manifest)
    for part in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][part]), c["resources"]


def test_the_probes_answer_as_the_manifest_expects_from_that_configuration(tmp_path):
    # conf/server.toml itself, on a free port (its file route's root is beside it).
    port = free_port()
    text = SERVER_TOML.read_text()
    text = text.replace('listen = "0.0.0.0:9000"', f'listen = "127.0.0.1:{port}"')
    text = text.replace('root = "www"', f'root = "{ROOT / "conf" / "www"}"')
    assert f"127.0.0.1:{port}" in text and str(ROOT / "conf" / "www") in text
    conf = tmp_path / "server.toml"
    conf.write_text(text)
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([BIN, "-c", str(conf)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(port, proc=proc)
            wait_until(lambda: get(port, "/readyz").status == 200, 5, what="/readyz 200")
            assert get(port, "/livez").status == 200
        finally:
            proc.terminate()
            proc.wait(10)
