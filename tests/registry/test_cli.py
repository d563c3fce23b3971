"""The registry node CLI (``python -m registry``) as a subprocess."""
from __future__ import annotations

import json
import multiprocessing
import os
import selectors
import signal
import socket
import subprocess
import time

import psutil
import pytest

import registry
import uactor
from tests.conftest import wait_until
from tests.registry.actors import KEY, WildcardWorker, Worker, serve_registered_worker
from tests.registry.nodes import (
    ROOT,
    STARTUP_TIMEOUT,
    finish,
    node_command,
    node_env,
    one_error_line,
    read_lines,
    run_cli,
    running_node,
    started_node,
    stop,
)

#: Only a private network namespace (loopback alone) may see 0.0.0.0 binds.
ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]


# -- serving ------------------------------------------------------------------


def _pick_and_call(address, results):
    """Process entry point: find a Worker through the registry, call it."""
    with registry.Registry.connect(address, KEY, timeout=10) as reg:
        results.put(reg.names())
        with registry.connect_actor(reg, Worker, KEY, timeout=10) as worker:
            results.put(worker.getpid())


def test_node_serves_other_processes_and_stops_on_sigterm():
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    stop = ctx.Event()
    with running_node("--ttl", "1") as (proc, address, _):
        assert address[0] == "127.0.0.1"
        server = ctx.Process(target=serve_registered_worker,
                             args=(address, None, queue, stop))
        client = ctx.Process(target=_pick_and_call, args=(address, queue))
        server.start()
        try:
            worker_address, worker_pid = queue.get(timeout=30)
            with registry.Registry.connect(address, KEY, timeout=10) as reg:
                entry = reg.pick_entry("Worker")
                assert entry.address == worker_address
                assert entry.ttl == 1.0  # the node's --ttl is the helpers' default
            client.start()
            assert queue.get(timeout=30) == ["Worker"]
            assert queue.get(timeout=30) == worker_pid
            client.join(30)
            assert client.exitcode == 0
            stop.set()
            server.join(30)
            assert server.exitcode == 0
        finally:
            for process in (server, client):
                if process.is_alive():
                    process.kill()
                    process.join(10)
            queue.close()
            queue.join_thread()
        proc.send_signal(signal.SIGTERM)
        status, stdout, stderr = finish(proc)
    assert status == 0, stderr
    assert stdout == ""  # the ready line was the only output
    assert "registered 127.0.0.1:" in stderr and "'Worker'" in stderr
    assert "unregistered 127.0.0.1:" in stderr
    assert "SIGTERM" in stderr
    assert KEY.decode() not in stderr


def test_node_stops_on_sigint():
    with running_node() as (proc, _, _):
        proc.send_signal(signal.SIGINT)
        status, _, stderr = finish(proc)
    assert status == 0, stderr


def _actor_process(proc: subprocess.Popen) -> psutil.Process:
    """The node's Registry actor process (its only child)."""
    [child] = psutil.Process(proc.pid).children()
    return child


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_whole_process_group_is_an_orderly_stop(sig):
    """As systemd (KillMode=control-group), timeout(1) or a terminal send it."""
    with running_node(start_new_session=True) as (proc, address, _):
        actor = _actor_process(proc)
        os.killpg(proc.pid, sig)
        status, _, stderr = finish(proc)
        assert not actor.is_running() or actor.status() == psutil.STATUS_ZOMBIE
    assert status == 0, stderr
    assert "Traceback" not in stderr


def test_the_actor_process_dying_is_an_error():
    with running_node() as (proc, _, _):
        actor = _actor_process(proc)
        actor.kill()
        status, _, stderr = finish(proc)
    assert status == 1, stderr
    line = one_error_line(stderr)
    assert "ended unexpectedly" in line and f"exit code {-signal.SIGKILL}" in line


def test_node_authkey_file_overrides_the_environment(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"file-key\n")
    key_file.chmod(0o600)
    with running_node("--authkey-file", str(key_file), "--ttl", "0.2",
                      authkey=b"ignored-env-key") as (proc, address, _):
        with pytest.raises(uactor.AuthkeyError):
            registry.Registry.connect(address, b"ignored-env-key", timeout=10)
        with registry.Registry.connect(address, b"file-key", timeout=10) as reg:
            reg.register(("10.3.0.1", 1), ttl=0.2)
            assert wait_until(lambda: reg.stats()["expired"] == 1, timeout=10)
        proc.terminate()
        status, _, stderr = finish(proc)
    assert status == 0, stderr
    assert "expired 10.3.0.1:1" in stderr
    assert "file-key" not in stderr and "read by other users" not in stderr


