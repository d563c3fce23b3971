"""Real etcd and Redis servers for tests, on free loopback ports.

Each server runs as a child process of the test with a temporary data
directory, is waited for with a deadline, and is stopped by escalating
terminate -> wait -> kill, after which :meth:`Server.stop` proves the process
is gone.  Nothing is mocked: the registry's stores talk to the real thing.

* :func:`etcd` - one etcd member; :func:`etcd_cluster` - three members;
* :func:`redis` - one redis-server; :func:`redis_sentinel` - a master, a
  replica and three sentinels watching them (service ``mymaster``).

All are context managers.  Binaries missing from the machine make the tests
that ask for them skip with the reason (``pytest.skip``); CI installs them
(``.ci/run``), so there they never skip.  Ports are picked free just before
starting; a server that loses its port to a parallel test is restarted on
other ports (a bounded number of times).
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Callable

import psutil
import pytest

__all__ = [
    "EtcdCluster",
    "RedisSentinel",
    "Server",
    "etcd",
    "etcd_cluster",
    "free_ports",
    "redis",
    "redis_sentinel",
    "require",
    "restartable",
]

#: How long a server may take to become ready (s).
READY_DEADLINE = 20.0

#: How long a terminated server may take to exit before it is killed (s).
STOP_DEADLINE = 10.0

#: Attempts at starting a server whose ports were taken meanwhile.
START_ATTEMPTS = 4

SENTINEL_SERVICE = "mymaster"


def require(*binaries: str) -> None:
    """Skip the calling test, with the reason, when a binary is missing."""
    missing = [name for name in binaries if shutil.which(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (CI installs them: "
                    f"apt-get install etcd-server redis-server redis-sentinel)")


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class ServerFailed(RuntimeError):
    """A server exited or did not become ready in time."""


@dataclass
class Server:
    """One server process with its log file."""

    name: str
    argv: list[str]
    log_path: str
    process: subprocess.Popen | None = None
    extra: dict = field(default_factory=dict)

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, last: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                return log.read().decode(errors="replace")[-last:]
        except OSError:
            return ""

    def wait_ready(self, probe: Callable[[], bool], deadline: float = READY_DEADLINE) -> None:
        """Poll ``probe`` until it is true; fail if the process dies or time runs out."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if not self.running():
                raise ServerFailed(f"{self.name} exited ({self.process.returncode}): "
                                   f"{self.log()}")
            with contextlib.suppress(Exception):
                if probe():
                    return
            time.sleep(0.02)
        raise ServerFailed(f"{self.name} not ready within {deadline} s: {self.log()}")

    def kill9(self) -> None:
        """``kill -9`` the server (a crash), and reap it."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(STOP_DEADLINE)

    def stop(self) -> None:
        """terminate -> wait -> kill -> wait, then prove the process is gone."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_DEADLINE)
        assert process.returncode is not None
        assert not _alive(process.pid), f"{self.name} (pid {process.pid}) outlived stop()"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_with_retries(make: Callable[[], list[Server]],
                        ready: Callable[[list[Server]], None],
                        deferred: int = 0) -> list[Server]:
    """Start servers made by ``make`` (fresh ports each time) until they are ready.

    The last ``deferred`` servers are left for ``ready`` to start when the
    others are ready (all are stopped if an attempt fails).
    """
    error: Exception | None = None
    for _ in range(START_ATTEMPTS):
        servers = make()
        try:
            for server in servers[:len(servers) - deferred]:
                server.start()
            ready(servers)
            return servers
        except ServerFailed as exc:
            error = exc
            for server in servers:
                server.stop()
    raise ServerFailed(f"could not start after {START_ATTEMPTS} attempts: {error}")


