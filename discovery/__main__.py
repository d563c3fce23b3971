"""``python -m discovery`` / ``uactor-discover``: list advertised actors.

Examples::

    uactor-discover --interface eth0                   # table after 2 s
    uactor-discover --json --timeout 1 --interface lo
    uactor-discover --watch --interface 127.0.0.1      # live changes
    UACTOR_AUTHKEY=secret uactor-discover --verify     # check signatures and liveness
    UACTOR_AUTHKEY=secret uactor-discover --registries --json   # every registry node
    uactor-discover --registry 10.0.0.5:5000 --registry 10.0.0.6:5000   # what they hold
    uactor-discover --registry 10.0.0.5:5000 --name Worker --pick       # one pick

Exit status: 0 on success, 1 on a runtime error (no registry node found or
answering, nothing to pick), 2 on bad arguments, 3 when ``--verify`` refused
adverts (each is named on standard error, with why).
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import registry
import uactor

from ._advert import Address, Entry, format_address
from ._browse import Browser, browse, find_registries
from ._errors import DiscoveryError, UnknownInterfaceError
from ._search import short_label

#: How long a listing waits for adverts to arrive (s).  A fresh browser
#: hears answers on one host in about 0.1 s; a LAN may take longer.
DEFAULT_LIST_TIMEOUT = 2.0

#: Exit statuses.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3


def _endpoints(entry: Entry) -> str:
    """``127.0.0.1:4711,[fd00::1]:4711``: where the actor is reached."""
    return ",".join(format_address(address) for address, _ in entry.endpoints())


#: Table columns: header and how to get the cell from an entry.
_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("INSTANCE", lambda entry: entry.label),
    ("CLASS", lambda entry: entry.actor_class),
    ("ROLE", lambda entry: entry.role),
    ("HOST", lambda entry: entry.hostname or entry.server),
    ("ENDPOINTS", _endpoints),
    ("BIND", lambda entry: format_address(entry.bind)),
    ("SIGNATURE", lambda entry: entry.signature),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="uactor-discover",
        description="List uactor actors advertised over mDNS/DNS-SD "
                    "(_uactor._tcp.local.).")
    parser.add_argument("--interface", "-i", action="append", metavar="NAME|ADDRESS",
                        help="listen on this interface, by name (lo, eth0) or by "
                             "an address of it, IPv4 or IPv6 (repeatable; "
                             "default: all interfaces)")
    parser.add_argument("--timeout", "-t", type=float, metavar="SECONDS",
                        help=f"how long to collect adverts (default "
                             f"{DEFAULT_LIST_TIMEOUT:g} s); with --watch, how "
                             "long to watch (default: until interrupted)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON (a list; with --watch, one event per line)")
    parser.add_argument("--watch", "-w", action="store_true",
                        help="print adverts as they appear, change and vanish")
    parser.add_argument("--class", dest="actor_class", metavar="MODULE:QUALNAME",
                        help="only this actor class")
    parser.add_argument("--name", help="only this service name")
    parser.add_argument("--role", help="only this role (actor, registry)")
    parser.add_argument("--verify", action="store_true",
                        help="check signatures and liveness with the authkey "
                             "(from --authkey-file, UACTOR_AUTHKEY, "
                             "UACTOR_AUTHKEY_FILE, or the key file of a registry "
                             "node of this user on this host), importing the "
                             "advertised classes; refused adverts are named on "
                             "stderr and make the exit status 3")
    parser.add_argument("--authkey-file", metavar="PATH",
                        help="file holding the authkey (for --verify)")
    fleet = parser.add_mutually_exclusive_group()
    fleet.add_argument("--registries", action="store_true",
                       help="list every registry node advertised over mDNS that "
                            "answers with the authkey (found as for --verify) "
                            "within --timeout, one HOST:PORT a line")
    fleet.add_argument("--registry", action="append", metavar="HOST:PORT",
                       type=_registry_address,
                       help="list the actors registered with this registry node "
                            "instead of the adverts (repeatable: the nodes of a "
                            "fleet, the first that answers is used; IPv6 as "
                            "[::1]:5000); --name: only that service")
    parser.add_argument("--pick", action="store_true",
                        help="with --registry and --name: pick one actor of the "
                             "service, in turn as clients do, and print its "
                             "HOST:PORT (with --json, its entry)")
    parser.add_argument("--debug", action="store_true",
                        help="log what discovery does (to stderr)")
    return parser


def _registry_address(text: str) -> Address:
    """``HOST:PORT`` (IPv6 as ``[::1]:5000``) for ``--registry``."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT; give e.g. 10.0.0.5:5000 or [::1]:5000")
    return host, int(port)


