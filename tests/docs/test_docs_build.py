"""The documentation builds with warnings as errors, as in CI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('sphinx')

ROOT = Path(__file__).resolve().parents[2]

#: Longest the HTML build may take (s).
BUILD_TIMEOUT = 100.0


def test_sphinx_build_has_no_warnings(tmp_path):
    command = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q',
               '-b', 'html', '-d', str(tmp_path / 'doctrees'),
               'docs', str(tmp_path / 'html')]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=BUILD_TIMEOUT)
    finally:
        if proc.poll() is None:  # timed out: escalate
            for sig in (signal.SIGTERM, signal.SIGKILL):
                os.killpg(proc.pid, sig)
                try:
                    proc.wait(5)
                    break
                except subprocess.TimeoutExpired:
                    continue
            proc.communicate()
    assert proc.returncode == 0, output
    index = (tmp_path / 'html' / 'index.html').read_text()
    assert 'uActor' in index
    quickstart = (tmp_path / 'html' / 'quickstart.html').read_text()
    assert 'MyActor' in quickstart, 'examples are included'
