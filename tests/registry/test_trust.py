"""Who can do what to a registry node: real attacks, with controls.

Each attack is the real thing (another local user via ``setpriv``, a pickle
whose ``__reduce__`` would create a marker directory), and each test tells
"refused by the defence" from "the harness broke": the same payload creates
the marker when unpickled without the defence, and the same script connects
when it holds the key.
"""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

import registry
import uactor
from tests import wire
from tests.registry.actors import KEY, start_registry
from tests.registry.nodes import finish, node_env, started_node

HERE = Path(__file__).resolve().parent
INTRUDER = HERE / "intruder.py"

#: Seconds the intruder script may take in all.
INTRUDER_TIMEOUT = 60.0

AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

#: Why a test that needs another local user cannot run here.
NO_OTHER_USER = ("needs root and setpriv(1) to act as user nobody"
                 if os.geteuid() != 0 or shutil.which("setpriv") is None else "")


def run_intruder(address, marker: Path, *options: str, prefix=()) -> dict:
    """Run tests/registry/intruder.py (as ``prefix`` says); return its report."""
    result = subprocess.run(
        [*prefix, sys.executable, "-I", str(INTRUDER), address[0], str(address[1]),
         str(marker), *options],
        capture_output=True, text=True, timeout=INTRUDER_TIMEOUT, cwd="/")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_payload_works(payload_hex: str, marker: Path) -> None:
    """Control: the intruder's payload does run when unpickled undefended."""
    assert not marker.exists()
    subprocess.run([sys.executable, "-I", "-c",
                    f"import pickle; pickle.loads(bytes.fromhex({payload_hex!r}))"],
                   check=True, timeout=30)
    assert marker.is_dir(), "the control payload did not create the marker"
    marker.rmdir()


