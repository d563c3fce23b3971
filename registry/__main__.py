"""Registry node: ``python -m registry`` (console script ``uactor-registry``).

Serves a :class:`registry.Registry` on TCP until SIGINT or SIGTERM, logging
registrations and expiries to stderr.  When it is ready it prints one line
to stdout, naming where its authkey is::

    registry listening on 127.0.0.1:5000 (authkey in /run/user/1000/uactor/authkey)
    registry listening on 127.0.0.1:5000 (authkey from $UACTOR_AUTHKEY)

followed, with ``--http``, by the address of its HTTP endpoints (health,
readiness, metrics, status page; see :mod:`registry._http`)::

    status page on http://127.0.0.1:9100/

``--store URL`` keeps the entries in etcd or Redis instead of the node's
memory (see :mod:`registry._store`), so several nodes serve one fleet.

``uactor-registry status ADDRESS [--json]`` prints a running node's services
and actors instead (a subcommand only when ``status`` is the first argument).

The authkey comes from ``--authkey-file``, ``$UACTOR_AUTHKEY`` or
``$UACTOR_AUTHKEY_FILE``, else from the default key file, which the node
writes with a new random key when there is none (see ``registry._keys``);
``status`` finds it the same way.  The key is never printed or logged.
Clients cannot stop the node: only its owner, this process, does, on a
signal.

Exit status: 0 after an orderly stop (SIGINT, SIGTERM, also sent to the
whole process group), 1 when the node cannot run (port taken, key file not
writable, store unreachable, actor failure) or the status cannot be read, 2
for a bad command line or configuration (a malformed store URL or prefix,
refused store credentials).
"""
from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import logging
import math
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uactor

from ._actor import DEFAULT_MAX_MESSAGE, DEFAULT_SWEEP_INTERVAL, DEFAULT_TTL, Registry
from ._errors import AuthkeyLookupError, RegistryError, StoreConfigError
from ._http import NodeWatcher, StatusServer
from ._keys import (
    AUTHKEY_ENV,
    AUTHKEY_FILE_ENV,
    KeySource,
    create_default_key,
    find_authkey,
    lookup_authkey,
)
from ._node import LOG_FORMAT, RegistryNode
from ._status import format_status, parse_host_port
from ._store import DEFAULT_PREFIX, DEFAULT_STORE, check_prefix, parse_store_url
from ._table import MAX_TTL, MIN_TTL, format_address

__all__ = ["main"]

logger = logging.getLogger("registry.node")

PROG = "uactor-registry"

#: Port the spec's registry example listens on.
DEFAULT_PORT = 5000

#: The subcommand showing a running node's status; any other first argument
#: starts a node, as before the subcommand existed.
STATUS_COMMAND = "status"

#: How long ``status`` may take to connect and read the snapshot (s).
DEFAULT_STATUS_TIMEOUT = 5.0

#: How often the node checks that its actor process still runs (s).
_POLL_INTERVAL = 0.25

#: Signals that stop the node in order (exit status 0), also when they end
#: the actor process first (sent to the whole process group, as systemd does).
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

#: Smallest --max-message (bytes): the registry's own requests must fit.
_MIN_MAX_MESSAGE = 1024


class _ConfigError(Exception):
    """A configuration problem reported as one line with exit status 2."""


