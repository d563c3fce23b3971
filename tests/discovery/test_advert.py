"""The advert rules on their own: TXT layout, signatures, names, addresses."""
from __future__ import annotations

import time

import pytest

import discovery
from discovery import _advert
from discovery._advert import (
    MAX_LABEL_BYTES,
    build_txt,
    check_advert,
    check_signature,
    import_class,
    instance_label,
    parse_advert,
    server_name,
    sign,
    signed_addresses,
)
from discovery._errors import BadAdvertError
from discovery._interfaces import host_addresses, resolve
from tests.discovery.actors import Echo

INSTANCE = f"Echo @ host:4711.{discovery.SERVICE_TYPE}"
SERVER = "host-0123abcd.local."
KEY = b"secret"


def txt(**overrides: object) -> dict[str, str]:
    values = dict(actor_class="tests.discovery.actors:Echo", name="Echo", role="actor",
                  bind=("0.0.0.0", 4711), pid=42, hostname="host", version="0.2",
                  serializer="pickle", addresses=["127.0.0.1"])
    values.update(overrides)
    return build_txt(**values)  # type: ignore[arg-type]


def signed(fields: dict[str, str], *, key: bytes = KEY, instance: str = INSTANCE,
           port: int = 4711, ts: float | None = None) -> dict[str, str]:
    fields = dict(fields, ts=str(int(time.time() if ts is None else ts)))
    fields["hmac"] = sign(key, instance, SERVER, port, fields)
    return fields


def raw(fields: dict[str, str]) -> dict[bytes, bytes]:
    return {key.encode(): value.encode() for key, value in fields.items()}


def parse(fields: dict | None, *, addresses=("127.0.0.1",), port: int = 4711,
          instance: str = INSTANCE):
    properties = None if fields is None else {
        (k if isinstance(k, bytes) else k.encode()):
        (v if isinstance(v, bytes) or v is None else v.encode())
        for k, v in fields.items()}
    return parse_advert(instance, SERVER, port, list(addresses), properties)


# -- TXT ----------------------------------------------------------------------

def test_txt_round_trip_keeps_every_field_and_never_the_authkey():
    fields = build_txt(actor_class="tests.discovery.actors:Echo", name="workers",
                       role="registry", bind=("0.0.0.0", 4711), pid=42,
                       hostname="host", version="0.2", serializer="xmlrpclib",
                       properties={"zone": "b", "weight": 3}, authkey=KEY)
    assert all(KEY.decode() not in value for value in fields.values())
    entry, decoded = parse(fields)
    assert decoded == fields
    assert (entry.actor_class, entry.name, entry.role) == (
        "tests.discovery.actors:Echo", "workers", "registry")
    assert entry.bind == ("0.0.0.0", 4711)
    assert (entry.pid, entry.hostname, entry.version, entry.serializer) == (
        42, "host", "0.2", "xmlrpclib")
    assert entry.properties == {"zone": "b", "weight": "3"}
    assert entry.addresses == ("127.0.0.1",) and entry.port == 4711
    assert entry.status == "advertised" and not entry.alive and not entry.signed
    assert entry.signature == "none" and not entry.verified
    assert entry.label == "Echo @ host:4711"


@pytest.mark.parametrize("properties, message", [
    ({"class": "x"}, "reserved"),
    ({"hmac": "x"}, "reserved"),
    ({"a=b": "x"}, "without '='"),
    ({"": "x"}, "non-empty"),
    ({"big": "x" * 300}, "255 bytes"),
    ({f"k{i}": "v" * 200 for i in range(8)}, "exceed"),
    ({"token": "my secret"}, "authkey"),
    ({"addrs": "10.0.0.1"}, "reserved"),
    ({"ADDRS2": "10.0.0.1"}, "reserved"),
    ({"obj": object()}, "str, bytes or numbers"),
])
def test_bad_properties_are_refused_with_the_rule(properties, message):
    with pytest.raises((ValueError, TypeError), match=message):
        txt(properties=properties, authkey=KEY)


def test_ipv6_bind_addresses_are_bracketed():
    fields = txt(bind=("::", 4711))
    assert fields["bind"] == "[::]:4711"
    entry, _ = parse(fields)
    assert entry.bind == ("::", 4711)


# -- hostile records ------------------------------------------------------------

