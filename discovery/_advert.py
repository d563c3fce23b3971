"""What an advert says: TXT layout, signatures, instance names, addresses.

Everything here is pure (no sockets, no zeroconf instance), so the rules for
turning an actor into DNS-SD records, and untrusted records back into an
:class:`Entry`, can be read and tested on their own.  Records that come from
the network are hostile until proven otherwise: :func:`parse_advert` checks
every field and raises :class:`~discovery._errors.BadAdvertError` naming the
rule broken.

A signed advert covers everything a client acts on: the instance and host
names, the port, every TXT property, and (through the ``addrs`` property)
every address it announces, in canonical form.  A browser uses only the
announced A/AAAA records that the signature lists, so an advert recorded and
replayed with another address or port leads nobody anywhere else.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._errors import BadAdvertError

__all__ = [
    "SERVICE_TYPE",
    "Entry",
]

log = logging.getLogger("discovery")

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: DNS-SD service type every uactor advert uses (RFC 6763 §7).
SERVICE_TYPE = "_uactor._tcp.local."

#: Version of the TXT layout below; browsers skip adverts of other versions.
TXT_VERSION = "1"

#: TXT keys written by :func:`build_txt`; user properties may not use them
#: (nor ``addrs2``, ``addrs3``...: see :data:`ADDRESS_KEY`).
RESERVED_KEYS = frozenset({
    "txtvers", "class", "name", "role", "bind", "pid", "hostname", "uactor",
    "serializer", "ts", "hmac", "addrs",
})

#: TXT key listing the advertised addresses, comma-separated, canonical;
#: continued in ``addrs2``, ``addrs3``... when one DNS string cannot hold them.
ADDRESS_KEY = "addrs"

#: Longest ``key=value`` string of a TXT record (bytes): a DNS
#: character-string holds 255.
MAX_TXT_STRING = 255

#: Largest TXT record we publish or accept (bytes): RFC 6763 §6.2 advises
#: keeping it under 1300 bytes so the whole advert fits one packet.
MAX_TXT_BYTES = 1300

#: DNS limit for one label (bytes), which bounds an instance name (RFC 1035).
MAX_LABEL_BYTES = 63

#: Serializers uactor understands; an advert naming another one is skipped.
SERIALIZERS = ("pickle", "xmlrpclib")

#: Oldest signed advert a browser accepts (s).  Publishers re-sign well
#: before this (:data:`SIGNATURE_REFRESH`), so only a replay or a publisher
#: that died without a goodbye ages past it.
SIGNATURE_MAX_AGE = 300.0

#: How far in the future a signature's timestamp may lie (s): clock skew
#: between hosts.
SIGNATURE_MAX_SKEW = 60.0

#: Interval between re-signatures of a published advert (s).
SIGNATURE_REFRESH = 60.0

#: Accepted spelling of an actor class in TXT: ``module:qualname``.
_CLASS_PATTERN = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
    r":[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

#: Domain-separation prefix of the signed message.
_SIGNATURE_CONTEXT = b"uactor-advert-v1"

#: Values the kernel accepts for an unspecified bind host.
UNSPECIFIED_HOSTS = frozenset({"0.0.0.0", "::", ""})

Address = tuple[str, int]


# --------------------------------------------------------------------------
# Hostile input logging: warn once, then debug
# --------------------------------------------------------------------------

_warned_lock = threading.Lock()
_warned = False


def log_bad_advert(name: str, reason: object) -> None:
    """Log a skipped advert: a warning the first time, debug afterwards."""
    global _warned
    with _warned_lock:
        first, _warned = not _warned, True
    if first:
        log.warning("skipping advert %r: %s (further skipped adverts are "
                    "logged at debug level)", name, reason)
    else:
        log.debug("skipping advert %r: %s", name, reason)


# --------------------------------------------------------------------------
# The entry a browser hands out
# --------------------------------------------------------------------------

#: Values of :attr:`Entry.status`.
ADVERTISED, ALIVE, DEAD = "advertised", "alive", "dead"

#: Values of :attr:`Entry.signature`.
UNSIGNED, UNVERIFIED, VERIFIED = "none", "unverified", "verified"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One advertised actor, as a browser sees it.

    An advert is a hint, not proof of life: :attr:`status` is ``'advertised'``
    until a browser holding the authkey has connected, authenticated and made
    a call (``'alive'``), or failed to (``'dead'``).
    """

    #: Full DNS-SD instance name, e.g. ``'Worker @ host:4711._uactor._tcp.local.'``.
    instance: str
    #: Service name the actor is published under (default: class qualname).
    name: str
    #: Actor class as ``module:qualname``.
    actor_class: str
    #: ``'actor'``, ``'registry'`` or another role chosen by the publisher.
    role: str
    #: Target host name of the SRV record.
    server: str
    #: Addresses to try, in order (for a verified advert, only those its
    #: signature lists).
    addresses: tuple[str, ...]
    #: TCP port the actor listens on.
    port: int
    #: The actor's own bind address (used as ``capture`` when connecting).
    bind: Address
    pid: int | None
    hostname: str
    #: uactor version of the publisher.
    version: str
    serializer: str
    #: The publisher's extra TXT properties.
    properties: Mapping[str, str]
    #: ``'verified'`` (signed with this browser's authkey, checked),
    #: ``'unverified'`` (signed, but this browser has no key to check it) or
    #: ``'none'`` (not signed).
    signature: str = UNSIGNED
    #: Unix time the publisher signed the advert, once verified; else None.
    signed_at: float | None = None
    #: ``'advertised'``, ``'alive'`` or ``'dead'``.
    status: str = ADVERTISED
    #: ``time.monotonic()`` of the last liveness check, or None.
    checked_at: float | None = None

    @property
    def alive(self) -> bool:
        """True when the last liveness check reached the actor."""
        return self.status == ALIVE

    @property
    def signed(self) -> bool:
        """True when the advert carries a signature (verified or not)."""
        return self.signature != UNSIGNED

    @property
    def verified(self) -> bool:
        """True when this browser checked the signature with its authkey."""
        return self.signature == VERIFIED

    @property
    def label(self) -> str:
        """The instance name without the service type."""
        return self.instance[: -len(SERVICE_TYPE) - 1]

    def endpoints(self) -> list[tuple[Address, list[Address]]]:
        """``(address, capture)`` pairs to connect to, in order of preference.

        ``capture`` holds the bind address whenever it differs from the
        address connected to, so proxies the actor returns (whose tokens carry
        its bind address, e.g. ``0.0.0.0:port``) route through the connection.
        """
        plans = []
        for address in self.addresses:
            target = (address, self.port)
            plans.append((target, [self.bind] if self.bind != target else []))
        return plans

    def same_advert(self, other: Entry) -> bool:
        """True when only bookkeeping (liveness, signature time) differs."""
        def core(entry: Entry) -> Entry:
            signed = None if entry.signed_at is None else 0.0
            return dataclasses.replace(entry, status=ADVERTISED, checked_at=None,
                                       signed_at=signed)
        return core(self) == core(other)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the entry."""
        data = dataclasses.asdict(self)
        data["addresses"] = list(self.addresses)
        data["endpoints"] = [format_address(address) for address, _ in self.endpoints()]
        data["bind"] = list(self.bind)
        data["properties"] = dict(self.properties)
        data["label"] = self.label
        data["alive"] = self.alive
        data["signed"] = self.signed
        data["verified"] = self.verified
        del data["checked_at"], data["signed_at"]
        return data


# --------------------------------------------------------------------------
# Actor classes
# --------------------------------------------------------------------------

def class_path(actor_class: type) -> str:
    """``module:qualname`` of ``actor_class``, as written into TXT.

    ``__mp_main__`` (the main module as a spawned child sees it) is written as
    ``__main__`` so parent and children advertise the same class.
    """
    module = actor_class.__module__
    if module == "__mp_main__":
        module = "__main__"
    return f"{module}:{actor_class.__qualname__}"


def import_class(path: str) -> type:
    """Import the class named by ``module:qualname``.

    Raises ImportError (or AttributeError) when it cannot be found; callers
    skip such adverts.
    """
    if not _CLASS_PATTERN.match(path):
        raise ImportError(f"{path!r} is not a module:qualname class path")
    import importlib

    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ImportError(f"{path!r} names {type(obj).__name__}, not a class")
    return obj


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------

def format_address(address: Address) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> Address:
    """Inverse of :func:`format_address`; raises BadAdvertError."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise BadAdvertError(f"bind address {text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise BadAdvertError(f"bind host {host!r} is not an IP address") from None
    port = int(port_text)
    if not 0 < port < 65536:
        raise BadAdvertError(f"bind port {port} is out of range")
    return host, port


def usable_address(text: str) -> str | None:
    """``text`` as a canonical IP if a client may connect to it, else None.

    Unspecified, multicast, broadcast and reserved addresses are refused: an
    advert pointing there is either broken or an attempt to misdirect.
    """
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if ip.is_loopback:
        return str(ip)
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return None
    if ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255"):
        return None
    if ip.version == 6 and ip.is_link_local:
        return None  # needs a scope id we cannot trust from the advert
    return str(ip)


# --------------------------------------------------------------------------
# Instance and host names
# --------------------------------------------------------------------------

_process_token = os.urandom(4).hex()


def _new_process_token() -> None:
    global _process_token
    _process_token = os.urandom(4).hex()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_process_token)


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")[:max(limit, 0)]
    return encoded.decode("utf-8", "ignore")


