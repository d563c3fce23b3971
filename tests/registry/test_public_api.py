"""The registry package's public surface is exactly its sorted ``__all__``."""
from __future__ import annotations

import types
from pathlib import Path

import registry


def test_all_is_sorted_and_lists_exactly_the_public_names():
    assert registry.__all__ == sorted(registry.__all__)
    public = {name for name, value in vars(registry).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    public.discard("annotations")  # from __future__
    assert set(registry.__all__) == public


def test_errors_form_one_tree_under_uactor():
    import uactor

    for error in (registry.InvalidArgumentError, registry.InvalidAddressError,
                  registry.UnknownNameError, registry.NoActorAvailableError,
                  registry.NotOwnerError, registry.UnknownLeaseError,
                  registry.StoreUnavailableError, registry.StoreConfigError):
        assert issubclass(error, registry.RegistryError)
    assert issubclass(registry.NotOwnerError, PermissionError)
    assert issubclass(registry.UnknownLeaseError, KeyError)
    assert issubclass(registry.StoreUnavailableError, ConnectionError)
    assert issubclass(registry.StoreConfigError, ValueError)
    assert issubclass(registry.RegistryError, uactor.UActorException)
    assert issubclass(registry.InvalidArgumentError, TypeError)
    assert issubclass(registry.InvalidAddressError, ValueError)
    assert issubclass(registry.UnknownNameError, KeyError)
    assert issubclass(registry.NoActorAvailableError, uactor.ActorConnectionError)


def test_package_ships_py_typed():
    assert (Path(registry.__file__).parent / "py.typed").is_file()
