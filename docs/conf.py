"""Sphinx configuration for the uactor documentation.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Code examples are included from ``examples/`` (never copied), the API
reference is generated from the docstrings of ``uactor``, ``registry`` and
``discovery``, and the command-line reference from the tools' ``--help``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# uactor is a single module at the repository root, next to registry/ and
# discovery/: make them importable without installing.
sys.path.insert(0, str(ROOT))

# The version is read from pyproject.toml (tomllib needs Python 3.11).
_version = re.search(r'^version\s*=\s*"([^"]+)"',
                     (ROOT / 'pyproject.toml').read_text(), re.MULTILINE)

project = 'uactor'
author = 'uactor developers'
copyright = '2020-2021, Felipe A Hernandez; 2025, uactor developers'
release = _version.group(1) if _version else 'unknown'
version = '.'.join(release.split('.')[:2])

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.viewcode',
]

exclude_patterns = ['_build']
nitpicky = False

autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
autodoc_default_options = {
    'members': True,
    'show-inheritance': True,
    'special-members': '__enter__, __exit__',
    'private-members': '_options_, _exposed_, _proxies_, _method_to_typeid_',
}

html_theme = 'alabaster'
html_title = f'uactor {release}'
html_theme_options = {
    'description': 'Process actor model for Python',
    'fixed_sidebar': True,
}

logger = logging.getLogger(__name__)

#: Longest a ``--help`` run may take while building (s).
HELP_TIMEOUT = 60.0


class ProgramHelp(SphinxDirective):
    """``.. program-help:: MODULE [SUBCOMMAND]``: the output of
    ``python -m MODULE [SUBCOMMAND] --help``.

    Keeps the command-line reference identical to the tools themselves; a
    tool failing to print its help is a build warning (an error under -W).
    """

    required_arguments = 1
    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        module, *subcommand = self.arguments
        main = ROOT.joinpath(*module.split('.'), '__main__.py')
        if main.exists():
            self.env.note_dependency(str(main))
        env = dict(os.environ, COLUMNS='72',
                   PYTHONPATH=os.pathsep.join(
                       p for p in (str(ROOT), os.environ.get('PYTHONPATH')) if p))
        try:
            result = subprocess.run(
                [sys.executable, '-m', module, *subcommand, '--help'],
                cwd=ROOT, env=env, capture_output=True, text=True,
                timeout=HELP_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            logger.warning('python -m %s --help timed out', module,
                           location=self.get_location())
            return []
        if result.returncode != 0:
            logger.warning('python -m %s --help failed (%d): %s', module,
                           result.returncode, result.stderr.strip()[-500:],
                           location=self.get_location())
            return []
        text = result.stdout.rstrip()
        return [nodes.literal_block(text, text, language='text')]


html_static_path = ['_static']
html_css_files = ['custom.css']


def _skip_generated_classes(app, what, name, obj, skip, options):
    """Actor subclasses get their own ``manager_class``/``proxy_class`` built
    at class creation: documented once, on :class:`uactor.Actor`."""
    if what == 'class' and name in ('manager_class', 'proxy_class'):
        return True
    return None


def setup(app):
    app.connect('autodoc-skip-member', _skip_generated_classes)
    app.add_directive('program-help', ProgramHelp)
    return {'parallel_read_safe': True}