class _RunError(Exception):
    """A runtime problem reported as one line with exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run a uactor registry node: a Registry actor serving "
                    "networked actors' addresses over TCP.",
        epilog=f"The authkey is read from --authkey-file, ${AUTHKEY_ENV} or "
               f"${AUTHKEY_FILE_ENV}, else from the default key file, which is "
               "written with a new random key when there is none; the ready line "
               "names it. Use --host 0.0.0.0 to serve other hosts on your LAN. "
               f"Stop the node with SIGINT or SIGTERM. '{PROG} {STATUS_COMMAND} "
               f"ADDRESS' shows a running node's services and actors (see '{PROG} "
               f"{STATUS_COMMAND} --help').",
    )
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this host only; "
             "0.0.0.0 listens on every IPv4 interface)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help=f"TCP port (default: {DEFAULT_PORT}; 0 picks a free port, printed "
             "in the ready line)")
    parser.add_argument(
        "--ttl", type=float, default=DEFAULT_TTL,
        help=f"default lease in seconds for actors registered by the helpers "
             f"(default: {DEFAULT_TTL:g})")
    parser.add_argument(
        "--store", default=DEFAULT_STORE, metavar="URL",
        help="where entries live: memory:// (default, this node only), "
             "etcd://HOST:PORT[,HOST:PORT...], redis://[:PASSWORD@]HOST:PORT[/DB] or "
             "redis+sentinel://HOST:PORT[,HOST:PORT...]/SERVICE")
    parser.add_argument(
        "--store-prefix", default=DEFAULT_PREFIX, metavar="PREFIX",
        help=f"prefix of the keys written to a shared store (default: "
             f"{DEFAULT_PREFIX})")
    parser.add_argument(
        "--authkey-file", metavar="PATH",
        help=f"file holding the authkey (trailing newline ignored); overrides "
             f"${AUTHKEY_ENV} and ${AUTHKEY_FILE_ENV}")
    parser.add_argument(
        "--max-message", type=int, default=DEFAULT_MAX_MESSAGE, metavar="BYTES",
        help=f"largest request the node accepts, in bytes; a bigger one is refused "
             f"unread (default: {DEFAULT_MAX_MESSAGE}, 1 MiB)")
    parser.add_argument(
        "--advertise", action=argparse.BooleanOptionalAction, default=None,
        help="advertise the node over mDNS with the discovery package, on the "
             "interfaces matching --host (default: when discovery is installed)")
    parser.add_argument(
        "--http", metavar="[HOST:]PORT",
        help="also serve /healthz, /readyz, /metrics and a live status page "
             "over HTTP, read-only, on HOST:PORT (a bare PORT listens on "
             "127.0.0.1; 0 picks a free port; the URL is printed after the "
             "ready line); off by default")
    parser.add_argument(
        "--log-level", default="INFO", choices=_LOG_LEVELS,
        help="stderr log level (default: INFO: registrations and expiries)")
    return parser


def _status_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {STATUS_COMMAND}",
        description="Show a running registry node's services and live actors "
                    "(address, owner, lease, picks), totals and store, as a "
                    "table or as JSON.",
        epilog=f"Connects like any client, with the node's authkey from "
               f"--authkey-file, ${AUTHKEY_ENV} or ${AUTHKEY_FILE_ENV}, else from "
               f"the default key file a node started without a key wrote.",
    )
    parser.add_argument(
        "address", metavar="ADDRESS",
        help="the node's HOST:PORT, as its ready line prints it (a bare PORT "
             "means 127.0.0.1:PORT)")
    parser.add_argument(
        "--json", action="store_true",
        help="print the node's snapshot as JSON instead of a table")
    parser.add_argument(
        "--authkey-file", metavar="PATH",
        help=f"file holding the authkey (trailing newline ignored); overrides "
             f"${AUTHKEY_ENV} and ${AUTHKEY_FILE_ENV}")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_STATUS_TIMEOUT,
        help=f"seconds to connect and read (default: {DEFAULT_STATUS_TIMEOUT:g})")
    return parser


# --------------------------------------------------------------------------
# Configuration checks
# --------------------------------------------------------------------------

def _find_key(path: str | None) -> KeySource:
    """The node's key: given, from the environment, or the default key file."""
    try:
        source = lookup_authkey(authkey_file=path)
    except AuthkeyLookupError as exc:
        raise _ConfigError(str(exc)) from exc
    if source is not None:
        return source
    try:
        return create_default_key()
    except AuthkeyLookupError as exc:
        raise _RunError(str(exc)) from exc


def _check_ttl(ttl: float) -> float:
    if not (math.isfinite(ttl) and MIN_TTL <= ttl <= MAX_TTL):
        raise _ConfigError(
            f"--ttl must be a positive number of seconds from {MIN_TTL:g} to "
            f"{MAX_TTL:g} (one day), got {ttl:g}")
    return ttl


def _check_store(url: str, prefix: str) -> str:
    """The store URL without credentials, once URL and prefix are checked."""
    try:
        store = parse_store_url(url).redacted()
        check_prefix(prefix)
    except StoreConfigError as exc:
        raise _ConfigError(str(exc)) from exc
    return store


