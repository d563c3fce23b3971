"""The registry package's public surface is exactly its sorted ``__all__``."""
from __future__ import annotations

import pickle
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

    errors = [value for value in map(vars(registry).get, registry.__all__)
              if isinstance(value, type) and issubclass(value, BaseException)]
    assert len(errors) == 12
    for error in errors:
        assert issubclass(error, registry.RegistryError)
    assert issubclass(registry.UnknownLeaseError, KeyError)
    assert issubclass(registry.StoreUnavailableError, ConnectionError)
    assert issubclass(registry.StoreConfigError, ValueError)
    assert issubclass(registry.RegistryError, uactor.UActorException)
    assert issubclass(registry.InvalidArgumentError, TypeError)
    assert issubclass(registry.InvalidValueError, ValueError)
    assert issubclass(registry.InvalidAddressError, registry.InvalidValueError)
    assert issubclass(registry.UnknownNameError, KeyError)
    assert issubclass(registry.NotOwnerError, PermissionError)
    assert issubclass(registry.NoActorAvailableError, uactor.ActorConnectionError)
    assert issubclass(registry.ReconnectError, uactor.ActorConnectionError)


def test_public_classes_show_their_public_module():
    """``registry.UnknownNameError`` in tracebacks, not ``registry._errors....``;
    the Registry actor keeps the module uactor and discovery name it by."""
    classes = [value for value in map(vars(registry).get, registry.__all__)
               if isinstance(value, type) and value is not registry.Registry]
    assert classes
    assert {cls.__name__: cls.__module__ for cls in classes} == \
        {cls.__name__: "registry" for cls in classes}
    assert registry.Registry.__module__ == "registry._actor"


def test_errors_keep_their_public_name_across_processes():
    error = registry.UnknownNameError("no service named 'x'")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is registry.UnknownNameError and str(copy) == str(error)
    assert b"registry._errors" not in pickle.dumps(error)
    assert b"registry._table" not in pickle.dumps(registry.Entry(("h", 1), ("h", 1), "n",
                                                                 None, None, None, None))


def test_package_ships_py_typed():
    assert (Path(registry.__file__).parent / "py.typed").is_file()