@contextlib.contextmanager
def _scratch(prefix: str) -> Iterator[str]:
    path = tempfile.mkdtemp(prefix=f"uactor-{prefix}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------
# etcd
# --------------------------------------------------------------------------

def etcd_request(port: int, path: str, body: dict, timeout: float = 2.0) -> dict:
    """One JSON gateway call to the etcd member on ``port``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=json.dumps(body),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        data = json.loads(response.read() or b"{}")
        if response.status != 200:
            raise ServerFailed(f"etcd {path}: {response.status} {data}")
        return data
    finally:
        connection.close()


def _etcd_member(directory: str, name: str, client: int, peer: int,
                 cluster: str, token: str, state: str = "new") -> Server:
    return Server(
        name=f"etcd {name}",
        argv=["etcd", "--name", name, "--data-dir", os.path.join(directory, name),
              "--listen-client-urls", f"http://127.0.0.1:{client}",
              "--advertise-client-urls", f"http://127.0.0.1:{client}",
              "--listen-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
              "--initial-cluster", cluster, "--initial-cluster-state", state,
              "--initial-cluster-token", token,
              # Fast elections on loopback (and leases down to 1 s).
              "--heartbeat-interval", "10", "--election-timeout", "100",
              "--log-level", "warn", "--logger", "zap"],
        log_path=os.path.join(directory, f"{name}.log"),
        extra={"client": client, "peer": peer},
    )


def _etcd_ready(server: Server) -> bool:
    data = etcd_request(server.extra["client"], "/v3/kv/range",
                        {"key": "aGVhbHRo"}, timeout=1.0)
    return "header" in data


@dataclass
class EtcdCluster:
    """Running etcd members; ``url`` is the store URL listing all of them."""

    members: list[Server]

    @property
    def ports(self) -> list[int]:
        return [member.extra["client"] for member in self.members]

    @property
    def url(self) -> str:
        return "etcd://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def leader(self) -> Server:
        """The member currently leading the cluster."""
        for member in self.members:
            if not member.running():
                continue
            status = etcd_request(member.extra["client"], "/v3/maintenance/status", {})
            if status.get("leader") == status["header"]["member_id"]:
                return member
        raise ServerFailed("no etcd leader")


@contextlib.contextmanager
def etcd_cluster(size: int = 3) -> Iterator[EtcdCluster]:
    """``size`` etcd members forming one cluster; stopped and proven gone after."""
    require("etcd")
    with _scratch("etcd") as directory:
        def make() -> list[Server]:
            ports = free_ports(2 * size)
            names = [f"m{i}" for i in range(size)]
            cluster = ",".join(f"{name}=http://127.0.0.1:{ports[2 * i + 1]}"
                               for i, name in enumerate(names))
            for name in names:
                shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
            token = f"uactor-{os.getpid()}-{ports[0]}"
            return [_etcd_member(directory, name, ports[2 * i], ports[2 * i + 1], cluster,
                                 token)
                    for i, name in enumerate(names)]

        def ready(servers: list[Server]) -> None:
            for server in servers:
                server.wait_ready(lambda server=server: _etcd_ready(server))

        members = _start_with_retries(make, ready)
        try:
            yield EtcdCluster(members)
        finally:
            for member in members:
                member.stop()


@contextlib.contextmanager
def etcd() -> Iterator[EtcdCluster]:
    """A single-member etcd."""
    with etcd_cluster(1) as cluster:
        yield cluster


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

def _redis_client(port: int):
    import redis as redis_py

    return redis_py.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                          socket_connect_timeout=2)


def _redis_ping(port: int, password: str | None = None) -> bool:
    import redis as redis_py

    client = redis_py.Redis(host="127.0.0.1", port=port, password=password,
                            socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


def _redis_server(directory: str, name: str, port: int, *extra: str) -> Server:
    data = os.path.join(directory, name)
    os.makedirs(data, exist_ok=True)
    return Server(
        name=f"redis {name}",
        argv=["redis-server", "--port", str(port), "--bind", "127.0.0.1",
              "--dir", data, "--save", "", "--appendonly", "no",
              "--daemonize", "no", "--loglevel", "warning", *extra],
        log_path=os.path.join(directory, f"{name}.log"),
        extra={"port": port},
    )


@dataclass
class RedisServer:
    server: Server
    password: str | None = None

    @property
    def port(self) -> int:
        return self.server.extra["port"]

    @property
    def url(self) -> str:
        secret = f":{self.password}@" if self.password else ""
        return f"redis://{secret}127.0.0.1:{self.port}/0"

    def client(self):
        import redis as redis_py

        return redis_py.Redis(host="127.0.0.1", port=self.port, password=self.password,
                              socket_timeout=2, socket_connect_timeout=2)


@contextlib.contextmanager
def redis(password: str | None = None) -> Iterator[RedisServer]:
    """One redis-server; stopped and proven gone after."""
    require("redis-server")
    with _scratch("redis") as directory:
        extra = ("--requirepass", password) if password else ()

        def make() -> list[Server]:
            (port,) = free_ports(1)
            return [_redis_server(directory, "r", port, *extra)]

        def ready(servers: list[Server]) -> None:
            server = servers[0]
            server.wait_ready(lambda: _redis_ping(server.extra["port"], password))

        (server,) = _start_with_retries(make, ready)
        try:
            yield RedisServer(server, password)
        finally:
            server.stop()


@dataclass
class RedisSentinel:
    """A master, a replica and three sentinels; ``url`` lists the sentinels."""

    master: Server
    replica: Server
    sentinels: list[Server]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.extra['port']}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SENTINEL_SERVICE}"

    def master_port(self) -> int:
        """The port the sentinels currently name as master."""
        for sentinel in self.sentinels:
            if not sentinel.running():
                continue
            client = _redis_client(sentinel.extra["port"])
            try:
                host, port = client.sentinel_get_master_addr_by_name(SENTINEL_SERVICE)
                return int(port)
            finally:
                client.close()
        raise ServerFailed("no sentinel answers")


def _sentinel_config(directory: str, name: str, port: int, master_port: int) -> str:
    path = os.path.join(directory, f"{name}.conf")
    with open(path, "w") as config:
        config.write(
            f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
            f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n"
            f"sentinel failover-timeout {SENTINEL_SERVICE} 2000\n"
            f"sentinel parallel-syncs {SENTINEL_SERVICE} 1\n")
    return path


def _replica_connected(master_port: int) -> bool:
    client = _redis_client(master_port)
    try:
        return client.info("replication").get("connected_slaves", 0) >= 1
    finally:
        client.close()


def _sentinel_knows(port: int, master_port: int) -> bool:
    """Whether the sentinel on ``port`` knows the master, the two other
    sentinels and the replica.

    A sentinel learns of replicas from the master's INFO, which it reads
    every 10 s: one that started before the replica connected and lost the
    master before its next read had no replica to promote and never failed
    over (so :func:`redis_sentinel` starts the sentinels after the replica
    is connected).
    """
    client = _redis_client(port)
    try:
        host, known = client.sentinel_get_master_addr_by_name(SENTINEL_SERVICE)
        state = client.sentinel_master(SENTINEL_SERVICE)
        return (int(known) == master_port
                and int(state.get("num-other-sentinels", 0)) >= 2
                and int(state.get("num-slaves", 0)) >= 1)
    finally:
        client.close()


@contextlib.contextmanager
def redis_sentinel() -> Iterator[RedisSentinel]:
    """Master, replica and three sentinels; all stopped and proven gone after."""
    require("redis-server", "redis-sentinel")
    with _scratch("sentinel") as directory:
        def make() -> list[Server]:
            master_port, replica_port, *sentinel_ports = free_ports(5)
            servers = [
                _redis_server(directory, "master", master_port),
                _redis_server(directory, "replica", replica_port,
                              "--replicaof", "127.0.0.1", str(master_port)),
            ]
            for index, port in enumerate(sentinel_ports):
                config = _sentinel_config(directory, f"s{index}", port, master_port)
                servers.append(Server(
                    name=f"sentinel s{index}", argv=["redis-sentinel", config],
                    log_path=os.path.join(directory, f"s{index}.log"),
                    extra={"port": port}))
            return servers

        def ready(servers: list[Server]) -> None:
            master, replica, *sentinels = servers
            master_port = master.extra["port"]
            master.wait_ready(lambda: _redis_ping(master_port))
            replica.wait_ready(lambda: _redis_ping(replica.extra["port"]))
            master.wait_ready(lambda: _replica_connected(master_port))
            for sentinel in sentinels:  # now their first look at the master lists it
                sentinel.start()
            for sentinel in sentinels:
                sentinel.wait_ready(
                    lambda sentinel=sentinel: _sentinel_knows(sentinel.extra["port"],
                                                              master_port))

        master, replica, *sentinels = _start_with_retries(make, ready, deferred=3)
        try:
            yield RedisSentinel(master, replica, sentinels)
        finally:
            for server in (*sentinels, replica, master):
                server.stop()


@contextlib.contextmanager
def restartable(kind: str) -> Iterator[tuple[str, Server]]:
    """``(store URL, server)`` of an etcd (one member) or a redis-server that
    the test may stop and start again on the same port."""
    if kind == "etcd":
        with etcd() as cluster:
            yield cluster.url, cluster.members[0]
    else:
        pytest.importorskip("redis")
        with redis() as server:
            yield server.url, server.server


def stop_all(servers: Sequence[Server]) -> None:
    """Stop ``servers`` (each proven gone)."""
    for server in servers:
        server.stop()
