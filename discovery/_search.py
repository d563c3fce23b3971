"""``discover()`` written once: a search plan that each runtime drives.

:func:`search` is a generator holding the whole algorithm (which adverts to
try, in what order, within one deadline, and the error when none answered);
:func:`gather`, its sibling for :func:`discovery.find_registries`, goes on
after the first answer and returns the address of every advert that answered.
It never blocks: it *yields* what it needs done, a :class:`Connect` (try
this entry) or a :class:`WaitForChange` (wait until the browser's view
changes), and :class:`Plan` feeds the outcome back.  The threaded runtime
performs those steps by blocking, the asyncio runtime by awaiting; neither
holds any logic of its own.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Union

import registry

from ._advert import SERVICE_TYPE, Address, Entry, class_path
from ._catalog import Attempt, all_dead, connect_endpoint
from ._errors import DiscoveryError, DiscoveryTimeoutError
from ._interfaces import InterfacesType, describe

#: Default time :func:`discovery.discover` waits for an answering actor (s).
DISCOVER_TIMEOUT = 5.0

#: How often a cancellable search checks whether it was cancelled (s).
CANCEL_POLL = 0.1

#: Default time :func:`discovery.find_registries` listens for registry nodes (s).
FLEET_TIMEOUT = 5.0

#: Default quiet time after which :func:`discovery.find_registries` stops
#: listening once a node answered (s): no new advert seen and no new node
#: answering for this long.  Responders answer one query within 20-120 ms of
#: each other (RFC 6762 section 6), all nodes of one host within about
#: 0.1 s; a second leaves room for a loaded machine or a LAN (Avahi's
#: "all for now" waits about as long).
SETTLE = 1.0


def check_count(count: object, what: str = "min_count") -> int | None:
    """``count`` if None or a positive int, else ValueError."""
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{what} must be a positive int or None, not {count!r}")
    return count


def check_settle(settle: object) -> float | None:
    """``settle`` if None or a positive number of seconds, else ValueError."""
    if settle is None:
        return None
    if isinstance(settle, bool) or not isinstance(settle, (int, float)) or settle <= 0:
        raise ValueError(f"settle must be a positive number of seconds or None, "
                         f"not {settle!r}")
    return float(settle)


def check_timeout(timeout: object) -> float:
    """``timeout`` if it is a positive number of seconds, else ValueError."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, "
                         f"not {timeout!r}")
    return float(timeout)


@dataclasses.dataclass(frozen=True)
class Query:
    """What one discovery looks for; the arguments of ``discover()``."""

    actor_class: type | None
    authkey: bytes
    timeout: float
    interfaces: InterfacesType
    name: str | None
    role: str | None
    require_signature: bool | None
    #: Class to connect with when ``actor_class`` is None (find_registry).
    connect_as: type | None = None
    #: Every answering advert (:func:`gather`), not only the first (:func:`search`).
    many: bool = False
    #: :func:`gather` only: stop once this many answered (None: see ``settle``).
    min_count: int | None = None
    #: :func:`gather` only: stop once none answered anew for this long (s;
    #: None: listen for the whole timeout).  Ignored with ``min_count``.
    settle: float | None = None

    @property
    def label(self) -> str:
        """What is searched for, for messages and reconnection."""
        if self.name:
            return self.name
        return class_path(self.actor_class) if self.actor_class is not None else "actor"


class Connect(NamedTuple):
    """Step: connect to ``entry`` with ``actor_class`` within ``timeout`` s.

    With ``locate``, the outcome is the address that answered, not a proxy
    (the verified proxy is dropped at once).
    """

    actor_class: type
    entry: Entry
    timeout: float
    attempts: list[Attempt]
    locate: bool = False

    def perform(self, authkey: bytes) -> tuple[Any, DiscoveryError | None]:
        """Connect (blocking); ``(outcome, None)`` or ``(None, error)`` for Plan."""
        try:
            proxy, address = connect_endpoint(
                self.actor_class, self.entry, authkey, timeout=self.timeout,
                attempts=self.attempts)
        except DiscoveryError as exc:
            return None, exc
        if self.locate:
            del proxy  # released now: only the address is wanted
            return address, None
        return proxy, None


