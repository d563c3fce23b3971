"""registry/ and discovery/ use only uactor's public names (issue 12, section 2).

Reaching into the core's private state through ``uactor._x`` or through
strings such as ``getattr(proxy, "_manager")`` is invisible to linters, type
checkers and renames.  This test reads every module of both packages and fails
on either; the core's sunder extension names (``_exposed_``,
``_method_to_typeid_``, ``_options_``, ``_proxies_``, ``_callmethod`` and the
``_actor_started_``/``_actor_stopping_`` hooks) are documented API.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

import uactor

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("registry", "discovery")

#: Underscore names of the core that are documented extension API.
DOCUMENTED = {"_exposed_", "_method_to_typeid_", "_options_", "_proxies_", "_callmethod",
              "_actor_started_", "_actor_stopping_"}


def _private_core_names() -> set[str]:
    """Private names defined by uactor's module and by its public classes."""
    names = {name for name in vars(uactor) if name.startswith("_")}
    for public in uactor.__all__:
        value = getattr(uactor, public)
        if isinstance(value, type):
            for klass in value.__mro__:
                if klass.__module__ == "uactor":
                    names.update(name for name in vars(klass) if name.startswith("_"))
    names.update({"_manager", "_authkey", "_serializer", "_token", "_id", "_tls",
                  "_timeout", "_registry", "_address_state", "_owned", "_process",
                  "_state", "_drop_connection", "_current_server"})
    return {name for name in names
            if not (name.startswith("__") and name.endswith("__"))} - DOCUMENTED


def _sources() -> list[pathlib.Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def _violations(path: pathlib.Path, private: set[str]) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "uactor" and node.attr.startswith("_") \
                and node.attr != "__version__":
            found.append(f"{where}: uactor.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr in private \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{where}: .{node.attr} on {ast.unparse(node.value)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr", "delattr") \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and node.args[1].value in private:
            found.append(f"{where}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def _own_private_names() -> set[str]:
    """Underscore attributes the packages define themselves (``self._state = ...``)."""
    names = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return {name for name in names if name.startswith("_")}


@pytest.mark.timeout(60)
def test_packages_use_only_public_names_of_the_core():
    private = _private_core_names()
    assert {"_manager", "_RemoteTraceback", "_current_server"} <= private
    private -= _own_private_names() - {"_manager", "_authkey", "_timeout", "_tls"}
    found = [hit for path in _sources() for hit in _violations(path, private)]
    assert not found, "private uactor names used:\n" + "\n".join(found)


def test_the_check_catches_reach_ins(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import uactor\n"
                      "a = uactor._current_server\n"
                      "b = getattr(proxy, '_manager', None)\n"
                      "c = proxy._authkey\n"
                      "d = self._authkey\n")
    hits = _violations_for(sample)
    assert len(hits) == 3, hits


def _violations_for(path: pathlib.Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, path.parent
    try:
        return _violations(path, _private_core_names())
    finally:
        ROOT = saved
