"""Reconnecting proxies: find an actor again by name after it restarted elsewhere.

A :class:`Reconnecting` stands in for an actor proxy.  It holds a *resolver*,
a callable returning a fresh connected proxy (:func:`registry.connect_actor`
and :func:`discovery.discover` build one from the service name), and passes
attribute reads and method calls on to the proxy it currently holds.  When
that proxy is lost, it resolves a new one, with exponential backoff, at most
:attr:`ReconnectPolicy.attempts` times and within
:attr:`ReconnectPolicy.deadline` seconds.

What happens to a call depends on whether it may have reached the actor:

* it failed **before anything was sent** (the connection could not be made:
  :class:`uactor.ActorConnectionError` other than
  :class:`uactor.ActorDeadError`; an authkey rejected by whatever listens at
  the old address now; or a new actor at the old address refusing the
  request because it does not know the object): the wrapper resolves a new
  proxy and retries the call on it, transparently.  A cached connection the
  actor has closed is noticed before a call is written to it, so the first
  call after an actor died is such a call;
* it failed **in flight** (:class:`uactor.ActorDeadError`,
  :class:`uactor.CallTimeoutError`): it may or may not have run, so it is
  never retried; the error is raised and the next call resolves a new proxy;
* the actor **raised** an exception: it reaches the caller unchanged, and
  the proxy is kept (an actor raising a connection error of its own does not
  make the wrapper reconnect).

When resolution finally fails, :class:`ReconnectError` names the service,
the policy and every attempt's outcome.  No thread is started: resolution
runs in the calling thread, one thread at a time; the others wait for its
outcome and share it.
"""
from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import random
import threading
import time
from typing import Any, Callable, NoReturn

import uactor

from ._closing import Closable
from ._errors import (
    InvalidArgumentError,
    InvalidValueError,
    ReconnectError,
    UnknownNameError,
    quote,
)