@pytest.mark.parametrize("fields, addresses, message", [
    (None, ("127.0.0.1",), "no TXT"),
    ({}, ("127.0.0.1",), "no TXT"),
    ({b"txtvers": b"1", b"class": b"\xff\xfe"}, ("127.0.0.1",), "UTF-8"),
    ({b"\xff": b"x"}, ("127.0.0.1",), "ASCII"),
    ({"txtvers": "1", "class": "a:b\n"}, ("127.0.0.1",), "control"),
    ({"txtvers": "2", "class": "a:b"}, ("127.0.0.1",), "version"),
    ({"txtvers": "1"}, ("127.0.0.1",), "module:qualname"),
    ({"txtvers": "1", "class": "os.system"}, ("127.0.0.1",), "module:qualname"),
    ({"txtvers": "1", "class": "a:<locals>.B"}, ("127.0.0.1",), "module:qualname"),
    ({"txtvers": "1", "class": "a:B", "serializer": "marshal"}, ("127.0.0.1",),
     "serializer"),
    ({"txtvers": "1", "class": "a:B"}, ("0.0.0.0", "224.0.0.251", "255.255.255.255",
                                        "fe80::1", "not-an-ip"), "no usable address"),
    ({"txtvers": "1", "class": "a:B"}, (), "no usable address"),
    ({"txtvers": "1", "class": "a:B", "bind": "nohost"}, ("127.0.0.1",), "host:port"),
    ({"txtvers": "1", "class": "a:B", "bind": "example.com:80"}, ("127.0.0.1",),
     "not an IP"),
    ({"txtvers": "1", "class": "a:B", "bind": "127.0.0.1:70000"}, ("127.0.0.1",),
     "out of range"),
    ({"txtvers": "1", "class": "a:B", **{f"k{i}": "v" * 250 for i in range(6)}},
     ("127.0.0.1",), "larger than"),
])
def test_malformed_adverts_are_refused_with_the_reason(fields, addresses, message):
    with pytest.raises(BadAdvertError, match=message):
        parse(fields, addresses=addresses)


def test_bad_srv_records_are_refused():
    for port in (0, 70000, None):
        with pytest.raises(BadAdvertError, match="SRV"):
            parse_advert(INSTANCE, SERVER, port, ["127.0.0.1"], raw(txt()))
    with pytest.raises(BadAdvertError, match="SRV"):
        parse_advert(INSTANCE, None, 4711, ["127.0.0.1"], raw(txt()))
    with pytest.raises(BadAdvertError, match="instance"):
        parse_advert("x._http._tcp.local.", SERVER, 4711, ["127.0.0.1"], raw(txt()))


def test_usable_addresses_are_kept_and_bad_ones_dropped():
    entry, _ = parse(txt(), addresses=("0.0.0.0", "127.0.0.1", "127.0.0.1",
                                        "fd00::2", "224.0.0.1"))
    assert entry.addresses == ("127.0.0.1", "fd00::2")


# -- signatures -----------------------------------------------------------------

def test_a_fresh_signature_with_the_key_is_accepted():
    entry, fields = parse(signed(txt()))
    assert entry.signed and entry.signature == "unverified" and not entry.verified
    checked = check_advert(entry, fields, KEY, require_signature=True)
    assert checked.signed and checked.verified and checked.signature == "verified"
    assert checked.signed_at == float(fields["ts"])
    # Without a key, what is known is said: signed, not verified.
    unchecked = check_advert(entry, fields, None, require_signature=False)
    assert unchecked.signed and not unchecked.verified
    assert unchecked.as_dict()["signed"] is True
    assert unchecked.as_dict()["verified"] is False


@pytest.mark.parametrize("tamper, message", [
    (lambda f: f.pop("hmac"), "not signed"),
    (lambda f: f.update(hmac="A" * 43), "does not match"),
    (lambda f: f.update(hmac="\u00e9"), "does not match"),
    (lambda f: f.update({"class": "tests.discovery.actors:Other"}), "does not match"),
    (lambda f: f.update(bind="10.0.0.1:4711"), "does not match"),
    (lambda f: f.update(zone="evil"), "does not match"),
])
def test_altered_or_unsigned_adverts_are_refused(tamper, message):
    fields = signed(txt())
    tamper(fields)
    entry, fields = parse(fields)
    with pytest.raises(BadAdvertError, match=message):
        check_advert(entry, fields, KEY, require_signature=True)


def test_a_signature_made_with_another_key_is_refused():
    entry, fields = parse(signed(txt(), key=b"other"))
    with pytest.raises(BadAdvertError, match="another authkey"):
        check_advert(entry, fields, KEY, require_signature=True)


