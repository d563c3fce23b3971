"""Actors on IPv6: loopback, '::' (dual-stack), scoped link-local, clear errors.

'::' binds every interface, so those tests run only in a private network
namespace holding loopback alone (as .ci/run does); the scoped link-local
and IPv6-disabled cases build their own namespace in a subprocess.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import uactor
from tests.core.transport_actors import KEY, Store, WildStore

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
ISOLATED = [name for _, name in socket.if_nameindex()] == ["lo"]
needs_isolated_net = pytest.mark.skipif(
    not ISOLATED, reason="binds '::': runs only inside a private network namespace")
needs_netns = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None
    or not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
    reason="needs root, unshare and ip for a private network namespace")


@needs_ipv6
def test_an_actor_on_ipv6_loopback_serves_calls_and_result_proxies():
    with uactor.start(Store, options={"address": ("::1", 0)}) as actor:
        host, port = actor.connection_address
        assert host == "::1"
        assert uactor._describe(actor.connection_address) == f"[::1]:{port}"
        client = Store.connect(("::1", port), KEY)
        assert client.getpid() == actor.getpid()
        inner = client.get_inner()
        inner.append("v6")
        assert inner._token.address == ("::1", port)
        assert list(inner) == ["v6"]
        bracketed = Store.connect(("[::1]", port), KEY)  # brackets are accepted
        assert bracketed.connection_address == ("::1", port)


@needs_ipv6
@needs_isolated_net
def test_an_actor_on_the_ipv6_wildcard_is_dual_stack_and_forwards_proxies():
    with WildStore() as actor:
        bind, port = actor.connection_address
        assert bind == "::"
        for host in ("::1", "127.0.0.1"):  # IPv6 and IPv4 clients both reach it
            client = WildStore.connect((host, port), KEY)
            assert client.getpid() == actor.getpid()
            inner = client.get_inner()  # its token says '::': mapped to the address used
            assert inner._token.address == (host, port)
            inner.append(host)
        assert actor.count() == 2
        client = WildStore.connect(("::1", port), KEY)
        partner_bind = client.make_partner()
        assert partner_bind[0] == "::"
        route = WildStore.connect(("::1", partner_bind[1]), KEY, capture=[partner_bind])
        partner = client.get_partner()  # a forwarded proxy, through the capture route
        assert partner._token.address == ("::1", partner_bind[1])
        assert partner.getpid() == route.getpid() != actor.getpid()


def test_ipv6_addresses_give_clear_errors():
    with pytest.raises(ValueError, match=r"link-local address 'fe80::1' needs the "
                                         r"interface it is on: .*'fe80::1%eth0'"):
        uactor.start(Store, options={"address": ("fe80::1", 0)})
    with pytest.raises(ValueError, match="link-local"):
        Store.connect(("fe80::1", 5000), KEY)
    if _has_ipv6_loopback():
        with pytest.raises(uactor.ActorAddressError,
                           match=r"cannot listen on \[2001:db8::1\]:0: it is not an "
                                 "address of this host") as raised:
            uactor.start(Store, options={"address": ("2001:db8::1", 0)})
        assert isinstance(raised.value, OSError)
        assert "\n" not in str(raised.value)


def test_an_address_in_use_is_one_clear_error():
    with Store() as actor, pytest.raises(uactor.ActorAddressError,
                       match=r"cannot listen on 127\.0\.0\.1:\d+: the address is already "
                             "in use"):
        uactor.start(Store, options={"address": actor.connection_address})


def _in_new_namespace(script: str) -> str:
    """Run ``script`` in a fresh network namespace; its standard output."""
    prelude = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", prelude + textwrap.dedent(script)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_netns
@pytest.mark.netns
def test_an_actor_on_a_scoped_link_local_address():
    out = _in_new_namespace("""
        import subprocess
        import uactor
        from tests.core.transport_actors import KEY, Store
        for command in ("ip link set lo up",
                        "ip link add ua0 type veth peer name ua1",
                        "ip -6 addr add fe80::1/64 dev ua0 nodad",
                        "ip link set ua0 up", "ip link set ua1 up"):
            subprocess.run(command.split(), check=True)
        with uactor.start(Store, options={"address": ("fe80::1%ua0", 0)}) as actor:
            host, port = actor.connection_address
            client = Store.connect(("fe80::1%ua0", port), KEY)
            inner = client.get_inner()
            inner.append(1)
            print(host, client.getpid() == actor.getpid(), list(inner))
    """)
    assert out.split() == ["fe80::1%ua0", "True", "[1]"]


@needs_netns
@pytest.mark.netns
def test_ipv6_disabled_is_one_clear_error_and_the_wildcard_still_serves_ipv4():
    out = _in_new_namespace("""
        import subprocess
        import uactor
        from tests.core.transport_actors import KEY, Store
        subprocess.run("ip link set lo up".split(), check=True)
        for name in ("all", "default", "lo"):
            subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{name}.disable_ipv6=1"],
                           check=True)
        try:
            uactor.start(Store, options={"address": ("::1", 0)})
        except uactor.ActorAddressError as exc:
            print(exc)
        with uactor.start(Store, options={"address": ("::", 0)}) as actor:
            port = actor.connection_address[1]
            print(Store.connect(("127.0.0.1", port), KEY).getpid() == actor.getpid())
    """)
    error, served = out.strip().splitlines()
    assert error.startswith("cannot listen on [::1]:0: IPv6 is not available on this system")
    assert served == "True"
