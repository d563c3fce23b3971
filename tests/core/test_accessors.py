"""Public accessors the registry and discovery packages use (issue 12, section 2)."""
from __future__ import annotations

import pytest

import uactor
from tests.core.actors import Echo, NetworkActor


@pytest.mark.timeout(60)
def test_owner_proxy_accessors():
    with Echo() as echo:
        assert uactor.actor_class(echo) is Echo
        assert uactor.serializer(echo) == "pickle"
        process = uactor.process(echo)
        assert process is not None and process.pid == echo.getpid()
        assert isinstance(uactor.authkey(echo), bytes) and uactor.authkey(echo)
        assert uactor.call_timeout(echo) is None


@pytest.mark.timeout(60)
def test_connected_proxy_accessors():
    with NetworkActor() as owner:
        remote = NetworkActor.connect(owner.connection_address, b"SECRET", timeout=5)
        assert uactor.actor_class(remote) is NetworkActor
        assert uactor.process(remote) is None  # not started by this process
        assert uactor.authkey(remote) == b"SECRET"
        assert uactor.call_timeout(remote) == 5.0
        uactor.set_call_timeout(remote, None)
        assert uactor.call_timeout(remote) is None
        uactor.set_call_timeout(remote, 0.2)
        with pytest.raises(uactor.CallTimeoutError):
            remote.sleep(2)
        with pytest.raises(ValueError, match="positive"):
            uactor.set_call_timeout(remote, 0)


@pytest.mark.timeout(60)
def test_result_proxies_have_no_actor_class():
    with NetworkActor() as owner:
        inner = owner.get_inner()
        assert list(inner) == [1, 2, 3]
        assert uactor.authkey(inner) == b"SECRET"
        with pytest.raises(TypeError, match="not an actor proxy"):
            uactor.actor_class(inner)
    with pytest.raises(TypeError, match="expected a uactor proxy, not int"):
        uactor.serializer(1)


@pytest.mark.timeout(60)
def test_remote_traceback_tells_actor_errors_from_local_ones():
    with Echo() as echo:
        with pytest.raises(KeyError) as raised:
            echo.fail(KeyError, "gone")
        text = uactor.remote_traceback(raised.value)
        assert text is not None and "KeyError" in text and "def fail" not in text
        assert "raise kind(message)" in text
    assert uactor.remote_traceback(ValueError("local")) is None


@pytest.mark.timeout(60)
def test_not_held_error_when_a_new_actor_took_the_address():
    first = NetworkActor()
    address = first.connection_address
    remote = NetworkActor.connect(address, b"SECRET")
    remote.getpid()
    first.shutdown()
    with uactor.start(NetworkActor, options={"address": address}) as second:
        assert second.connection_address == address
        uactor.discard_closed_connection(remote)  # the old actor closed it
        with pytest.raises(uactor.NotHeldError, match="not .or no longer. held") as raised:
            remote.getpid()  # the new actor never held the old proxy's object
        assert isinstance(raised.value, uactor.ProxyError)
        assert uactor.remote_traceback(raised.value) == ""  # nothing ran


@pytest.mark.timeout(60)
def test_discard_closed_connection():
    with NetworkActor() as owner:
        remote = NetworkActor.connect(owner.connection_address, b"SECRET")
        assert uactor.discard_closed_connection(remote) is False  # none yet
        remote.getpid()
        assert uactor.discard_closed_connection(remote) is False  # open and idle
    # The actor is gone: its end of the cached connection closed.
    assert uactor.discard_closed_connection(remote) is True
    assert uactor.discard_closed_connection(remote) is False
    with pytest.raises(uactor.ActorConnectionError):
        remote.getpid()
