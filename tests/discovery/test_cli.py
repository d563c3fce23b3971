"""``python -m discovery``: listing, JSON, watching, verifying, bad arguments."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

import discovery
from discovery.__main__ import main
from tests.discovery.actors import AUTHKEY, LOOPBACK, Echo
from tests.discovery.conftest import ROOT, python_env, read_line, stop_process

TIMEOUT = 30.0


def run_cli(*args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "discovery", *args],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT,
                          env={**python_env(), **(env or {})})


def test_json_lists_the_advertised_actors(unique_name):
    with Echo() as actor, discovery.publish(actor, name=unique_name,
                                            interfaces=LOOPBACK,
                                            properties={"zone": "b"}) as publication:
        # An interface name works as well as an address.
        result = run_cli("--json", "--interface", "lo", "--timeout", "2",
                         "--name", unique_name)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["instance"] == publication.instance
    assert entry["actor_class"] == "tests.discovery.actors:Echo"
    port = actor.connection_address[1]
    assert entry["addresses"] == ["127.0.0.1"]
    assert entry["port"] == port and entry["endpoints"] == [f"127.0.0.1:{port}"]
    assert entry["bind"] == list(actor.connection_address)
    assert entry["properties"] == {"zone": "b"}
    assert (entry["status"], entry["alive"]) == ("advertised", False)
    # Signed with the actor's own key by default; without it, not verifiable.
    assert (entry["signed"], entry["verified"], entry["signature"]) == (
        True, False, "unverified")


def test_table_with_verification(unique_name):
    with Echo() as actor, discovery.publish(actor, name=unique_name,
                                            interfaces=LOOPBACK, authkey=AUTHKEY):
        result = run_cli("-i", "127.0.0.1", "-t", "2", "--name", unique_name,
                         "--verify", env={"UACTOR_AUTHKEY": AUTHKEY.decode()})
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["INSTANCE", "CLASS", "ROLE", "HOST", "ENDPOINTS",
                              "BIND", "SIGNATURE", "STATUS"]
    assert row.startswith(unique_name + " @ ")
    assert row.split()[-2:] == ["verified", "alive"]
    assert f" 127.0.0.1:{actor.connection_address[1]} " in row


@pytest.mark.parametrize("where", ["default key file", "UACTOR_AUTHKEY_FILE"])
def test_verify_finds_the_key_as_every_uactor_tool_does(where, key_home, tmp_path,
                                                         unique_name):
    path = key_home if where == "default key file" else tmp_path / "key"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(AUTHKEY + b"\n")
    path.chmod(0o600)
    env = {} if where == "default key file" else {"UACTOR_AUTHKEY_FILE": str(path)}
    with Echo() as actor, discovery.publish(actor, name=unique_name, interfaces=LOOPBACK):
        result = run_cli("-i", "lo", "-t", "2", "--name", unique_name, "--json",
                         "--verify", env=env)
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert (entry["verified"], entry["status"]) == (True, "alive")


def test_verify_with_the_wrong_key_names_what_it_refused(unique_name):
    with Echo() as actor, discovery.publish(actor, name=unique_name,
                                            interfaces=LOOPBACK) as publication:
        result = run_cli("-i", "127.0.0.1", "-t", "2", "--name", unique_name,
                         "--verify", env={"UACTOR_AUTHKEY": "wrong"})
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "no advert passed verification"
    label = publication.instance.split("._uactor")[0]
    assert lines[1] == (f"uactor-discover: refused {label!r}: advert signature does "
                        "not match (forged, altered, or signed with another authkey)")


@pytest.mark.parametrize("interface, message", [
    ("nosuch0", "interface 'nosuch0' is neither an interface of this host nor an "
                "IP address; this host has lo (127.0.0.1"),
    ("192.0.2.250", "interface address '192.0.2.250' is not an address of this host"),
    ("fd00:dead::1", "interface address 'fd00:dead::1' is not an address of this host"),
])
def test_a_bad_interface_is_one_line(interface, message):
    result = run_cli("-i", interface, "-t", "0.3")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"uactor-discover: --interface: {message}")


def test_nothing_found_is_said_on_stderr(unique_name):
    result = run_cli("-i", "127.0.0.1", "-t", "0.3", "--name", unique_name)
    assert (result.returncode, result.stdout) == (0, "")
    assert "no uactor actors advertised" in result.stderr


def test_watch_prints_changes_until_interrupted(unique_name):
    with Echo() as actor:
        publication = discovery.publish(actor, name=unique_name, interfaces=LOOPBACK)
        proc = subprocess.Popen(
            [sys.executable, "-m", "discovery", "--watch", "--json", "-i",
             "127.0.0.1", "--name", unique_name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=python_env())
        try:
            added = json.loads(read_line(proc, TIMEOUT))
            publication.close()
            removed = json.loads(read_line(proc, TIMEOUT))
            proc.send_signal(signal.SIGINT)
            assert proc.wait(TIMEOUT) == 0
        finally:
            publication.close()
            stop_process(proc)
    assert (added["event"], removed["event"]) == ("add", "remove")
    assert added["entry"]["instance"] == removed["entry"]["instance"] == \
        publication.instance


@pytest.mark.parametrize("argv, message", [
    (["--timeout", "0"], "--timeout must be a positive"),
    (["--verify"], "--verify needs the authkey: no authkey found: looked at "
                   "$UACTOR_AUTHKEY, $UACTOR_AUTHKEY_FILE"),
    (["--authkey-file", "/nonexistent"], "only used with --verify"),
    (["--verify", "--authkey-file", "/nonexistent/key"],
     "--verify needs the authkey: cannot read authkey file /nonexistent/key"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_arguments_exit_with_status_2(argv, message, capsys, key_home):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err
