"""Types for the single-module distribution ship as the ``uactor-stubs`` package.

PEP 561 lets a package carry ``py.typed``, but not a lone module; the stubs are
generated from ``uactor.py``'s own annotations, and this test keeps them equal.
"""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not _installed("mypy"), reason="mypy (stubgen) not installed")
def test_stub_package_matches_the_module(tmp_path):
    stubgen = [sys.executable, "-c", "from mypy.stubgen import main; main()"]
    subprocess.run([*stubgen, "--include-private",
                    str(ROOT / "uactor.py"), "-o", str(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    generated = (tmp_path / "uactor.pyi").read_text()
    shipped = (ROOT / "uactor-stubs" / "__init__.pyi").read_text()
    assert shipped == generated, "regenerate: stubgen --include-private uactor.py -o /tmp/s && " \
        "cp /tmp/s/uactor.pyi uactor-stubs/__init__.pyi"


def test_packages_are_marked_typed():
    for package in ("registry", "discovery"):
        assert (ROOT / package / "py.typed").exists()


SAMPLES = ROOT / "tests" / "packaging" / "typing_samples"

#: What a type checker must report in typed_errors.py: one line per mistake.
MYPY_EXPECTED = (
    ':15: error: "Worker" has no attribute "ad"; maybe "add"?',
    ':16: error: Argument 1 to "add" of "Worker" has incompatible type "str"; expected "int"',
    ':17: error: Incompatible types in assignment (expression has type "int", '
    'variable has type "str")',
    ':19: error: Missing positional argument "b" in call to "add" of "Worker"',
    ':21: error: "Worker" has no attribute "subtract"',
    ':29: error: "Worker" has no attribute "ad"; maybe "add"?',  # discovery.discover
    ':30: error: Argument 2 to "add" of "Worker" has incompatible type "bytes"; expected "int"',
    ':37: error: "Worker" has no attribute "subtract"',  # await discovery.aio.discover
    ':38: error: Incompatible types in assignment (expression has type "int", '
    'variable has type "str")',
    # The awaitable form, uactor.call_async, keeps the method's signature.
    ':44: error: "Worker" has no attribute "ad"; maybe "add"?',
    ':45: error: Argument 2 to "call_async" has incompatible type "str"; expected "int"',
    ':46: error: Argument 1 to "call_async" has incompatible type "Callable[[int, int], int]"; '
    'expected "Callable[[int, int], str]"',
)
PYRIGHT_EXPECTED = (
    ':15:12 - error: Cannot access attribute "ad" for class "Worker"',
    ':16:16 - error: Argument of type "Literal[\'1\']" cannot be assigned to parameter "a"',
    ':17:17 - error: Type "int" is not assignable to declared type "str"',
    ':19:5 - error: Argument missing for parameter "b"',
    ':21:12 - error: Cannot access attribute "subtract" for class "Worker"',
    ':29:11 - error: Cannot access attribute "ad" for class "Worker"',
    ':30:18 - error: Argument of type "Literal[b"2"]" cannot be assigned to parameter "b"',
    ':37:11 - error: Cannot access attribute "subtract" for class "Worker"',
    ':38:17 - error: Type "int" is not assignable to declared type "str"',
    ':44:36 - error: Cannot access attribute "ad" for class "Worker"',
    ':45:41 - error: Argument of type "Literal[\'1\']" cannot be assigned to parameter "a"',
    ':46:17 - error: Type "int" is not assignable to declared type "str"',
)


def _check(command: list[str], sample: str) -> subprocess.CompletedProcess:
    return subprocess.run([*command, str(SAMPLES / sample)], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


@pytest.mark.timeout(300)
@pytest.mark.skipif(not _installed("mypy"), reason="mypy not installed")
def test_mypy_sees_the_actor_methods_on_proxies():
    mypy = [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir=/dev/null",
            "--hide-error-context"]
    good = _check(mypy, "typed_ok.py")
    assert good.returncode == 0, good.stdout
    bad = _check(mypy, "typed_errors.py")
    assert bad.returncode == 1, bad.stdout
    for expected in MYPY_EXPECTED:
        assert expected in bad.stdout, f"{expected!r} not in:\n{bad.stdout}"
    assert "Found 12 errors" in bad.stdout


def _pyright() -> list[str] | None:
    """The pyright command, if it runs here (its first run fetches its own node module)."""
    if not _installed("pyright"):
        return None
    command = [sys.executable, "-m", "pyright"]
    try:
        probe = subprocess.run([*command, "--version"], capture_output=True, text=True,
                               timeout=120)
    except subprocess.TimeoutExpired:
        return None
    return command if probe.returncode == 0 else None


@pytest.mark.timeout(300)
def test_pyright_sees_the_actor_methods_on_proxies():
    pyright = _pyright()
    if pyright is None:
        pytest.skip("pyright is not installed or could not fetch its runtime")
    good = _check(pyright, "typed_ok.py")
    assert good.returncode == 0, good.stdout
    bad = _check(pyright, "typed_errors.py")
    assert bad.returncode == 1, bad.stdout
    for expected in PYRIGHT_EXPECTED:
        assert expected in bad.stdout, f"{expected!r} not in:\n{bad.stdout}"
    assert "12 errors" in bad.stdout