def _clean_label(text: str) -> str:
    """``text`` without ASCII control characters and dots (label safe)."""
    return "".join(ch for ch in text if ch >= " " and ch not in ".\x7f").strip()


def instance_label(name: str, hostname: str, bind: Address, suffix: int = 1) -> str:
    """The instance label (no type), unique per (host, port) by construction.

    ``'Worker @ myhost:4711'``, with the bind host when it is specific
    (``'Worker @ myhost/10-0-0-5:4711'``: one host may bind one port on
    several addresses; dots become dashes, as other mDNS stacks would read a
    dot as a label separator), and ``' (2)'`` etc. after a conflict.  The
    label part is cut so the whole fits one DNS label.
    """
    host, port = bind
    where = _clean_label(hostname) or "host"
    if host not in UNSPECIFIED_HOSTS:
        where = f"{where}/{host.replace('.', '-')}"
    tail = f" @ {where}:{port}" + (f" ({suffix})" if suffix > 1 else "")
    room = MAX_LABEL_BYTES - len(tail.encode("utf-8"))
    if room < 1:  # absurdly long host name: keep it short but unique
        tail = f" @ {port}-{hashlib.sha256(where.encode()).hexdigest()[:8]}"
        room = MAX_LABEL_BYTES - len(tail)
    return (_truncate_utf8(_clean_label(name), room) or "actor") + tail


