"""README.md: set-up commands, code that parses, names that exist, live links."""
from __future__ import annotations

import ast
import importlib
import re

import pytest

from ._runner import ROOT

README = (ROOT / 'README.md').read_text()

SETUP_COMMANDS = (
    'pip install -e . && python examples/demo.py',
    "pip install -e '.[test]' && python -m pytest -n auto",
)


def python_blocks() -> list[str]:
    return re.findall(r'```python\n(.*?)```', README, re.DOTALL)


def test_three_line_summary_then_setup():
    title, blank, *summary = README.split('\n')[:6]
    assert title == '# uactor' and blank == ''
    assert all(summary[:3]) and summary[3] == '', 'what it is, in three lines'


@pytest.mark.parametrize('command', SETUP_COMMANDS)
def test_setup_command_is_given_exactly(command):
    assert f'```sh\n{command}\n```' in README


def test_python_blocks_parse():
    blocks = python_blocks()
    assert len(blocks) >= 4
    for block in blocks:
        ast.parse(block)


@pytest.mark.parametrize('module', ['uactor', 'registry', 'discovery'])
def test_names_used_exist(module):
    used = set(re.findall(rf'\b{module}\.(\w+)', '\n'.join(python_blocks())))
    imported = importlib.import_module(module)
    assert {name for name in used if not hasattr(imported, name)} == set()


def test_relative_links_resolve():
    links = re.findall(r'\]\((?!https?://)([^)#]+)\)', README)
    assert links
    assert [link for link in links if not (ROOT / link).exists()] == []