def test_node_without_a_key_writes_one_only_its_user_reads_and_reuses_it(key_home):
    keys = []
    for run in range(2):
        with started_node(env=node_env(None)) as ((proc, address, _), path):
            assert path == str(key_home)
            keys.append(registry.find_authkey())  # what helpers and clients find
            assert len(keys[-1]) == 64
            assert key_home.stat().st_mode & 0o777 == 0o600
            assert key_home.parent.stat().st_mode & 0o777 == 0o700
            with registry.Registry.connect(address, keys[-1], timeout=10) as reg:
                assert reg.pick() is None
            proc.terminate()
            status, _, stderr = finish(proc)
        assert status == 0, stderr
        assert keys[-1].decode() not in stderr
        assert ("wrote a new authkey" in stderr) is (run == 0)
    assert keys[0] == keys[1]  # a restarted node keeps its key


def test_status_finds_the_key_a_keyless_node_wrote(key_home):
    with started_node(env=node_env(None)) as ((proc, (host, port), _), _):
        result = run_cli("status", f"{host}:{port}", "--json", authkey=None)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["services"] == []
    key_home.unlink()  # nothing to find any more
    result = run_cli("status", f"{host}:{port}", authkey=None)
    assert result.returncode == 2
    assert f"no authkey found: looked at $UACTOR_AUTHKEY, $UACTOR_AUTHKEY_FILE, " \
        f"{key_home}" in one_error_line(result.stderr)


def test_ready_line_names_the_key_source(tmp_path):
    with started_node(env=node_env(KEY)) as (_, path):
        assert path is None  # "(authkey from $UACTOR_AUTHKEY)"
    key_file = tmp_path / "k"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    with started_node(env={**node_env(None), "UACTOR_AUTHKEY_FILE": str(key_file)}) \
            as ((_, address, _), path):
        assert path == str(key_file)
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            assert reg.names() == []


def test_a_key_location_that_cannot_be_written_is_an_error(key_home, monkeypatch,
                                                          tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_bytes(b"")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(not_a_directory / "state"))
    result = run_cli("--port", "0", "--no-advertise", authkey=None)
    assert result.returncode == 1
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert f"cannot write the default authkey file {not_a_directory}/state" in line
    assert "UACTOR_AUTHKEY" in line


def _wait_for_stderr(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """Read the node's stderr until ``needle`` shows up; return what was read."""
    deadline = time.monotonic() + timeout
    data = ""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while needle not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"{needle!r} not logged in {timeout} s:\n{data}")
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"node exited before logging {needle!r}:\n{data}")
            data += chunk.decode()
    return data


def test_heartbeats_re_register_with_a_restarted_node():
    with Worker() as worker:
        with running_node() as (proc, address, _):
            handle = registry.register_actor(address, worker, authkey=KEY, ttl=0.3)
            proc.terminate()
            assert finish(proc)[0] == 0
        try:
            # The same port: a new node that knows nothing; heartbeats refill it.
            with running_node("--port", str(address[1])) as (proc, _, _):
                host, port = worker.connection_address
                _wait_for_stderr(proc, f"registered {host}:{port} as 'Worker'", 10)
                handle.close()
                proc.terminate()
                status, _, stderr = finish(proc)
        finally:
            handle.close()
    assert status == 0
    assert f"unregistered {host}:{port}" in stderr


@pytest.mark.skipif(not ISOLATED, reason="binds 0.0.0.0: runs only inside a "
                                         "private network namespace")
def test_lan_node_and_wildcard_actor_inside_a_private_namespace(key_home):
    # Started without a key on every interface: it has one, generated.
    with started_node("--host", "0.0.0.0", env=node_env(None)) \
            as ((proc, address, _), key_file), WildcardWorker() as worker:
        assert address[0] == "0.0.0.0" and key_file == str(key_home)
        key = registry.find_authkey()
        with pytest.raises(uactor.AuthkeyError):
            registry.Registry.connect(("127.0.0.1", address[1]), KEY, timeout=10)
        node = ("127.0.0.1", address[1])
        port = worker.connection_address[1]
        with registry.register_actor(node, worker) as handle:  # key: the lookup's
            assert handle.address == ("127.0.0.1", port)  # the route to the node
            assert handle.bind_address == ("0.0.0.0", port)
            with registry.connect_actor(node, WildcardWorker, KEY,
                                        registry_authkey=key) as proxy:
                assert proxy.getpid() == worker.getpid()
        proc.terminate()
        assert finish(proc)[0] == 0


# -- refusing to run ------------------------------------------------------------


def test_port_taken_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("--port", str(port), "--no-advertise", authkey=KEY)
    assert result.returncode == 1
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    assert f"port {port}" in line and "already in use" in line


