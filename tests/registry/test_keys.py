"""The authkey lookup order and the default key file (registry._keys)."""
from __future__ import annotations

import logging
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

import registry
import uactor
from registry._keys import create_default_key, default_key_paths, lookup_authkey

NOBODY = 65534


def write_key(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


# -- the lookup order ---------------------------------------------------------------


def test_nothing_found_lists_every_place_looked_at(key_home):
    with pytest.raises(registry.AuthkeyLookupError) as info:
        registry.find_authkey()
    message = str(info.value)
    for place in ("$UACTOR_AUTHKEY", "$UACTOR_AUTHKEY_FILE", str(key_home)):
        assert place in message
    assert "authkey=b'...'" in message


def test_argument_then_environment_then_default_file(key_home, monkeypatch, tmp_path):
    write_key(key_home, b"from-default-file\n")
    assert registry.find_authkey() == b"from-default-file"
    monkeypatch.setenv("UACTOR_AUTHKEY_FILE", str(write_key(tmp_path / "k", b"from-env-file")))
    assert registry.find_authkey() == b"from-env-file"
    monkeypatch.delenv("UACTOR_AUTHKEY_FILE")
    monkeypatch.setenv("UACTOR_AUTHKEY", "from-env")
    assert registry.find_authkey() == b"from-env"
    assert registry.find_authkey(b"from-argument") == b"from-argument"
    assert registry.find_authkey(authkey_file=tmp_path / "k") == b"from-env-file"


def test_lookup_names_where_the_key_came_from(key_home, monkeypatch):
    write_key(key_home, b"k")
    source = lookup_authkey()
    assert (source.key, source.path) == (b"k", key_home)
    assert source.describe() == f"authkey in {key_home}"
    assert "b'k'" not in repr(source)  # the key never shows in a repr
    monkeypatch.setenv("UACTOR_AUTHKEY", "k2")
    assert lookup_authkey().describe() == "authkey from $UACTOR_AUTHKEY"


@pytest.mark.parametrize("setting, words", [
    ({"UACTOR_AUTHKEY": ""}, ["$UACTOR_AUTHKEY", "empty"]),
    ({"UACTOR_AUTHKEY_FILE": ""}, ["$UACTOR_AUTHKEY_FILE", "empty"]),
    ({"UACTOR_AUTHKEY": "a", "UACTOR_AUTHKEY_FILE": "/k"}, ["both", "unset one"]),
    ({"UACTOR_AUTHKEY_FILE": "/nonexistent/key"}, ["cannot read", "/nonexistent/key"]),
])
def test_unusable_environment_is_an_error_not_skipped(key_home, monkeypatch, setting, words):
    write_key(key_home, b"would-be-used-otherwise")
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(registry.AuthkeyLookupError) as info:
        registry.find_authkey()
    for word in words:
        assert word in str(info.value)


def test_a_str_key_gets_the_cores_own_words(key_home):
    with pytest.raises(TypeError) as core:
        uactor.Actor.connect(("127.0.0.1", 9), "secret")
    with pytest.raises(registry.InvalidArgumentError) as ours:
        registry.find_authkey("secret")
    assert str(ours.value) == str(core.value) == \
        "authkey must be bytes, not str; pass it as b'...'"


def test_empty_keys_are_refused(key_home, tmp_path):
    with pytest.raises(registry.AuthkeyLookupError, match="empty"):
        registry.find_authkey(b"")
    with pytest.raises(registry.AuthkeyLookupError, match="empty"):
        registry.find_authkey(authkey_file=write_key(tmp_path / "blank", b"\n"))


def test_one_trailing_newline_is_not_part_of_the_key(key_home, tmp_path):
    assert registry.find_authkey(authkey_file=write_key(tmp_path / "a", b"k\r\n")) == b"k"
    assert registry.find_authkey(authkey_file=write_key(tmp_path / "b", b"k\n\n")) == b"k\n"


def test_an_explicit_key_file_readable_by_others_only_warns(key_home, tmp_path, caplog):
    path = write_key(tmp_path / "shared", b"k", mode=0o644)
    with caplog.at_level(logging.WARNING, logger="registry"):
        assert registry.find_authkey(authkey_file=path) == b"k"
    assert f"{path} can be read by other users" in caplog.text


# -- the default key file -------------------------------------------------------------


def test_runtime_dir_first_then_state_dir(key_home, monkeypatch, tmp_path):
    runtime, state = default_key_paths()
    assert runtime == key_home
    assert state == tmp_path / "xdg-state" / "uactor" / "authkey"
    write_key(state, b"in-state-dir")
    assert registry.find_authkey() == b"in-state-dir"
    # A runtime directory other users can enter is not one (XDG spec): skipped.
    Path(os.environ["XDG_RUNTIME_DIR"]).chmod(0o755)
    assert default_key_paths() == [state]
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_key_paths() == [tmp_path / "home/.local/state/uactor/authkey"]


def test_a_keyless_node_writes_a_private_key_once_and_reuses_it(key_home):
    first = create_default_key()
    assert first.path == key_home
    assert len(first.key) == 64 and bytes.fromhex(first.key.decode())  # 32 random bytes
    assert stat.S_IMODE(key_home.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_home.parent.stat().st_mode) == 0o700
    assert create_default_key() == first
    assert registry.find_authkey() == first.key
    assert sorted(os.listdir(key_home.parent)) == ["authkey"]  # no temporary left


def _create_at_once(barrier, results):
    barrier.wait(10)
    results.put(create_default_key().key)


def test_nodes_starting_at_once_agree_on_one_key(key_home):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    processes = [ctx.Process(target=_create_at_once, args=(barrier, results))
                 for _ in range(4)]
    for process in processes:
        process.start()
    try:
        keys = {results.get(timeout=20) for _ in processes}
    finally:
        for process in processes:
            process.join(20)
        results.close()
        results.join_thread()
    assert [process.exitcode for process in processes] == [0] * 4
    assert keys == {key_home.read_bytes().rstrip(b"\n")}
    assert sorted(os.listdir(key_home.parent)) == ["authkey"]


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_default_key_file_others_can_read_is_refused(key_home, mode):
    write_key(key_home, b"leaked", mode=mode)
    for attempt in (registry.find_authkey, create_default_key):
        with pytest.raises(registry.AuthkeyLookupError, match=f"mode {mode:04o}.*chmod 600"):
            attempt()


def test_a_default_key_file_that_is_a_symlink_is_refused(key_home, tmp_path):
    target = write_key(tmp_path / "elsewhere", b"planted")
    key_home.parent.mkdir(mode=0o700)
    key_home.symlink_to(target)
    with pytest.raises(registry.AuthkeyLookupError, match="symbolic link"):
        registry.find_authkey()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_default_key_file_of_another_user_is_refused(key_home):
    write_key(key_home, b"planted")
    os.chown(key_home, NOBODY, NOBODY)
    with pytest.raises(registry.AuthkeyLookupError, match=f"user id {NOBODY}"):
        registry.find_authkey()


def test_a_key_directory_others_can_enter_is_refused(key_home):
    key_home.parent.mkdir(mode=0o755)
    key_home.parent.chmod(0o755)
    with pytest.raises(registry.AuthkeyLookupError, match="chmod 700"):
        create_default_key()
    assert not key_home.exists()