def test_replayed_adverts_are_refused():
    # Too old: a captured advert replayed after the publisher re-signed.
    old = signed(txt(), ts=time.time() - _advert.SIGNATURE_MAX_AGE - 5)
    entry, fields = parse(old)
    with pytest.raises(BadAdvertError, match="old"):
        check_advert(entry, fields, KEY, require_signature=True)
    # Dated in the future.
    with pytest.raises(BadAdvertError, match="future"):
        check_signature(KEY, INSTANCE, SERVER, 4711,
                        signed(txt(), ts=time.time() + 3600))
    # A valid TXT replayed under another instance name or port.
    fields = signed(txt())
    other = f"Echo @ evil:4711.{discovery.SERVICE_TYPE}"
    entry, decoded = parse(fields, instance=other)
    with pytest.raises(BadAdvertError, match="does not match"):
        check_advert(entry, decoded, KEY, require_signature=True)
    entry, decoded = parse(fields, port=4712)
    with pytest.raises(BadAdvertError, match="does not match .the SRV record says "
                                             "port 4712, the advert port 4711"):
        check_advert(entry, decoded, KEY, require_signature=True)


def test_signed_adverts_cover_their_addresses():
    fields = signed(txt(addresses=["127.0.0.1", "fd00::1"]))
    assert fields["addrs"] == "127.0.0.1,fd00::1"
    # Replayed with the attacker's address record instead: refused.
    entry, decoded = parse(fields, addresses=("192.0.2.66",))
    with pytest.raises(BadAdvertError, match="192.0.2.66 are not among the signed "
                                             "addresses 127.0.0.1, fd00::1"):
        check_advert(entry, decoded, KEY, require_signature=True)
    # With an extra record next to the genuine ones: only the signed are used.
    entry, decoded = parse(fields, addresses=("192.0.2.66", "fd00:0:0::1", "127.0.0.1"))
    checked = check_advert(entry, decoded, KEY, require_signature=True)
    assert checked.addresses == ("fd00::1", "127.0.0.1")
    # The address list itself cannot be altered: it is signed like the rest.
    decoded["addrs"] = "192.0.2.66"
    with pytest.raises(BadAdvertError, match="does not match"):
        check_advert(entry, decoded, KEY, require_signature=True)
    # A signed advert of a publisher that lists no addresses is refused.
    old = signed({key: value for key, value in txt().items() if key != "addrs"})
    entry, decoded = parse(old)
    with pytest.raises(BadAdvertError, match="lists no addresses"):
        check_advert(entry, decoded, KEY, require_signature=True)
    # Unsigned adverts carry the list but nothing checks it.
    entry, decoded = parse(txt(), addresses=("192.0.2.66",))
    assert check_advert(entry, decoded, None, require_signature=False).addresses == (
        "192.0.2.66",)


def test_many_addresses_are_listed_in_several_strings():
    many = [f"fd00:1234:5678:9abc::{index:x}" for index in range(1, 31)]
    fields = txt(addresses=many)
    assert {"addrs", "addrs2", "addrs3"} <= set(fields)
    assert all(len(f"{key}={value}".encode()) <= 255 for key, value in fields.items())
    assert signed_addresses(fields) == many
    entry, decoded = parse(signed(fields), addresses=tuple(reversed(many)))
    checked = check_advert(entry, decoded, KEY, require_signature=True)
    assert sorted(checked.addresses) == sorted(many)
    assert checked.properties == {}  # addrs2... are no user properties


def test_unsigned_adverts_pass_only_when_no_signature_is_required():
    entry, fields = parse(txt())
    assert not check_advert(entry, fields, KEY, require_signature=False).signed
    assert not check_advert(entry, fields, None, require_signature=False).signed
    with pytest.raises(BadAdvertError, match="no authkey"):
        check_advert(entry, fields, None, require_signature=True)


# -- names and addresses --------------------------------------------------------