class WaitForChange(NamedTuple):
    """Step: wait until the view is newer than ``version``, ``timeout`` s at most."""

    version: int
    timeout: float


Step = Union[Connect, WaitForChange]

#: ``(version, entries, rejected)``: a browser's view, taken atomically.
Snapshot = tuple[int, list[Entry], Mapping[str, tuple[str, str]]]


def plan(query: Query, snapshot: Callable[[], Snapshot],
         resolve_class: Callable[[Entry], type | None], started: float,
         cancel: threading.Event | None = None) -> Generator[Step, Any, Any]:
    """The plan ``query`` asks for: :func:`gather` with ``query.many``, else
    :func:`search`; both runtimes call this."""
    steps = gather if query.many else search
    return steps(query, snapshot, resolve_class, started, cancel)


def _untried(entries: Sequence[Entry], tried: set[str]) -> list[Entry]:
    """Adverts not tried yet, those whose endpoints all failed recently last."""
    return sorted((entry for entry in entries if entry.instance.lower() not in tried),
                  key=all_dead)


def _importable(fresh: list[Entry], tried: set[str],
                resolve_class: Callable[[Entry], type | None],
                attempts: list[Attempt], deadline: float) -> Iterator[tuple[Entry, type]]:
    """Each advert of ``fresh`` with its class, until ``deadline``.

    Marks each as tried; one whose class cannot be imported here is noted in
    ``attempts`` and skipped.
    """
    for entry in fresh:
        if deadline - time.monotonic() <= 0:
            return
        tried.add(entry.instance.lower())
        actor_class = resolve_class(entry)
        if actor_class is None:
            attempts.append((entry.instance, "-", f"class {entry.actor_class} "
                             "cannot be imported here"))
            continue
        yield entry, actor_class


def search(query: Query, snapshot: Callable[[], Snapshot],
           resolve_class: Callable[[Entry], type | None], started: float,
           cancel: threading.Event | None = None) -> Generator[Step, Any, Any]:
    """The discovery algorithm; returns the first proxy a :class:`Connect` gave.

    Every advert is tried once, those whose endpoints all failed recently
    last; each try gets what is left of the one deadline, ``query.timeout``
    seconds after ``started`` (``time.monotonic()``).  Raises
    :class:`DiscoveryTimeoutError` (what was tried, what was refused) when
    the deadline passes, :class:`DiscoveryError` when ``cancel`` is set.
    """
    deadline = started + query.timeout
    attempts: list[Attempt] = []
    tried: set[str] = set()
    while True:
        version, entries, rejected = snapshot()
        fresh = _untried(entries, tried)
        for entry, actor_class in _importable(fresh, tried, resolve_class, attempts,
                                              deadline):
            try:
                return (yield Connect(actor_class, entry, deadline - time.monotonic(),
                                      attempts))
            except DiscoveryError:
                continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if cancel is not None and cancel.is_set():
            raise DiscoveryError("discovery was cancelled")
        yield WaitForChange(version, remaining)
    raise DiscoveryTimeoutError(timeout_message(query, attempts, rejected), attempts)


def gather(query: Query, snapshot: Callable[[], Snapshot],
           resolve_class: Callable[[Entry], type | None], started: float,
           cancel: threading.Event | None = None) -> Generator[Step, Any, Any]:
    """Like :func:`search`, but returns the addresses of every advert that answered.

    Each advert is tried once (connected to, authenticated, checked to be of
    the wanted class), in the order of :func:`search`; the address that
    answered is kept, one per advert, without repeats, in the order they
    answered.  Stops as soon as ``query.min_count`` answered; without it,
    once no new advert was seen and no new node answered for
    ``query.settle`` seconds, after the first node did; at the latest at the
    deadline, with what answered by then.
    Raises :class:`DiscoveryTimeoutError` when none answered, and
    :class:`DiscoveryError` when ``cancel`` is set.
    """
    deadline = started + query.timeout
    attempts: list[Attempt] = []
    tried: set[str] = set()
    found: list[Address] = []
    heard = started
    rejected: Mapping[str, tuple[str, str]] = {}
    while True:
        version, entries, rejected = snapshot()
        fresh = _untried(entries, tried)
        if fresh:
            heard = time.monotonic()  # a new advert: listen on for others
        for entry, actor_class in _importable(fresh, tried, resolve_class, attempts,
                                              deadline):
            try:
                address = yield Connect(actor_class, entry, deadline - time.monotonic(),
                                        attempts, locate=True)
            except DiscoveryError:
                continue
            if address not in found:
                found.append(address)
                heard = time.monotonic()
            if query.min_count is not None and len(found) >= query.min_count:
                return found
        end = _gather_end(query, deadline, heard, bool(found))
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        if cancel is not None and cancel.is_set():
            raise DiscoveryError("discovery was cancelled")
        yield WaitForChange(version, remaining)
    if found:
        return found
    raise DiscoveryTimeoutError(timeout_message(query, attempts, rejected), attempts)


