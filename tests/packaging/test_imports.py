"""Every module of uactor, registry and discovery imports on its own (issue 12).

Each module is imported first thing in a fresh interpreter, so an import
cycle hidden by the order in which other modules happen to be imported
fails here, naming the module (python-zeroconf's tests/test_circular_imports.py
does the same).
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("registry", "discovery")


def modules() -> list[str]:
    found = ["uactor"]
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_every_module_is_listed():
    listed = modules()
    assert {"uactor", "registry", "discovery", "discovery.aio", "discovery._errors",
            "discovery.__main__", "registry.__main__"} <= set(listed)
    assert len(listed) == len(set(listed))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", modules())
def test_imports_alone_in_a_fresh_interpreter(module):
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"],
        cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert result.returncode == 0, f"import {module} failed:\n{result.stderr}"
