"""Types for the single-module distribution ship as the ``uactor-stubs`` package.

PEP 561 lets a package carry ``py.typed``, but not a lone module; the stubs are
generated from ``uactor.py``'s own annotations, and this test keeps them equal.
"""
from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("stubgen") is None, reason="mypy's stubgen not installed")
def test_stub_package_matches_the_module(tmp_path):
    subprocess.run(["stubgen", "--include-private", str(ROOT / "uactor.py"), "-o", str(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    generated = (tmp_path / "uactor.pyi").read_text()
    shipped = (ROOT / "uactor-stubs" / "__init__.pyi").read_text()
    assert shipped == generated, "regenerate: stubgen --include-private uactor.py -o /tmp/s && " \
        "cp /tmp/s/uactor.pyi uactor-stubs/__init__.pyi"


def test_packages_are_marked_typed():
    for package in ("registry", "discovery"):
        assert (ROOT / package / "py.typed").exists()