def _host_addresses(host: str) -> list[str]:
    """IP addresses ``host`` stands for (itself when it is a literal)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise _ConfigError(f"cannot resolve --host {host!r}: {exc}") from exc
    return sorted({str(info[4][0]) for info in infos})


def _is_loopback(addresses: Sequence[str]) -> bool:
    return bool(addresses) and all(
        ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses
    )


def _check_port_free(host: str, port: int, option: str = "--port") -> None:
    """Fail early, with a clear message, when ``host:port`` is already taken."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # Same option as the actor's listener, so TIME_WAIT leftovers of a
        # previous run do not count as "taken" while a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _RunError(
                    f"port {port} on {host} is already in use; stop the other "
                    f"process or choose another {option} port (0 picks a free "
                    f"one)") from exc
            if exc.errno == errno.EACCES:
                raise _RunError(
                    f"not allowed to listen on port {port} of {host}; use a port "
                    f"above 1023 or run with the needed privileges") from exc
            raise _RunError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


# --------------------------------------------------------------------------
# Advertising
# --------------------------------------------------------------------------

def _advertise(node: Any, host: str, addresses: Sequence[str],
               requested: bool | None, authkey: bytes) -> Any:
    """Publish the node over mDNS when asked or by default; return the publication.

    Adverts are signed with the authkey (an HMAC: the key itself is never
    advertised), so browsers holding it can drop forgeries.
    """
    if requested is False:
        return None
    try:
        import discovery
    except ImportError:
        log = logger.warning if requested else logger.debug
        log("not advertising: the discovery package is not importable")
        return None
    unspecified = host in ("", "0.0.0.0", "::")
    interfaces = None if unspecified else list(addresses)
    try:
        publication = discovery.publish(  # type: ignore[attr-defined]
            node, role="registry", interfaces=interfaces, authkey=authkey)
    except Exception as exc:  # advertising is best effort: keep serving
        logger.warning("could not advertise the registry over mDNS: %s", exc)
        return None
    logger.info("advertising over mDNS on %s",
                "all interfaces" if interfaces is None else ", ".join(interfaces))
    return publication


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    ttl = _check_ttl(args.ttl)
    if not 0 <= args.port < 65536:
        raise _ConfigError(f"--port {args.port} must be within 0-65535")
    if args.max_message < _MIN_MAX_MESSAGE:
        raise _ConfigError(f"--max-message must be at least {_MIN_MAX_MESSAGE} bytes, "
                           f"got {args.max_message}")
    store = _check_store(args.store, args.store_prefix)
    key = _find_key(args.authkey_file)
    addresses = _host_addresses(args.host)
    _check_port_free(args.host, args.port)
    http_address = _http_address(args.http)

    level = logging.getLevelName(args.log_level)
    try:
        node = uactor.start(
            RegistryNode,
            default_ttl=ttl,
            sweep_interval=min(DEFAULT_SWEEP_INTERVAL, ttl / 2),
            store=args.store,
            store_prefix=args.store_prefix,
            log_level=level,
            options={"address": (args.host, args.port), "authkey": key.key,
                     "max_message": args.max_message},
        )
    except StoreConfigError as exc:
        raise _ConfigError(str(exc)) from exc
    except (OSError, EOFError, uactor.UActorException) as exc:
        raise _RunError(f"cannot start the registry on "
                        f"{format_address((args.host, args.port))}: {exc}") from exc

    publication = None
    status_server = None
    status = 0
    try:
        host, port = node.connection_address
        if http_address is not None:
            status_server = _start_http(node, http_address, port)
        publication = _advertise(node, args.host, addresses, args.advertise, key.key)
        print(f"registry listening on {format_address((host, port))} ({key.describe()})",
              flush=True)
        if status_server is not None:
            print(f"status page on {status_server.url}", flush=True)
        logger.info("serving on %s, default lease %g s, store %s, %s",
                    format_address((host, port)), ttl, store, key.describe())
        status = _wait_for_stop(node, stop)
    finally:
        if status_server is not None:
            status_server.close()
        if publication is not None:
            try:
                publication.close()
            except Exception as exc:  # withdrawing is best effort on the way out
                logger.warning("could not withdraw the mDNS advertisement: %s", exc)
        try:
            node.shutdown()
        except (OSError, EOFError, uactor.UActorException) as exc:
            logger.debug("registry actor already gone at shutdown: %s", exc)
    logger.info("stopped")
    return status