def _gather_end(query: Query, deadline: float, heard: float, any_found: bool) -> float:
    """When :func:`gather` stops listening, given when it last heard a new node."""
    if query.min_count is None and query.settle is not None and any_found:
        return min(deadline, heard + query.settle)
    return deadline


class Plan:
    """Steps through a :func:`search`: :attr:`step` is what to do next.

    Report each step's outcome with :meth:`proceed` (a value, or the
    DiscoveryError it raised); :attr:`done` turns true once the search
    returned, with :attr:`result`.  Other exceptions propagate.
    """

    def __init__(self, steps: Generator[Step, Any, Any]) -> None:
        self._steps = steps
        self.done = False
        self.result: Any = None
        self.step: Step | None = None
        self._advance(lambda: next(steps))

    def proceed(self, value: Any = None, error: DiscoveryError | None = None) -> None:
        """Resume the search with the outcome of :attr:`step`."""
        if error is not None:
            self._advance(lambda: self._steps.throw(error))
        else:
            self._advance(lambda: self._steps.send(value))

    def _advance(self, move: Callable[[], Step]) -> None:
        try:
            self.step = move()
        except StopIteration as stop:
            self.done, self.result, self.step = True, stop.value, None


def timeout_message(query: Query, attempts: list[Attempt],
                    rejected: Mapping[str, tuple[str, str]]) -> str:
    """What a :class:`DiscoveryTimeoutError` says: tried, refused, and what to do."""
    wanted = (class_path(query.actor_class) if query.actor_class is not None
              else "registry node" if query.role == "registry" else "actor")
    role = None if wanted == "registry node" else query.role
    filters = "".join(f" {label}={value!r}" for label, value in
                      (("name", query.name), ("role", role)) if value is not None)
    parts = [f"no {wanted}{filters} answered within {query.timeout:g} s on "
             f"{describe(query.interfaces)}"]
    if attempts:
        parts.append("tried " + "; ".join(
            f"{short_label(instance)!r} at {address}: {why}"
            for instance, address, why in attempts))
    if rejected:
        parts.append("refused adverts " + "; ".join(
            f"{short_label(instance)!r}: {why}" for instance, why in rejected.values()))
        if any("not signed" in why for _, why in rejected.values()):
            parts.append("publish with authkey=... or pass require_signature=False")
    if not attempts and not rejected:
        what = ("a registry node running and advertised" if wanted == "registry node"
                else "the actor published")
        parts.append(f"no matching advert was seen (is {what}, and on these "
                     "interfaces?)")
    return "; ".join(parts)


def short_label(instance: str) -> str:
    """An instance name without the service type."""
    suffix = "." + SERVICE_TYPE
    if instance.lower().endswith(suffix.lower()):
        return instance[: -len(suffix)]
    return instance


def reconnect_policy(reconnect: Any) -> Any:
    """The :class:`registry.ReconnectPolicy` ``reconnect=`` asks for, or None."""
    if reconnect is False or reconnect is None:
        return None
    if reconnect is True:
        return registry.ReconnectPolicy()
    if isinstance(reconnect, registry.ReconnectPolicy):
        return reconnect
    raise TypeError(f"reconnect must be True, False or a registry.ReconnectPolicy, "
                    f"not {reconnect!r}")


def reconnecting(resolver: Callable[[], Any], policy: Any, label: str,
                 proxy: Any) -> Any:
    """A :class:`registry.Reconnecting` holding ``proxy``, found again by ``resolver``."""
    return registry.Reconnecting(resolver, name=label, policy=policy, proxy=proxy)
