"""Who can do what to a registry node: real attacks, with controls.

Each attack is the real thing (another local user via ``setpriv``, a pickle
whose ``__reduce__`` would create a marker directory), and each test tells
"refused by the defence" from "the harness broke": the same payload creates
the marker when unpickled without the defence, and the same script connects
when it holds the key.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import registry
from tests.registry.test_cli import _env, _finish, started_node

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

    with started_node(env=_env(None)) as (proc, address, path):
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
            assert attempt["empty_key"].startswith("AuthenticationError"), attempt
            assert attempt["guessed_key"].startswith("AuthenticationError"), attempt
            assert "FAILURE" in attempt["raw_payload"] or "closed" in attempt["raw_payload"]
        assert not marker.exists(), "the intruder's payload ran in the node"

        # Controls: the script connects when it holds the key, and the payload
        # creates the marker when something unpickles it.
        holder = run_intruder(address, marker, "--authkey-hex", key.hex())
        assert holder["given_key"] == "connected"
        assert not marker.exists()
        with registry.Registry.connect(address, key, timeout=10) as reg:
            assert reg.pick() is None  # the node kept serving
        proc.terminate()
        status, _, stderr = _finish(proc)
    assert status == 0, stderr
    assert_payload_works(report["payload"], marker)