def _option(args: argparse.Namespace) -> str | None:
    """The option that needs the authkey, if any."""
    for option, given in (("--verify", args.verify), ("--registries", args.registries),
                          ("--registry", args.registry)):
        if given:
            return option
    return None


def _authkey(args: argparse.Namespace, parser: argparse.ArgumentParser) -> bytes | None:
    """The key for ``--verify``, ``--registries`` and ``--registry``, found as
    every uactor tool finds it.

    :func:`registry.find_authkey`: ``--authkey-file``, else
    ``$UACTOR_AUTHKEY`` or ``$UACTOR_AUTHKEY_FILE``, else the key file a
    registry node on this host wrote for this user.
    """
    option = _option(args)
    if option is None:
        if args.authkey_file:
            parser.error("--authkey-file is only used with --verify, --registries "
                         "or --registry")
        return None
    try:
        return registry.find_authkey(authkey_file=args.authkey_file)
    except registry.AuthkeyLookupError as exc:
        parser.error(f"{option} needs the authkey: {exc}")
    raise AssertionError("parser.error() returns only by raising")  # pragma: no cover


def _check_combinations(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors for options that do not go together."""
    fleet = "--registries" if args.registries else "--registry" if args.registry else None
    if fleet is not None:
        for option, given in (("--watch", args.watch), ("--verify", args.verify),
                              ("--class", args.actor_class), ("--role", args.role),
                              ("--interface", args.registry and args.interface)):
            if given:
                parser.error(f"{option} does not go with {fleet}")
    if args.pick and not (args.registry and args.name):
        parser.error("--pick needs --registry HOST:PORT and --name SERVICE")


def _table(entries: Sequence[Entry], with_status: bool) -> str:
    columns = list(_COLUMNS)
    if with_status:
        columns.append(("STATUS", lambda entry: entry.status))
    rows = [[header for header, _ in columns]]
    rows += [[cell(entry) for _, cell in columns] for entry in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join("  ".join(value.ljust(width) for value, width in
                               zip(row, widths)).rstrip() for row in rows)


def _print_event(kind: str, entry: Entry, as_json: bool) -> None:
    if as_json:
        line = json.dumps({"event": kind, "entry": entry.as_dict()}, sort_keys=True)
    else:
        mark = {"add": "+", "update": "~", "remove": "-"}[kind]
        line = (f"{mark} {entry.label}  {entry.actor_class}  "
                f"{_endpoints(entry)}  {entry.status}")
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    _check_combinations(args, parser)
    authkey = _authkey(args, parser)
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(message)s")
    if authkey is not None and args.registries:
        return _list_registries(args, authkey)
    if authkey is not None and args.registry:
        return _list_registered(args, authkey)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, on_signal)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    lock = threading.Lock()

    def event(kind: str) -> Any:
        def callback(entry: Entry) -> None:
            with lock:
                _print_event(kind, entry, args.json)
        return callback if args.watch else None

    try:
        with browse(args.actor_class, name=args.name, role=args.role,
                    interfaces=args.interface, authkey=authkey,
                    require_signature=authkey is not None,
                    on_add=event("add"), on_update=event("update"),
                    on_remove=event("remove")) as browser:
            if args.watch:
                stop.wait(args.timeout)
            else:
                stop.wait(DEFAULT_LIST_TIMEOUT if args.timeout is None
                          else args.timeout)
                _list(browser, args.json, authkey is not None)
            refused = browser.rejected
    except UnknownInterfaceError as exc:
        print(f"uactor-discover: --interface: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DiscoveryError, OSError) as exc:
        print(f"uactor-discover: cannot listen for mDNS: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for instance, reason in sorted(refused.items()):
        print(f"uactor-discover: refused {short_label(instance)!r}: {reason}", file=sys.stderr)
    return EXIT_REFUSED if refused else EXIT_OK


def _list(browser: Browser, as_json: bool, with_status: bool) -> None:
    """Print what ``browser`` holds (stdout), or say that nothing was heard."""
    entries = sorted(browser.entries, key=lambda entry: entry.instance)
    if as_json:
        print(json.dumps([entry.as_dict() for entry in entries], indent=2,
                         sort_keys=True))
    elif entries:
        print(_table(entries, with_status))
    elif browser.rejected:
        print("no advert passed verification", file=sys.stderr)
    else:
        print("no uactor actors advertised", file=sys.stderr)


# --------------------------------------------------------------------------
# Registry nodes: --registries, --registry
# --------------------------------------------------------------------------

def _list_registries(args: argparse.Namespace, authkey: bytes) -> int:
    """Print every registry node found over mDNS (``--registries``)."""
    try:
        nodes = find_registries(  # like every listing: for the whole --timeout
            authkey, interfaces=args.interface, name=args.name, settle=None,
            timeout=DEFAULT_LIST_TIMEOUT if args.timeout is None else args.timeout)
    except UnknownInterfaceError as exc:
        print(f"uactor-discover: --interface: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DiscoveryError, OSError) as exc:
        print(f"uactor-discover: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps([{"address": format_address(node), "host": node[0],
                           "port": node[1]} for node in nodes], indent=2))
    else:
        for node in nodes:
            print(format_address(node))
    return EXIT_OK


def _entry_dict(entry: Any) -> dict[str, Any]:
    """A :class:`registry.Entry` as JSON-ready data."""
    return {"name": entry.name, "address": format_address(tuple(entry.address)),
            "bind": format_address(tuple(entry.bind_address)), "pid": entry.pid,
            "hostname": entry.hostname, "ttl": entry.ttl,
            "expires_in": entry.expires_in}


#: ``--registry`` table columns: header and the cell of an entry's dict.
_REGISTERED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("NAME", "name"), ("ADDRESS", "address"), ("BIND", "bind"), ("PID", "pid"),
    ("HOST", "hostname"), ("EXPIRES_IN", "expires_in"))


def _registered_table(rows: Sequence[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    table = [[header for header, _ in _REGISTERED_COLUMNS]]
    table += [[cell(row[key]) for _, key in _REGISTERED_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(value.ljust(width) for value, width in
                               zip(line, widths)).rstrip() for line in table)


def _list_registered(args: argparse.Namespace, authkey: bytes) -> int:
    """Print what the first answering ``--registry`` node holds, or one pick."""
    nodes = ", ".join(format_address(node) for node in args.registry)
    try:
        node = registry.connect_registry(args.registry, authkey, timeout=args.timeout)
        if args.pick:
            picked = node.pick_entry(args.name)
            entries = [] if picked is None else [picked]
        else:
            entries = node.entries(args.name)
    except registry.UnknownNameError:
        entries = []
    except (registry.RegistryError, uactor.UActorException, OSError, EOFError) as exc:
        print(f"uactor-discover: --registry {nodes}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    rows = sorted((_entry_dict(entry) for entry in entries),
                  key=lambda row: (row["name"], row["address"]))
    if args.pick and not rows:
        print(f"uactor-discover: no {args.name!r} actor is registered with {nodes}",
              file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(rows[0] if args.pick else rows, indent=2, sort_keys=True))
    elif args.pick:
        print(rows[0]["address"])
    elif rows:
        print(_registered_table(rows))
    else:
        print("no actors registered", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