@pytest.mark.parametrize("args, words", [
    (["--authkey-file", "/nonexistent/key"], ["cannot read authkey file"]),
    (["--ttl", "0"], ["--ttl must be a positive number of seconds", "got 0"]),
    (["--ttl", "-1"], ["--ttl must be a positive number of seconds", "got -1"]),
    (["--ttl", "nan"], ["--ttl must be a positive number of seconds"]),
    (["--ttl", "1e9"], ["--ttl", "86400"]),
    (["--ttl", "soon"], ["--ttl", "invalid float value"]),
    (["--port", "70000"], ["--port", "0-65535"]),
    (["--max-message", "100"], ["--max-message must be at least 1024 bytes", "got 100"]),
    (["--max-message", "1MiB"], ["--max-message", "invalid int value"]),
    (["--no-such-option"], ["unrecognized arguments"]),
])
def test_bad_configuration_is_a_one_line_error(args, words):
    result = run_cli(*args, "--no-advertise", authkey=KEY)
    assert result.returncode == 2
    assert result.stdout == ""
    line = one_error_line(result.stderr)
    for word in words:
        assert word in line
    assert "ttl=None" not in line  # the CLI's own fix, not the Python API's


def test_empty_authkey_file_and_environment_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    result = run_cli("--authkey-file", str(empty), "--no-advertise", authkey=None)
    assert result.returncode == 2
    assert "empty" in one_error_line(result.stderr)
    result = run_cli("--no-advertise", authkey=b"")
    assert result.returncode == 2
    assert "UACTOR_AUTHKEY" in one_error_line(result.stderr)


# -- advertising ------------------------------------------------------------------


def test_node_advertises_itself_on_loopback_when_discovery_is_available():
    discovery = pytest.importorskip("discovery")
    if not hasattr(discovery, "publish"):
        pytest.skip("discovery.publish is not available")
    proc = subprocess.Popen(
        node_command("--port", "0", "--advertise"), env=node_env(KEY), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        read_lines(proc, 1, STARTUP_TIMEOUT)
        proc.terminate()
        status, _, stderr = finish(proc)
    finally:
        stop(proc)
    assert status == 0, stderr
    assert "advertising over mDNS on 127.0.0.1" in stderr


# -- stores ----------------------------------------------------------------------------


def test_node_over_redis_serves_and_names_its_store(unique_name):
    from tests import servers

    with servers.redis() as store, \
            running_node("--store", store.url, "--store-prefix", f"{unique_name}/") as (
                proc, address, _):
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            reg.register(("10.3.0.1", 1), name="W")
            assert reg.stats()["store"] == store.url
        client = store.client()
        try:
            assert client.hexists(f"{unique_name}/entries", "10.3.0.1:1")
        finally:
            client.close()
        proc.terminate()
        status, _, stderr = finish(proc)
    assert status == 0
    assert f"store {store.url}" in stderr


def test_unreachable_store_at_start_is_a_one_line_error_and_no_node_is_left():
    from tests import servers

    (port,) = servers.free_ports(1)
    url = f"etcd://127.0.0.1:{port}"
    result = run_cli("--port", "0", "--no-advertise", "--store", url)
    assert result.returncode == 1
    assert result.stdout == ""  # never ready: the node did not half-start
    line = one_error_line(result.stderr)
    assert f"etcd store {url} is unreachable" in line and "check that etcd runs" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("url, words", [
    ("ftp://h:1", ["unknown scheme"]),
    ("redis://:hunter2@h:1/db", ["number", "***"]),
])
def test_bad_store_url_is_a_one_line_configuration_error(url, words):
    result = run_cli("--store", url, "--no-advertise")
    assert result.returncode == 2
    line = one_error_line(result.stderr)
    for word in words:
        assert word in line
    assert "hunter2" not in result.stderr


def test_lease_tokens_never_appear_in_the_node_s_logs():
    with running_node("--log-level", "DEBUG") as (proc, address, _):
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            tokens = [reg.register(("10.3.0.1", 1), name="W"), reg.open_lease(30)]
            reg.register_entry(("10.3.0.2", 2), lease=tokens[1], name="W")
            reg.renew(tokens[1])
            with pytest.raises(registry.NotOwnerError):
                reg.unregister(("10.3.0.1", 1), lease=tokens[1])
            reg.close_lease(tokens[1])
            reg.unregister(("10.3.0.1", 1), lease=tokens[0])
        proc.terminate()
        status, _, stderr = finish(proc)
    assert status == 0
    assert "registered 10.3.0.2:2" in stderr and "unregistered 10.3.0.1:1" in stderr
    for token in tokens:
        assert token not in stderr