__all__ = [
    "DEFAULT_RETRY_ON",
    "ReconnectPolicy",
    "Reconnecting",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Resolution attempts per reconnection (the first one is immediate).
DEFAULT_ATTEMPTS = 8

#: Seconds one reconnection may take in all, waits included; an attempt that
#: could not start before then is not made.
DEFAULT_DEADLINE = 10.0

#: Seconds waited before the second attempt; each further wait is
#: ``multiplier`` times longer, up to ``max_delay``.  With the defaults the
#: waits are 0.1, 0.2, 0.4, 0.8, 1.6, 2, 2 s: about 7 s for 8 attempts,
#: enough for a supervisor to restart an actor and for it to register.
DEFAULT_INITIAL_DELAY = 0.1
DEFAULT_MULTIPLIER = 2.0
DEFAULT_MAX_DELAY = 2.0

#: Fraction of each wait drawn at random (waits last between ``1 - jitter``
#: and 1 times their nominal value), so clients of a restarted actor do not
#: all come back at the same instant.
DEFAULT_JITTER = 0.2

#: Resolver errors that mean "not available yet, try again": nothing
#: listening or answering, no entry registered, a name the registry has not
#: learned again since it restarted, a discovery that found nothing in time.
#: Anything else (a wrong authkey, a wrong class, a bad argument) is raised
#: at once.
DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = (
    ConnectionError, TimeoutError, UnknownNameError)

#: Seconds a thread waits, beyond the policy deadline, for a reconnection
#: another thread is making (that thread's last attempt may still be within
#: its connect timeout when the deadline passes).
_WAIT_GRACE = 15.0

#: Smallest call deadline (s) given to a resolver, so an attempt started just
#: before the policy deadline still gets a chance.
_MIN_CALL_TIME = 0.05

# Indirections so tests can drive time and chance.
_monotonic = time.monotonic
_sleep = time.sleep
_random = random.random


# --------------------------------------------------------------------------
# Errors and policy
# --------------------------------------------------------------------------

def _check_number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(
            f"ReconnectPolicy {what} must be a number of seconds, got "
            f"{type(value).__name__} {quote(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise InvalidValueError(
            f"ReconnectPolicy {what} must be a finite number >= 0, got {quote(value)}")
    return number


@dataclasses.dataclass(frozen=True)
class ReconnectPolicy:
    """How hard a :class:`Reconnecting` proxy tries to find its actor again.

    One *reconnection* is a series of resolution attempts: the first at
    once, the next after ``initial_delay`` seconds, each wait ``multiplier``
    times the previous one up to ``max_delay`` (minus up to ``jitter`` of
    it, at random).  It gives up after ``attempts`` attempts, or when the
    next attempt could not start within ``deadline`` seconds of the first.
    The budget is per call: a call whose retry fails before anything was
    sent again resolves again, from the same budget.
    """

    attempts: int = DEFAULT_ATTEMPTS
    deadline: float = DEFAULT_DEADLINE
    initial_delay: float = DEFAULT_INITIAL_DELAY
    multiplier: float = DEFAULT_MULTIPLIER
    max_delay: float = DEFAULT_MAX_DELAY
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise InvalidArgumentError(
                f"ReconnectPolicy attempts must be an int, got "
                f"{type(self.attempts).__name__} {quote(self.attempts)}")
        if self.attempts < 1:
            raise InvalidValueError(
                f"ReconnectPolicy attempts must be at least 1, got {quote(self.attempts)}")
        for what in ("deadline", "initial_delay", "multiplier", "max_delay", "jitter"):
            object.__setattr__(self, what, _check_number(getattr(self, what), what))
        if self.deadline <= 0:
            raise InvalidValueError(
                f"ReconnectPolicy deadline must be positive, got {self.deadline!r}")
        if self.multiplier < 1:
            raise InvalidValueError(
                f"ReconnectPolicy multiplier must be at least 1, got {self.multiplier!r}")
        if self.jitter > 1:
            raise InvalidValueError(
                f"ReconnectPolicy jitter must be between 0 and 1, got {self.jitter!r}")

    def delay(self, attempt: int) -> float:
        """Nominal seconds waited before attempt number ``attempt`` (from 1).

        0 before the first; ``initial_delay * multiplier ** (attempt - 2)``,
        at most ``max_delay``, before the others.
        """
        if attempt <= 1 or self.initial_delay == 0:
            return 0.0
        try:
            nominal = self.initial_delay * self.multiplier ** (attempt - 2)
        except OverflowError:
            nominal = math.inf
        return min(nominal, self.max_delay)

    def describe(self) -> str:
        return f"{self.attempts} attempts within {self.deadline:g} s"


# --------------------------------------------------------------------------
# Telling failures apart
# --------------------------------------------------------------------------

#: What a failed call means for the proxy that made it.
_PASS = "pass"      # the actor raised it, or it is not about the connection
_STALE = "stale"    # may have run: raise, resolve before the next call
_RETRY = "retry"    # nothing was sent: resolve and retry now


def _verdict(exc: BaseException) -> str:
    if isinstance(exc, uactor.NotHeldError):
        return _RETRY  # a new actor took the old address; nothing ran
    if uactor.remote_traceback(exc) is not None:
        return _PASS
    if isinstance(exc, (uactor.ActorDeadError, uactor.CallTimeoutError)):
        return _STALE
    if isinstance(exc, (uactor.ActorConnectionError, uactor.AuthkeyError)):
        return _RETRY  # raised while connecting, before the request was sent
    return _PASS


def _summarize(errors: list[tuple[int, BaseException]]) -> str:
    """``lost proxy: X; attempt 1: Y; attempts 2-4: Z``: repeats told once."""
    parts: list[str] = []
    run: list[int] = []
    for index, (number, exc) in enumerate(errors):
        text = f"{type(exc).__name__}: {exc}"
        run.append(number)
        following = errors[index + 1] if index + 1 < len(errors) else None
        if following is not None and following[0] == number + 1 and number > 0 and \
                f"{type(following[1]).__name__}: {following[1]}" == text:
            continue
        if run[0] == 0:
            label = "lost proxy"
        elif len(run) == 1:
            label = f"attempt {run[0]}"
        else:
            label = f"attempts {run[0]}-{run[-1]}"
        parts.append(f"{label}: {text}")
        run = []
    return "; ".join(parts)


class _Budget:
    """One call's allowance of resolution attempts and the outcomes so far."""

    __slots__ = ("policy", "started", "attempts", "proxy_from", "borrowed", "errors")

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self.started = _monotonic()
        #: Resolutions attempted, and the number of the one that gave the
        #: proxy in use (0: a proxy this call did not resolve).
        self.attempts = 0
        self.proxy_from = 0
        #: Calls that failed before sending on proxies this call did not
        #: resolve itself (bounded too: a call must not loop forever on
        #: other threads' reconnections).
        self.borrowed = 0
        #: ``(attempt number, error)``; 0 numbers the proxy that was lost.
        self.errors: list[tuple[int, BaseException]] = []

    def elapsed(self) -> float:
        return _monotonic() - self.started

    def remaining(self) -> float:
        return self.policy.deadline - self.elapsed()


# --------------------------------------------------------------------------
# The wrapper
# --------------------------------------------------------------------------

class _Method:
    """A bound method of the actor, called through the current proxy."""

    __slots__ = ("_owner", "_name")

    def __init__(self, owner: Reconnecting, name: str) -> None:
        self._owner = owner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self._name
        return self._owner._run(lambda proxy: getattr(proxy, name)(*args, **kwargs))

    def __repr__(self) -> str:
        return f"<reconnecting method {self._name!r} of {self._owner!r}>"


class Reconnecting(Closable):
    """An actor proxy that finds its actor again, by name, when it is lost.

    :param resolver: a callable returning a fresh connected proxy (it looks
        the actor up by name each time it is called).
    :param name: the service name, for messages and logs.
    :param policy: a :class:`ReconnectPolicy` (default: its defaults).
    :param proxy: the first proxy, already resolved; without one, the first
        call resolves it under the policy.
    :param retry_on: resolver exceptions that count as "not available yet"
        and are retried; others are raised at once.

    Attribute reads and method calls are passed on to the current proxy, as
    the module documentation describes.  Results, including proxies an
    actor returns, come from the actor that answered and do not reconnect.
    The names the wrapper defines itself (``proxy``, ``policy``, ``closed``,
    ``close``) hide actor methods of the same names: reach those through
    :attr:`proxy`.

    May be shared between threads.  Closing it (:meth:`close`, or leaving a
    ``with`` block) releases the proxy it holds; it cannot be reopened.  It
    cannot be pickled: send :attr:`proxy` to another process instead.
    """

    __slots__ = ("_resolver", "_name", "_policy", "_retry_on", "_state", "_failure",
                 "_closed", "_lock", "_resolving", "_kinds", "__weakref__")

    def __init__(self, resolver: Callable[[], Any], *, name: str,
                 policy: ReconnectPolicy | None = None, proxy: Any = None,
                 retry_on: tuple[type[BaseException], ...] = DEFAULT_RETRY_ON) -> None:
        if not callable(resolver):
            raise InvalidArgumentError(
                f"resolver must be a callable returning a connected proxy, got {quote(resolver)}")
        if policy is None:
            policy = ReconnectPolicy()
        elif not isinstance(policy, ReconnectPolicy):
            raise InvalidArgumentError(
                f"policy must be a ReconnectPolicy, got {type(policy).__name__} {quote(policy)}")
        self._resolver: Callable[[], Any] | None = resolver
        self._name = str(name)
        self._policy = policy
        self._retry_on = tuple(retry_on)
        #: ``(current proxy or None, generation)``, replaced as a whole so the
        #: call path reads it without a lock; the generation grows with every
        #: change, so a thread tells whether someone acted since it looked.
        self._state: tuple[Any, int] = (proxy, 0)
        #: ``(generation, ReconnectError)`` of the last failed reconnection.
        self._failure: tuple[int, ReconnectError] | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._resolving = threading.Lock()
        #: Attribute name -> whether it is a method on the proxy class.
        self._kinds: dict[str, bool] = {}

    # -- public surface ------------------------------------------------------

    @property
    def proxy(self) -> Any:
        """The current proxy (resolving one first if the last was lost).

        For introspection (``uactor.typeid(wrapper.proxy)``) and for calls
        that should not reconnect.
        """
        return self._run(lambda proxy: proxy)

    @property
    def policy(self) -> ReconnectPolicy:
        """The :class:`ReconnectPolicy` in force."""
        return self._policy

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release the current proxy and the resolver (idempotent).

        Calls made afterwards raise :class:`uactor.ProxyError`; calls in
        progress in other threads finish on the proxy they started with.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            released, generation = self._state
            self._state = (None, generation + 1)
            resolver, self._resolver = self._resolver, None
        del released, resolver  # dropped outside the lock: a release may block

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # private and special names stay the wrapper's
            raise AttributeError(
                f"{type(self).__name__!r} object has no attribute {name!r}")
        is_method = self._kinds.get(name)
        if is_method is None:
            kind = type(self.proxy)
            is_method = inspect.isfunction(inspect.getattr_static(kind, name, None))
            self._kinds[name] = is_method
        if is_method:
            return _Method(self, name)
        return self._run(lambda proxy: getattr(proxy, name))

    def __dir__(self) -> list[str]:
        proxy, _ = self._state
        names = set(super().__dir__())
        if proxy is not None:
            names.update(name for name in dir(proxy) if not name.startswith("_"))
        return sorted(names)

    def __reduce__(self) -> Any:
        raise TypeError(
            f"{self!r} cannot be pickled: its resolver only works in this process; "
            "send wrapper.proxy (the current proxy) instead")

    def _describe(self) -> str:
        return repr(self._name)

    def _open_state(self) -> str:
        proxy, _ = self._state
        return "not connected" if proxy is None else f"via {proxy!r}"

    # -- calls -----------------------------------------------------------------

    def _run(self, operation: Callable[[Any], Any]) -> Any:
        """Apply ``operation`` to the current proxy, reconnecting as needed."""
        budget: _Budget | None = None
        state = self._state
        while True:
            proxy, generation = state
            if proxy is None:
                if budget is None:
                    budget = _Budget(self._policy)
                proxy, generation = self._reconnect(generation, budget)
            try:
                if isinstance(proxy, uactor.BaseProxy):  # resolvers may return others
                    uactor.discard_closed_connection(proxy)
                return operation(proxy)
            except Exception as exc:
                verdict = _verdict(exc)
                if verdict == _PASS:
                    raise
                self._invalidate(generation, exc)
                if verdict == _STALE:
                    raise
                if budget is None:
                    budget = _Budget(self._policy)
                budget.errors.append((budget.proxy_from, exc))
                if budget.proxy_from == 0:
                    budget.borrowed += 1
                    if budget.borrowed > self._policy.attempts or budget.remaining() <= 0:
                        raise self._give_up(
                            budget, f"the call could not reach the actor on "
                            f"{budget.borrowed} proxies other threads resolved") from exc
                logger.debug("%r: call failed before anything was sent (%s: %s); "
                             "reconnecting to retry it", self, type(exc).__name__, exc)
            finally:
                del proxy  # hold no reference while reconnecting
            state = self._state

    def _invalidate(self, generation: int, exc: BaseException) -> None:
        """Forget the proxy of ``generation`` (unless it was replaced already)."""
        with self._lock:
            lost, current = self._state
            if current != generation or lost is None:
                return
            self._state = (None, current + 1)
        logger.debug("%r lost %r (%s: %s)", self, lost, type(exc).__name__, exc)
        del lost  # released outside the lock

    def _reconnect(self, seen: int, budget: _Budget) -> tuple[Any, int]:
        """A fresh ``(proxy, generation)``: another thread's, or resolved here.

        ``seen`` is the generation the caller found without a proxy.
        """
        wait = max(budget.remaining(), 0.0) + _WAIT_GRACE
        if not self._resolving.acquire(timeout=wait):
            raise self._give_up(budget, f"another thread was still reconnecting "
                                f"after {wait:g} s")
        try:
            if self._closed:
                raise self._closed_error()
            proxy, generation = self._state
            if generation != seen:
                if proxy is not None:
                    budget.proxy_from = 0
                    return proxy, generation
                failure = self._failure
                if failure is not None and failure[0] == generation:
                    error = failure[1]  # another thread just tried and failed
                    raise ReconnectError(str(error), name=self._name,
                                         attempts=error.attempts,
                                         errors=error.errors) from error.__cause__
            return self._resolve(budget)
        finally:
            self._resolving.release()

    def _closed_error(self) -> uactor.ProxyError:
        return uactor.ProxyError(f"{self!r} is closed; connect again for a new one")

    def _resolve(self, budget: _Budget) -> tuple[Any, int]:
        """Call the resolver under the policy (holding ``_resolving``)."""
        policy = self._policy
        while True:
            number = budget.attempts + 1
            if number > policy.attempts:
                self._fail(budget, f"all {policy.attempts} attempts failed")
            delay = policy.delay(number)
            delay -= delay * policy.jitter * _random()
            if delay >= budget.remaining():
                self._fail(budget, f"the {policy.deadline:g} s deadline left no "
                                   "time for another attempt")
            if delay > 0:
                _sleep(delay)
            resolver = self._resolver
            if resolver is None:
                raise self._closed_error()
            budget.attempts = number
            try:
                with uactor.deadline(max(budget.remaining(), _MIN_CALL_TIME)):
                    fresh = resolver()
            except self._retry_on as exc:
                logger.debug("%r: attempt %d failed: %s: %s",
                             self, number, type(exc).__name__, exc)
                budget.errors.append((number, exc))
                continue
            if fresh is None:
                raise InvalidArgumentError(
                    f"the resolver of {self._name!r} returned None, not a proxy")
            with self._lock:
                closed = self._closed
                if not closed:
                    generation = self._state[1] + 1
                    self._state = (fresh, generation)
                    self._failure = None
            if closed:
                raise self._closed_error()
            budget.proxy_from = number
            logger.info("reconnected to %r after %d attempt(s) in %.2f s: %r",
                        self._name, number, budget.elapsed(), fresh)
            return fresh, generation

    def _give_up(self, budget: _Budget, why: str) -> ReconnectError:
        errors = tuple(budget.errors)
        tried = _summarize(list(errors)) if errors else "nothing"
        return ReconnectError(
            f"could not reconnect to {self._name!r}: {why} ({budget.attempts} "
            f"resolution attempts in {budget.elapsed():.2f} s; policy: "
            f"{self._policy.describe()}). Tried: {tried}. Check that a "
            f"{self._name!r} actor is running and reachable, or allow more time "
            "with ReconnectPolicy(attempts=..., deadline=...)",
            name=self._name, attempts=budget.attempts, errors=errors)

    def _fail(self, budget: _Budget, why: str) -> NoReturn:
        """Give up this reconnection; threads waiting for it get the same error."""
        error = self._give_up(budget, why)
        with self._lock:
            generation = self._state[1] + 1
            self._state = (None, generation)
            self._failure = (generation, error)
        logger.debug("%s", error)
        raise error from (budget.errors[-1][1] if budget.errors else None)