def _wait_for_stop(node: Any, stop: threading.Event) -> int:
    """Serve until a stop signal (0) or the actor process's unexpected end (1)."""
    process = uactor.process(node)
    while not stop.wait(_POLL_INTERVAL):
        exitcode = None if process is None else process.exitcode
        if exitcode is None:
            continue
        if -exitcode in _STOP_SIGNALS:
            # A signal sent to the whole process group (systemd, timeout(1), a
            # terminal's job control) may end the actor process first.
            logger.info("registry actor stopped by %s; stopping",
                        signal.Signals(-exitcode).name)
            return 0
        print(f"{PROG}: error: the registry actor process ended unexpectedly "
              f"(exit code {exitcode})", file=sys.stderr)
        return 1
    return 0


def _http_address(text: str | None) -> tuple[str, int] | None:
    """The checked ``--http`` address, or ``None`` when not asked for."""
    if text is None:
        return None
    try:
        host, port = parse_host_port(text)
    except ValueError as exc:
        raise _ConfigError(f"--http {exc}") from exc
    if not _is_loopback(_host_addresses(host)):
        logger.warning("the HTTP endpoints on %s have no authentication: anyone "
                       "who can reach them can read the registry's listing (never "
                       "its key); put them behind a firewall or a proxy",
                       format_address((host, port)))
    _check_port_free(host, port, option="--http")
    return host, port


def _start_http(node: Any, address: tuple[str, int], node_port: int) -> StatusServer:
    """Bind the HTTP endpoints (after the actor started, so that its process,
    forked from this one, does not inherit the listening socket) and serve."""
    try:
        server = StatusServer(address, NodeWatcher(node.snapshot), node_port=node_port)
    except OSError as exc:
        raise _RunError(f"cannot serve HTTP on {format_address(address)}: "
                        f"{exc.strerror or exc}; choose another --http port "
                        f"(0 picks a free one)") from exc
    server.start()
    logger.info("HTTP endpoints on %s", server.url)
    return server


def _status(args: argparse.Namespace) -> int:
    """``status ADDRESS``: print a running node's snapshot."""
    try:
        address = parse_host_port(args.address)
    except ValueError as exc:
        raise _ConfigError(f"ADDRESS {exc}") from exc
    if not args.timeout > 0:
        raise _ConfigError(f"--timeout {args.timeout} must be a positive number of "
                           f"seconds")
    try:
        authkey = find_authkey(authkey_file=args.authkey_file)
    except AuthkeyLookupError as exc:
        raise _ConfigError(str(exc)) from exc
    where = format_address(address)
    try:
        proxy = Registry.connect(address, authkey, timeout=args.timeout)
        snapshot = proxy.snapshot()
    except uactor.AuthkeyError as exc:
        raise _RunError(f"the registry at {where} rejected the authkey; pass the "
                        f"node's key with --authkey-file, ${AUTHKEY_ENV} or "
                        f"${AUTHKEY_FILE_ENV}") from exc
    except uactor.CallTimeoutError as exc:
        raise _RunError(f"the registry at {where} did not answer within "
                        f"{args.timeout:g} s; retry, or raise --timeout") from exc
    except (OSError, EOFError, uactor.UActorException) as exc:
        raise _RunError(f"cannot read the status of the registry at {where}: "
                        f"{exc}") from exc
    print(json.dumps(snapshot, indent=2) if args.json else format_status(snapshot))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a registry node, or the ``status`` subcommand; return the exit status.

    ``argv`` defaults to ``sys.argv[1:]``.  Configures logging (stderr) for
    this process: this is the only place in the package that does.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == [STATUS_COMMAND]:
        args = _status_parser().parse_args(arguments[1:])
        level = "WARNING"
    else:
        args = _parser().parse_args(arguments)
        level = args.log_level
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        if arguments[:1] == [STATUS_COMMAND]:
            return _status(args)
        return _run_node(args)
    except _ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (_RunError, RegistryError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the node's signal handlers were in place
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _run_node(args: argparse.Namespace) -> int:
    """Serve with SIGINT and SIGTERM turned into an orderly stop."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logger.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    try:
        return _serve(args, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
