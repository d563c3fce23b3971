"""``uactor-registry --http`` and ``uactor-registry status`` as subprocesses."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

import registry
from tests.conftest import wait_until
from tests.registry.actors import KEY
from tests.registry.nodes import finish, one_error_line, run_cli, running_node

#: Seconds one HTTP request of these tests may take.
TIMEOUT = 10.0


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode()


# -- the endpoints of a running node ---------------------------------------------------


def test_ready_line_then_url_line_and_a_clean_stop():
    with running_node("--http", "0") as node:
        assert node.url.startswith("http://127.0.0.1:") and node.url.endswith("/")
        assert fetch(node.url + "healthz") == (200, "ok\n")
        assert fetch(node.url + "readyz") == (200, "ready\n")
        node.proc.terminate()
        status, stdout, stderr = finish(node.proc)
    assert status == 0, stderr
    assert stdout == ""  # the two lines were all
    assert "HTTP endpoints on http://127.0.0.1:" in stderr
    assert "Traceback" not in stderr


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict, name: str, **labels: str) -> float:
    for family in families.values():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name} {labels}")


@pytest.mark.timeout(60)
def test_metrics_count_what_the_test_did():
    with running_node("--http", "0") as node:
        reg = registry.Registry.connect(node.address, KEY, timeout=TIMEOUT)
        # Two live workers (one renewed once), one picked three times, one
        # unregistered storage entry, one entry left to expire.
        lease = reg.open_lease(60, pid=100, hostname="a")
        reg.register_entry(("127.0.0.1", 7001), lease=lease, name="Worker", pid=101,
                           hostname="a")
        reg.register_entry(("127.0.0.1", 7002), lease=lease, name="Worker", pid=102,
                           hostname="b")
        reg.register_entry(("127.0.0.1", 7001), lease=lease, name="Worker", pid=101,
                           hostname="a")
        for _ in range(3):
            reg.pick("Worker")
        storage = reg.register(("127.0.0.1", 7003), name="Storage")
        assert reg.unregister(("127.0.0.1", 7003), lease=storage) == 1
        reg.register(("127.0.0.1", 7004), name="Expiring", ttl=0.1)
        assert wait_until(lambda: reg.stats()["expired"] == 1, timeout=10)

        status, text = fetch(node.url + "metrics")
        assert status == 200
        families = _families(text)
        snapshot = json.loads(fetch(node.url + "status.json")[1])
        actor_pid = snapshot["node"]["pid"]
        actor_started = psutil.Process(actor_pid).create_time()
        cpu = psutil.Process(actor_pid).cpu_times()  # read after the scrape

    assert _value(families, "uactor_registry_actors", service="Worker") == 2
    assert _value(families, "uactor_registry_actors", service="Storage") == 0
    assert _value(families, "uactor_registry_actors", service="Expiring") == 0
    assert _value(families, "uactor_registry_services") == 3
    assert _value(families, "uactor_registry_registrations_total") == 4
    assert _value(families, "uactor_registry_renewals_total") == 1
    assert _value(families, "uactor_registry_unregistrations_total") == 1
    assert _value(families, "uactor_registry_expiries_total") == 1
    assert _value(families, "uactor_registry_picks_total") == 3
    for name in ("registrations", "renewals", "unregistrations", "expiries", "picks"):
        assert families[f"uactor_registry_{name}"].type == "counter"

    histogram = families["uactor_registry_store_operation_seconds"]
    assert histogram.type == "histogram"
    count = _value(families, "uactor_registry_store_operation_seconds_count")
    # A grant, three puts, then a grant, put, delete and revoke, then a grant and
    # a put: ten store operations (sweeps add more; picks need none).
    assert count >= 10
    assert _value(families, "uactor_registry_store_operation_seconds_bucket",
                  le="+Inf") == count
    assert 0 < _value(families, "uactor_registry_store_operation_seconds_sum") < count

    assert _value(families, "uactor_registry_store_reachable") == 1
    assert _value(families, "uactor_registry_store_stale_seconds") == 0
    assert _value(families, "uactor_registry_peers") == 0
    assert _value(families, "uactor_registry_client_connections") >= 2  # ours, watcher's
    assert _value(families, "uactor_registry_node_info",
                  address=f"127.0.0.1:{node.address[1]}", store="memory://") == 1

    # Process metrics are the actor process's, not the CLI's.
    assert actor_pid != node.proc.pid
    assert abs(_value(families, "process_start_time_seconds") - actor_started) < 1.0
    assert _value(families, "process_resident_memory_bytes") > 1_000_000
    # The actor may have used less than one clock tick: compare, don't expect > 0.
    scraped_cpu = _value(families, "process_cpu_seconds_total")
    assert 0 <= scraped_cpu <= cpu.user + cpu.system + 0.05
    assert abs(_value(families, "uactor_registry_start_time_seconds")
               - snapshot["node"]["started"]) < 1e-3


def test_metrics_negotiate_openmetrics():
    with running_node("--http", "0") as node:
        request = urllib.request.Request(
            node.url + "metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            kind = response.headers["Content-Type"]
            body = response.read().decode()
    assert kind.startswith("application/openmetrics-text")
    assert body.rstrip().endswith("# EOF")
    assert "uactor_registry_picks_total 0" in body


# -- the status subcommand ---------------------------------------------------------------


def test_status_prints_the_table_and_the_same_data_as_json():
    with running_node() as node:
        reg = registry.Registry.connect(node.address, KEY, timeout=TIMEOUT)
        lease = reg.open_lease(60, pid=4242, hostname="host-a")
        reg.register_entry(("127.0.0.1", 7001), lease=lease, name="Worker", pid=4243,
                           hostname="host-a")
        reg.register(("127.0.0.1", 7002), name="Worker")
        reg.pick("Worker")
        address = f"{node.address[0]}:{node.address[1]}"
        table = run_cli("status", address)
        as_json = run_cli("status", address, "--json")
        by_port = run_cli("status", str(node.address[1]))  # a bare port: loopback
    assert table.returncode == 0, table.stderr
    assert table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"registry {address}, pid ")
    assert lines[1] == "store memory:// (reachable), peers: none"
    assert lines[2].startswith("1 service, 2 actors; since start: 2 registrations, ")
    assert lines[2].endswith("1 pick")
    header = lines[4].split()
    assert header[:3] == ["SERVICE", "ADDRESS", "OWNER"] and header[-1] == "PICKS"
    rows = [line.split() for line in lines[5:]]
    assert [row[:2] for row in rows] == [["Worker", "127.0.0.1:7002"],
                                         ["Worker", "127.0.0.1:7001"]]
    assert rows[1][2:5] == ["host-a", "pid", "4242"] and rows[1][-1] == "1"
    assert rows[0][2] == "-" and rows[0][-3:] == ["no", "expiry", "0"]

    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["node"]["address"] == address
    assert data["totals"]["actors"] == 2 and data["totals"]["picks_total"] == 1
    assert [actor["address"] for actor in data["services"][0]["actors"]] == [
        "127.0.0.1:7002", "127.0.0.1:7001"]
    assert by_port.returncode == 0 and by_port.stdout.splitlines()[0] == lines[0]


def test_status_with_a_wrong_key_is_a_one_line_error(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"wrong-key\n")
    key_file.chmod(0o600)
    with running_node() as node:
        address = f"127.0.0.1:{node.address[1]}"
        from_env = run_cli("status", address, authkey=b"wrong-key")
        from_file = run_cli("status", address, "--authkey-file", str(key_file))
    for result in (from_env, from_file):
        assert result.returncode == 1 and result.stdout == ""
        line = one_error_line(result.stderr)
        assert f"{address} rejected the authkey" in line
        assert "--authkey-file" in line and "UACTOR_AUTHKEY" in line
        assert "Traceback" not in result.stderr and "wrong-key" not in result.stderr


def test_status_of_nothing_listening_is_a_one_line_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed
    result = run_cli("status", f"127.0.0.1:{port}", "--timeout", "2")
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result.stderr)
    assert f"cannot read the status of the registry at 127.0.0.1:{port}" in line


@pytest.mark.parametrize("args, words", [
    (["status", "localhost:http"], ["ADDRESS 'localhost:http'", "HOST:PORT"]),
    (["status", "::1:5000"], ["brackets"]),
    (["status", "127.0.0.1:5000", "--timeout", "0"], ["--timeout 0.0", "positive"]),
    (["--http", "nowhere"], ["--http 'nowhere'", "PORT, HOST:PORT"]),
    (["--http", "70000"], ["--http '70000'", "0-65535"]),
    (["--http", ":8080"], ["--http ':8080'"]),
])
def test_bad_addresses_are_one_line_configuration_errors(args, words):
    result = run_cli(*args, "--no-advertise") if args[0] != "status" else run_cli(*args)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    for word in words:
        assert word in line, line


def test_http_port_taken_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", "0", "--no-advertise", "--http", str(port))
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in line
    assert "--http" in line


def test_no_subcommand_still_starts_a_node():
    """Backwards compatibility: options alone start a node as before."""
    with running_node("--ttl", "2") as node:
        reg = registry.Registry.connect(node.address, KEY, timeout=TIMEOUT)
        assert reg.default_ttl() == 2
        assert node.url is None  # and no second line (read_lines checks)
    help_text = run_cli("--help").stdout
    assert "status ADDRESS" in help_text and "--http" in help_text