def server_name(hostname: str, addresses: Sequence[str]) -> str:
    """SRV target for a publication, unique per process and address set.

    Adverts of different processes (or of one process on different address
    sets) never share a host name, so one publisher's goodbye for its address
    records can never withdraw another's.
    """
    digest = hashlib.sha256(
        (_process_token + "|" + ",".join(sorted(addresses))).encode()).hexdigest()
    label = re.sub(r"[^A-Za-z0-9-]+", "-", hostname).strip("-")[:40] or "host"
    return f"{label}-{digest[:8]}.local."


# --------------------------------------------------------------------------
# TXT records and signatures
# --------------------------------------------------------------------------

def _signed_message(instance: str, server: str, port: int,
                    txt: Mapping[str, str]) -> bytes:
    parts = [_SIGNATURE_CONTEXT, instance.lower().encode("utf-8"),
             server.lower().encode("utf-8"), str(port).encode()]
    parts += [f"{key}={txt[key]}".encode() for key in sorted(txt)
              if key != "hmac"]
    # Length-prefix every part so no two layouts produce the same bytes.
    return b"".join(len(part).to_bytes(4, "big") + part for part in parts)


def sign(authkey: bytes, instance: str, server: str, port: int,
         txt: Mapping[str, str]) -> str:
    """HMAC-SHA256 (keyed by ``authkey``) over the advert, base64url."""
    digest = hmac.new(bytes(authkey), _signed_message(instance, server, port, txt),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_signature(authkey: bytes, instance: str, server: str, port: int,
                    txt: Mapping[str, str], *, now: float | None = None,
                    max_age: float = SIGNATURE_MAX_AGE) -> None:
    """Raise BadAdvertError unless ``txt`` carries a fresh, valid HMAC."""
    signature = txt.get("hmac")
    if not signature:
        raise BadAdvertError("advert is not signed (no hmac) but an authkey "
                             "was given; publish it with the authkey")
    expected = sign(authkey, instance, server, port, txt)
    if not hmac.compare_digest(signature.encode("ascii", "replace"),
                               expected.encode("ascii")):
        raise BadAdvertError("advert signature does not match ("
                             + (_port_mismatch(txt, port) or "forged, altered, or "
                                "signed with another authkey") + ")")
    try:
        stamp = float(txt.get("ts", ""))
    except ValueError:
        raise BadAdvertError("signed advert has no valid ts") from None
    now = time.time() if now is None else now
    if stamp < now - max_age:
        raise BadAdvertError(f"advert signature is {now - stamp:.0f} s old, "
                             f"older than {max_age:.0f} s (replayed or stale)")
    if stamp > now + SIGNATURE_MAX_SKEW:
        raise BadAdvertError(f"advert signature is dated {stamp - now:.0f} s in "
                             "the future (check the hosts' clocks)")


def _port_mismatch(txt: Mapping[str, str], port: int) -> str | None:
    """Why a signature failed, when the SRV port is not the advert's own port."""
    try:
        _, bind_port = parse_address(txt.get("bind", ""))
    except BadAdvertError:
        return None
    if bind_port == port:
        return None
    return (f"the SRV record says port {port}, the advert port {bind_port}: "
            "replayed with another port, or altered")


def signed_addresses(txt: Mapping[str, str]) -> list[str]:
    """The addresses listed in ``txt`` (``addrs``, ``addrs2``...), canonical."""
    listed: list[str] = []
    for index in range(1, MAX_TXT_BYTES // MAX_TXT_STRING + 2):
        value = txt.get(ADDRESS_KEY if index == 1 else f"{ADDRESS_KEY}{index}")
        if value is None:
            break
        for text in filter(None, value.split(",")):
            canonical = usable_address(text)
            listed.append(canonical if canonical is not None else text)
    return listed


def address_properties(addresses: Sequence[str]) -> dict[str, str]:
    """TXT properties listing ``addresses``: ``addrs``, then ``addrs2``... as needed."""
    chunks: list[list[str]] = [[]]
    for address in addresses:
        chunk = chunks[-1]
        key = ADDRESS_KEY if len(chunks) == 1 else f"{ADDRESS_KEY}{len(chunks)}"
        if chunk and len(f"{key}={','.join([*chunk, address])}".encode()) > MAX_TXT_STRING:
            chunks.append([])
        chunks[-1].append(address)
    return {(ADDRESS_KEY if index == 0 else f"{ADDRESS_KEY}{index + 1}"): ",".join(chunk)
            for index, chunk in enumerate(chunks)}


def is_reserved(key: str) -> bool:
    """True for TXT keys discovery writes itself (user properties may not)."""
    key = key.lower()
    return key in RESERVED_KEYS or (
        key.startswith(ADDRESS_KEY) and key[len(ADDRESS_KEY):].isdigit())


def _txt_value(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"TXT property values must be str, bytes or numbers, "
                    f"not {type(value).__name__}")


def build_txt(*, actor_class: str, name: str, role: str, bind: Address,
              pid: int | None, hostname: str, version: str, serializer: str,
              addresses: Sequence[str] = (),
              properties: Mapping[str, object] | None = None,
              authkey: bytes | None = None) -> dict[str, str]:
    """The TXT properties of an advert (unsigned; see :func:`sign`).

    ``addresses`` are the addresses announced in A/AAAA records (canonical):
    listed in ``addrs`` so that a signature covers them.  Raises ValueError
    for properties that use a reserved key, carry the authkey, or make the
    record too large.
    """
    txt = {
        "txtvers": TXT_VERSION, "class": actor_class, "name": name,
        "role": role, "bind": format_address(bind), "pid": str(pid),
        "hostname": hostname, "uactor": version, "serializer": serializer,
        **address_properties(addresses),
    }
    if pid is None:  # not known to the publisher (a connected proxy)
        del txt["pid"]
    for key, value in (properties or {}).items():
        if not isinstance(key, str) or not key or "=" in key or not key.isascii():
            raise ValueError(f"TXT property key {key!r} must be a non-empty "
                             "ASCII string without '='")
        if is_reserved(key):
            raise ValueError(f"TXT property key {key!r} is reserved by "
                             f"discovery; reserved keys: {sorted(RESERVED_KEYS)} "
                             f"and {ADDRESS_KEY}2, {ADDRESS_KEY}3...")
        text = _txt_value(value)
        if authkey and bytes(authkey) in text.encode("utf-8"):
            raise ValueError(f"TXT property {key!r} contains the authkey; "
                             "adverts are readable by anyone on the network")
        txt[key] = text
    for key, value in txt.items():
        if len(f"{key}={value}".encode()) > MAX_TXT_STRING:
            raise ValueError(f"TXT property {key!r} is longer than {MAX_TXT_STRING} "
                             "bytes (a DNS character-string limit)")
    if txt_size(txt) + 120 > MAX_TXT_BYTES:  # room for ts and hmac
        raise ValueError(f"TXT record would exceed {MAX_TXT_BYTES} bytes with "
                         f"{len(addresses)} addresses; pass fewer or shorter "
                         "properties, or interfaces= to advertise fewer addresses")
    return txt


def txt_size(txt: Mapping[str, str]) -> int:
    """Wire size of a TXT record holding ``txt`` (bytes)."""
    return sum(1 + len(f"{key}={value}".encode()) for key, value in txt.items())


def decode_txt(properties: Mapping[bytes, bytes | None]) -> dict[str, str]:
    """TXT properties from zeroconf, decoded; raises BadAdvertError."""
    txt: dict[str, str] = {}
    size = 0
    for raw_key, raw_value in properties.items():
        size += 2 + len(raw_key) + len(raw_value or b"")
        if size > MAX_TXT_BYTES:
            raise BadAdvertError(f"TXT record is larger than {MAX_TXT_BYTES} bytes")
        try:
            key = raw_key.decode("ascii").lower()
            value = (raw_value or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise BadAdvertError("TXT record is not valid ASCII/UTF-8") from None
        if any(ch < " " or ch == "\x7f" for ch in key + value):
            raise BadAdvertError("TXT record contains control characters")
        txt[key] = value
    return txt


def parse_advert(instance: str, server: str | None, port: int | None,
                 addresses: Iterable[str],
                 properties: Mapping[bytes, bytes | None] | None,
                 ) -> tuple[Entry, dict[str, str]]:
    """Check a resolved service and turn it into an :class:`Entry`.

    Returns the entry and its decoded TXT (for :func:`check_advert`).  Raises
    BadAdvertError for anything missing, malformed or oversized.
    """
    if not instance.lower().endswith("." + SERVICE_TYPE.lower()):
        raise BadAdvertError(f"not a {SERVICE_TYPE} instance")
    if not server or not isinstance(port, int) or not 0 < port < 65536:
        raise BadAdvertError(f"bad SRV record (server={server!r}, port={port!r})")
    if not properties:
        raise BadAdvertError("advert has no TXT properties")
    txt = decode_txt(properties)
    if txt.get("txtvers") != TXT_VERSION:
        raise BadAdvertError(f"unsupported TXT version {txt.get('txtvers')!r} "
                             f"(this browser reads version {TXT_VERSION})")
    actor_class = txt.get("class", "")
    if not _CLASS_PATTERN.match(actor_class):
        raise BadAdvertError(f"class {actor_class!r} is not module:qualname")
    serializer = txt.get("serializer", "pickle")
    if serializer not in SERIALIZERS:
        raise BadAdvertError(f"unknown serializer {serializer!r}")
    offered = list(addresses)
    usable: list[str] = []
    for text in offered:
        address = usable_address(text)
        if address is not None and address not in usable:
            usable.append(address)
    if not usable:
        raise BadAdvertError(f"no usable address among {offered!r}")
    bind = parse_address(txt["bind"]) if "bind" in txt else (usable[0], port)
    pid_text = txt.get("pid", "")
    pid = int(pid_text) if pid_text.isdigit() and len(pid_text) < 10 else None
    extra = {key: value for key, value in txt.items() if not is_reserved(key)}
    entry = Entry(
        instance=instance, name=txt.get("name") or actor_class.partition(":")[2],
        actor_class=actor_class, role=txt.get("role") or "actor",
        server=server, addresses=tuple(usable), port=port, bind=bind, pid=pid,
        hostname=txt.get("hostname", ""), version=txt.get("uactor", ""),
        serializer=serializer, properties=extra,
        signature=UNVERIFIED if "hmac" in txt else UNSIGNED,
    )
    return entry, txt


def check_advert(entry: Entry, txt: Mapping[str, str], authkey: bytes | None,
                 require_signature: bool, *, now: float | None = None) -> Entry:
    """``entry`` with its signature checked against ``authkey``.

    A signature, when present and a key is known, must be valid and fresh,
    and the entry keeps only the announced addresses the signature lists (an
    advert none of whose addresses is listed is refused).  Without one, the
    advert passes only if ``require_signature`` is false.  Raises
    BadAdvertError otherwise.
    """
    if authkey is not None and ("hmac" in txt or require_signature):
        check_signature(authkey, entry.instance, entry.server, entry.port, txt,
                        now=now)
        addresses = covered_addresses(entry, signed_addresses(txt))
        return dataclasses.replace(entry, addresses=addresses, signature=VERIFIED,
                                   signed_at=float(txt["ts"]))
    if require_signature:
        raise BadAdvertError("a signature is required but no authkey was given")
    return entry


def covered_addresses(entry: Entry, signed: Sequence[str]) -> tuple[str, ...]:
    """The entry's announced addresses that the signature lists.

    Raises BadAdvertError when none is: the advert was recorded and replayed
    with other address records (or signed by a publisher that listed none).
    Others are dropped and logged: address records added by someone else.
    """
    if not signed:
        raise BadAdvertError("signed advert lists no addresses (addrs); it was "
                             "published by an older uactor: upgrade the publisher")
    covered = tuple(address for address in entry.addresses if address in signed)
    foreign = [address for address in entry.addresses if address not in signed]
    if not covered:
        raise BadAdvertError(
            f"address records {', '.join(foreign)} are not among the signed "
            f"addresses {', '.join(signed)} (advert replayed under another "
            "address, or spoofed)")
    if foreign:
        log_bad_advert(entry.instance, f"ignoring address records "
                       f"{', '.join(foreign)}: not among the signed addresses "
                       f"{', '.join(signed)} (spoofed records)")
    return covered


def local_hostname() -> str:
    """This host's name, as written into adverts."""
    return socket.gethostname()
