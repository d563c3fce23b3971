"""docs/security.rst names the tests behind its statements: they must exist."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECURITY = ROOT / "docs" / "security.rst"

#: ``path/test_file.py::test_name`` or ``path/test_file.py`` in double backquotes.
REFERENCE = re.compile(r"``((?:\w+/)*test_\w+\.py)(?:::(\w+))?``")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_test_the_threat_model_names_exists():
    references = REFERENCE.findall(SECURITY.read_text())
    assert len(references) > 20
    missing = []
    for file, name in references:
        path = ROOT / "tests" / file
        if not path.is_file() or (name and name not in _test_names(path)):
            missing.append(f"{file}::{name}" if name else file)
    assert missing == []