def test_instance_labels_are_unique_per_host_and_port_and_fit_a_dns_label():
    a = instance_label("Echo", "host", ("0.0.0.0", 4711))
    assert a == "Echo @ host:4711"
    assert instance_label("Echo", "host", ("127.0.0.1", 4711)) == \
        "Echo @ host/127-0-0-1:4711"
    assert instance_label("Echo", "host", ("0.0.0.0", 4712)) != a
    assert instance_label("Echo", "host", ("0.0.0.0", 4711), 2) == \
        "Echo @ host:4711 (2)"
    long = instance_label("É" * 100 + ".\x01", "h" * 30, ("0.0.0.0", 65535), 12)
    assert len(long.encode()) <= MAX_LABEL_BYTES and long.endswith(":65535 (12)")
    assert "." not in long and "\x01" not in long
    huge = instance_label("Echo", "h" * 200, ("0.0.0.0", 1))
    assert len(huge.encode()) <= MAX_LABEL_BYTES


def test_server_names_differ_per_address_set():
    first = server_name("my host", ["127.0.0.1"])
    assert first == server_name("my host", ["127.0.0.1"])
    assert first != server_name("my host", ["127.0.0.1", "192.0.2.1"])
    assert first.startswith("my-host-") and first.endswith(".local.")


def test_unspecified_hosts_become_the_interface_addresses():
    assert host_addresses(resolve(["127.0.0.1"]), "0.0.0.0") == ["127.0.0.1"]
    assert host_addresses(resolve(["127.0.0.1", "::1"]), "::") == ["127.0.0.1", "::1"]
    # Loopback carries no IPv6 multicast: by name, it is its IPv4 address.
    assert resolve(["lo"]) == ("127.0.0.1",)
    assert host_addresses(resolve(["lo"]), "::") == ["127.0.0.1"]
    # IPv4 socket, IPv6 interface: nothing to advertise.
    assert host_addresses(resolve(["::1"]), "0.0.0.0") == []
    assert host_addresses(resolve(["127.0.0.1"]), "192.0.2.5") == ["192.0.2.5"]
    assert host_addresses(None, "fd00:0::5") == ["fd00::5"]  # canonical
    everywhere = host_addresses(None, "0.0.0.0")
    assert everywhere and all(":" not in address for address in everywhere)


def test_ipv6_endpoints_are_bracketed_with_their_port():
    entry, _ = parse(txt(bind=("::", 4711)), addresses=("fd00::1", "127.0.0.1"))
    assert entry.as_dict()["endpoints"] == ["[fd00::1]:4711", "127.0.0.1:4711"]
    assert entry.endpoints()[0] == (("fd00::1", 4711), [("::", 4711)])


def test_entries_capture_the_bind_address_when_it_differs():
    entry, _ = parse(txt(bind=("0.0.0.0", 4711)), addresses=("127.0.0.1", "10.1.1.1"))
    assert entry.endpoints() == [
        (("127.0.0.1", 4711), [("0.0.0.0", 4711)]),
        (("10.1.1.1", 4711), [("0.0.0.0", 4711)]),
    ]
    entry, _ = parse(txt(bind=("127.0.0.1", 4711)))
    assert entry.endpoints() == [(("127.0.0.1", 4711), [])]


def test_classes_are_imported_only_from_well_formed_paths():
    assert import_class("tests.discovery.actors:Echo") is Echo
    assert _advert.class_path(Echo) == "tests.discovery.actors:Echo"
    with pytest.raises(ImportError, match="module:qualname"):
        import_class("os; rm -rf /:x")
    with pytest.raises(ImportError):
        import_class("tests.discovery.no_such_module:Echo")
    with pytest.raises(AttributeError):
        import_class("tests.discovery.actors:NoSuchClass")
    with pytest.raises(ImportError, match="not a class"):
        import_class("tests.discovery.actors:AUTHKEY")


def test_public_surface_is_all():
    names = {name for name in vars(discovery) if not name.startswith("_")}
    modules = {"aio", "annotations"}  # submodule; the __future__ import
    def isort_order(name: str) -> tuple[int, str]:  # CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert sorted(discovery.__all__, key=isort_order) == discovery.__all__
    assert set(discovery.__all__) == names - modules


def test_errors_are_one_tree_named_by_their_public_module():
    errors = [getattr(discovery, name) for name in discovery.__all__
              if name.endswith("Error")]
    assert {error.__name__ for error in errors} == {
        "DiscoveryError", "DiscoveryTimeoutError", "PublicationError",
        "UnknownInterfaceError"}
    for error in errors:
        assert issubclass(error, discovery.DiscoveryError)
        assert error.__module__ == "discovery"  # as tracebacks print it
    assert issubclass(discovery.DiscoveryTimeoutError, TimeoutError)
    assert issubclass(discovery.UnknownInterfaceError, ValueError)
    assert issubclass(BadAdvertError, discovery.DiscoveryError)