@pytest.fixture
def shared_dir():
    """A directory other local users may traverse (like /home), removed after."""
    path = Path(tempfile.mkdtemp(prefix="uactor-trust-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path)


@pytest.mark.timeout(120)
@pytest.mark.skipif(bool(NO_OTHER_USER), reason=NO_OTHER_USER or "-")
def test_another_local_user_can_neither_read_the_key_nor_connect(tmp_path, monkeypatch,
                                                                shared_dir):
    # A home like a real one: the user's directories readable by others,
    # except the registry's own (0700) and its key file (0600).
    home = shared_dir / "home"
    home.mkdir(mode=0o755)
    control = home / "notes.txt"  # what nobody may read: proves the path is reachable
    control.write_text("readable by all\n")
    control.chmod(0o644)
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(home))
    key_file = home / ".local" / "state" / "uactor" / "authkey"
    marker = tmp_path / "code-ran"  # only root (the node's user) could create it

    with started_node(env=node_env(None)) as ((proc, address, _), path):
        assert path == str(key_file)
        key = registry.find_authkey()
        report = run_intruder(address, marker, "--key-file", str(key_file),
                              "--control-file", str(control), prefix=AS_NOBODY)
        assert report["uid"] == 65534
        assert report["read_control_file"] == "read"
        assert report["read_key_file"].startswith("PermissionError: [Errno 13]")
        # Even with its directory opened for traversal, the file refuses.
        key_file.parent.chmod(0o711)
        try:
            again = run_intruder(address, marker, "--key-file", str(key_file),
                                 prefix=AS_NOBODY)
        finally:
            key_file.parent.chmod(0o700)
        assert again["read_key_file"].startswith("PermissionError: [Errno 13]")
        for attempt in (report, again):
            assert attempt["empty_key"] == "PermissionError: authkey rejected", attempt
            assert attempt["guessed_key"] == "PermissionError: authkey rejected", attempt
            assert attempt["multiprocessing_client"] != "connected", attempt
            # The payload, sent instead of a handshake answer, is judged as one:
            # rejected (b'\x00'), connection closed (reset, with bytes unread).
            assert (attempt["raw_payload"].endswith("answered b'\\x00'; closed")
                    or attempt["raw_payload"].startswith("ConnectionResetError")), attempt
        assert not marker.exists(), "the intruder's payload ran in the node"

        # Controls: the script connects when it holds the key, and the payload
        # creates the marker when something unpickles it.
        holder = run_intruder(address, marker, "--authkey-hex", key.hex())
        assert holder["given_key"] == "connected"
        assert not marker.exists()
        with registry.Registry.connect(address, key, timeout=10) as reg:
            assert reg.pick() is None  # the node kept serving
        proc.terminate()
        status, _, stderr = finish(proc)
    assert status == 0, stderr
    assert_payload_works(report["payload"], marker)



# -- a key holder ----------------------------------------------------------------------


class CreatesMarker:
    """A real pickle payload: unpickling it creates the marker directory."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@contextlib.contextmanager
def node_as_key_holder_sees_it(kind: str):
    """A registry to attack, and its key: a ``uactor-registry`` node, or a
    Registry actor started in this process (its options are the class's)."""
    if kind == "node":
        with started_node(env=node_env(KEY)) as ((proc, address, _), _):
            yield address, proc
            proc.terminate()
            status, _, stderr = finish(proc)
        assert status == 0, stderr
    else:
        with start_registry() as owner:
            yield owner.connection_address, None


@pytest.mark.parametrize("kind", ["node", "library"])
def test_a_key_holder_cannot_run_code_through_a_method_argument(kind, tmp_path):
    marker = tmp_path / "code-ran"
    payload = CreatesMarker(marker)
    attempts = [lambda reg: reg.register(payload),
                lambda reg: reg.register_entry(("10.9.0.1", 1), lease="A" * 32,
                                               hostname=payload),
                lambda reg: reg.pick(payload),
                lambda reg: reg.register(("10.9.0.1", 1), name=payload)]
    with node_as_key_holder_sees_it(kind) as (address, _):
        for attempt in attempts:  # each on its own connection: uactor closes
            with registry.Registry.connect(address, KEY, timeout=10) as reg, \
                    pytest.raises(uactor.DisallowedClassError,  # one that insists
                                  match="posix.mkdir is not allowed"):
                attempt(reg)
        assert not marker.exists(), "the payload ran in the registry"
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            # Plain data and the registry's own record still go through.
            entry = reg.register_entry(("10.9.0.2", 2), lease=reg.open_lease(30),
                                       name="kept")
            with pytest.raises(registry.InvalidArgumentError, match="7 items"):
                reg.unregister(entry)  # an Entry is decoded (allowed), then refused
            assert reg.pick("kept") == ("10.9.0.2", 2)
    assert_payload_works(pickle.dumps(payload).hex(), marker)


@pytest.mark.parametrize("kind", ["node", "library"])
def test_a_key_holder_cannot_run_code_through_a_raw_server_message(kind, tmp_path):
    marker = tmp_path / "code-ran"
    payload = CreatesMarker(marker)
    with node_as_key_holder_sees_it(kind) as (address, _):
        messages = [(None, "shutdown", (payload,), {}),  # a server-level request
                    (None, "create", (payload,), {}),
                    payload]  # the whole message is the payload
        for message in messages:  # authenticated, as a key holder would be
            with wire.connect(address, KEY) as session:
                session.send(message)
                kind_, (error, _) = session.recv()
                assert (kind_, type(error)) == ("#RAISE", uactor.DisallowedClassError)
        with wire.accepted(address, KEY) as session:  # a method-call connection
            session.send(("0", "register", (payload,), {}))
            kind_, (error, _) = session.recv()
            assert (kind_, type(error)) == ("#RAISE", uactor.DisallowedClassError)
        assert not marker.exists(), "the payload ran in the registry"
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            assert reg.pick() is None  # still serving
    assert_payload_works(pickle.dumps(payload).hex(), marker)


def test_a_key_holder_cannot_stop_the_node():
    with started_node(env=node_env(KEY)) as ((proc, address, _), _):
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            with pytest.raises(registry.NotOwnerError, match="SIGINT or SIGTERM") as info:
                reg.shutdown()
            assert isinstance(info.value, PermissionError)
        for request in ("shutdown", "release_owner"):  # server-level, hand-built
            with wire.connect(address, KEY) as session:
                kind_, (error, _) = session.request(request)
                assert kind_ == "#RAISE", (request, kind_)
                assert "only the process that started this actor" in str(error)
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            assert reg.pick() is None  # still serving
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)  # how its owner stops it
        status, _, stderr = finish(proc)
    assert status == 0, stderr
    assert "refused a shutdown request from a client that is not the registry's owner" \
        in stderr


# -- bounded inputs ----------------------------------------------------------------------

HUNDRED_MB = 100_000_000

#: How much the node's actor process may grow while refusing 100 MB (bytes).
MEMORY_SLACK = 30_000_000


@contextlib.contextmanager
def peak_rss(process: psutil.Process):
    """Sample ``process``'s resident memory every 5 ms; yield the list of samples."""
    samples = [process.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            samples.append(process.memory_info().rss)

    sampler = threading.Thread(target=sample, name="rss-sampler")
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join(10)


def send_raw_100_mb(address, actor: psutil.Process) -> tuple[bool, float, int]:
    """Send a 100 MB frame as a key holder ignoring the node's announced limit.

    Returns whether the node cut the connection, the seconds it took, and
    how much the node's actor process grew meanwhile (bytes, peak).
    """
    with peak_rss(actor) as samples, wire.connect(address, KEY) as session:
        started = time.monotonic()
        frame = wire.HEADER.pack(HUNDRED_MB, 0) + bytes(HUNDRED_MB + wire.TAG_BYTES)
        try:
            session.sock.sendall(frame)
            cut_off = session.sock.recv(1) == b""
        except OSError:  # reset: the node refused it after its header
            cut_off = True
        seconds = time.monotonic() - started
    return cut_off, seconds, max(samples) - samples[0]


@pytest.mark.timeout(120)
def test_a_100_mb_message_is_refused_quickly_and_the_node_stays_small():
    with started_node(env=node_env(KEY)) as ((proc, address, _), _):
        [actor] = psutil.Process(proc.pid).children()
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            started = time.monotonic()
            with pytest.raises(uactor.MessageTooLargeError, match="1048576-byte limit"):
                reg.register("h" * HUNDRED_MB)  # refused here: the node said its limit
            refused_locally = time.monotonic() - started
            assert reg.pick() is None  # the connection stays usable
        cut_off, refused_remotely, growth = send_raw_100_mb(address, actor)
        assert cut_off
        assert refused_locally < 10 and refused_remotely < 10, \
            (refused_locally, refused_remotely)
        assert growth < MEMORY_SLACK, f"the node grew by {growth:,} bytes"
        with registry.Registry.connect(address, KEY, timeout=10) as reg:
            reg.register(("10.9.0.3", 3))
            assert reg.pick() == ("10.9.0.3", 3)  # still serving
        proc.terminate()
        status, _, stderr = finish(proc)
    assert status == 0, stderr
    assert "exceeds this actor's 1048576-byte limit (max_message); refused unread" in stderr


@pytest.mark.timeout(120)
def test_control_a_node_that_takes_100_mb_does_grow():
    """The memory check can fail: with a limit above 100 MB the node reads it
    (and a 100 MB bad argument still comes back as a short error)."""
    with started_node("--max-message", str(2 * HUNDRED_MB), env=node_env(KEY)) \
            as ((proc, address, _), _):
        [actor] = psutil.Process(proc.pid).children()
        _, _, growth = send_raw_100_mb(address, actor)
        assert growth > MEMORY_SLACK * 2, f"the node grew by {growth:,} bytes only"
        with registry.Registry.connect(address, KEY, timeout=30) as reg:
            # A 100 MB bad argument it does take comes back quoted, not whole.
            with pytest.raises(registry.InvalidArgumentError) as info:
                reg.register("h" * HUNDRED_MB)
            assert len(str(info.value)) < 1000
            assert "(100,000,002 characters)" in str(info.value)
            assert reg.pick() is None


def test_max_message_is_set_on_the_command_line():
    with started_node("--max-message", "4096", env=node_env(KEY)) as ((_, address, _), _), \
            registry.Registry.connect(address, KEY, timeout=10) as reg:
        with pytest.raises(uactor.MessageTooLargeError, match="4096-byte limit"):
            reg.register(("h" * 5000, 5))
        reg.register(("10.9.0.4", 4))
        assert reg.pick() == ("10.9.0.4", 4)
