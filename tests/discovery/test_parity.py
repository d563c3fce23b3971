"""The threaded and asyncio flavours take the same arguments (issue 12, section 3).

Both are thin runtimes around one core, so their public functions and
classes must agree parameter for parameter, defaults included.  Only the
differences :mod:`discovery.aio` documents are allowed: coroutines instead of
blocking calls, an ``AsyncZeroconf`` for ``zeroconf``, and ``aclose``/``start``
with ``async with`` instead of ``close`` with ``with``.
"""
from __future__ import annotations

import inspect

import pytest

import discovery
import discovery.aio as aio

#: Names of :mod:`discovery` that no runtime changes (data, errors, the
#: publication handle and the mixin that runs inside actor processes).
RUNTIME_NEUTRAL = {
    "SERVICE_TYPE", "Advertised", "Entry", "Publication", "DiscoveryError",
    "DiscoveryTimeoutError", "PublicationError", "UnknownInterfaceError",
}

#: Threaded name -> asyncio name, where they differ.
RENAMED = {"Browser": "AsyncBrowser"}

#: The one annotation allowed to differ, and how (``ZC``: the browsers' shared
#: signature, generic over the runtime's zeroconf class).
ZEROCONF = ("Zeroconf | None", "AsyncZeroconf | None", "ZC | None")

#: Browser methods that only one runtime has (the documented lifecycle).
THREADED_ONLY = {"close", "__enter__", "__exit__"}
ASYNC_ONLY = {"aclose", "start", "__aenter__", "__aexit__"}

#: What stays synchronous in the asyncio flavour.
SYNCHRONOUS = {"entries", "rejected", "get", "closed"}


def flavours() -> list[tuple[str, str]]:
    return [(name, RENAMED.get(name, name)) for name in discovery.__all__
            if name not in RUNTIME_NEUTRAL]


def parameters(function: object) -> list[tuple[str, object, object, str]]:
    """(name, kind, default, annotation) of each parameter, zeroconf's made equal."""
    found = []
    for parameter in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        annotation = str(parameter.annotation)
        if parameter.name == "zeroconf":
            assert annotation in ZEROCONF, f"{function}: zeroconf is {annotation}"
            annotation = "zeroconf"
        found.append((parameter.name, parameter.kind, parameter.default, annotation))
    return found


def test_every_flavoured_name_has_an_asyncio_namesake():
    assert sorted(aio.__all__) == sorted(async_name for _, async_name in flavours())
    assert set(RUNTIME_NEUTRAL) <= set(discovery.__all__)


@pytest.mark.parametrize("threaded, asynchronous", flavours())
def test_same_parameters_and_defaults(threaded, asynchronous):
    blocking, coroutine = getattr(discovery, threaded), getattr(aio, asynchronous)
    assert parameters(blocking) == parameters(coroutine)
    if inspect.isfunction(blocking):
        assert inspect.iscoroutinefunction(coroutine) == (threaded not in SYNCHRONOUS)
        assert not inspect.iscoroutinefunction(blocking)
    if inspect.isfunction(blocking):
        assert inspect.signature(blocking).return_annotation == \
            inspect.signature(coroutine).return_annotation


def public_members(cls: type) -> set[str]:
    return {name for name in dir(cls)
            if not name.startswith("_") or name in THREADED_ONLY | ASYNC_ONLY}


def test_browsers_have_the_same_methods():
    threaded, asynchronous = public_members(discovery.Browser), public_members(aio.AsyncBrowser)
    assert threaded - asynchronous == THREADED_ONLY
    assert asynchronous - threaded == ASYNC_ONLY
    for name in sorted(threaded & asynchronous):
        blocking = inspect.getattr_static(discovery.Browser, name)
        coroutine = inspect.getattr_static(aio.AsyncBrowser, name)
        if isinstance(blocking, property):
            assert isinstance(coroutine, property), name
            continue
        assert parameters(blocking) == parameters(coroutine), name
        assert inspect.iscoroutinefunction(coroutine) == (name not in SYNCHRONOUS), name


def test_browse_is_the_browser_of_each_runtime():
    assert discovery.browse is discovery.Browser and aio.browse is aio.AsyncBrowser


def test_one_core_under_both():
    core = discovery._browse.BrowserBase
    assert issubclass(discovery.Browser, core) and issubclass(aio.AsyncBrowser, core)
    # The read-only API is written once, in the core.
    for name in ("__init__", "entries", "rejected", "get", "__iter__", "__len__",
                 "__repr__"):
        assert name not in vars(discovery.Browser), name
        assert name not in vars(aio.AsyncBrowser), name


def test_one_plan_finds_one_registry_or_all_of_them():
    # find_registry and find_registries, in both runtimes, build their query
    # with one function and run the plan the core picks (search or gather);
    # no runtime holds a gathering loop of its own.
    import discovery._search as core

    for module in (discovery._browse, aio):
        assert "registry_query(" in inspect.getsource(module.find_registries)
        assert "registry_query(" in inspect.getsource(module.find_registry)
        assert module.plan is core.plan
        assert not hasattr(module, "gather") and not hasattr(module, "search")
    assert "gather" in inspect.getsource(core.plan)
    assert parameters(discovery.find_registries) == parameters(aio.find_registries)
