"""Run example scripts in subprocesses and collect what they print.

Each script runs with ``sys.executable`` in ``examples/`` (so the docs'
``from network_actor import ...`` imports work), unbuffered, with the
repository root on ``PYTHONPATH`` (so it runs without installing), with
``loopback_guard/sitecustomize.py`` refusing zeroconf on any interface but
loopback (so no test can multicast on a real network), and in a
new session: its process group holds the script and every actor it starts,
even an actor orphaned by its owner, so cleanup can find them all.

Cleanup escalates SIGINT -> SIGTERM -> SIGKILL with a deadline at each step,
then waits for the output pipes to close.  A pipe still open after the script
exited means one of its processes outlived it: that is recorded (tests assert
on it) and the whole process group is killed.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / 'examples'
#: Holds a sitecustomize.py refusing zeroconf on anything but loopback.
LOOPBACK_GUARD = Path(__file__).resolve().parent / 'loopback_guard'

#: Longest an example may run before it is stopped (s).
RUN_TIMEOUT = 30.0
#: How long each cleanup step (SIGINT, SIGTERM, SIGKILL) waits for an exit (s).
STEP_TIMEOUT = 15.0
#: How long processes of an exited example may keep its output open (s).
ORPHAN_TIMEOUT = 10.0


def example_env() -> dict[str, str]:
    env = dict(os.environ)
    env['PYTHONUNBUFFERED'] = '1'
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(LOOPBACK_GUARD), str(ROOT), env.get('PYTHONPATH')) if p)
    return env


class Example:
    """One example script running in a subprocess; use as a context manager."""

    def __init__(self, script: str, *args: str, prefix: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> None:
        self.script = script
        self.args = args
        self._lines: list[str] = []
        self._err: list[str] = []
        self._changed = threading.Condition()
        self.orphans = False
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, script, *args],
            cwd=EXAMPLES,
            env={**example_env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self._lines),
                             name=f'{script}-stdout', daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._err),
                             name=f'{script}-stderr', daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> Example:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'<Example {self.script} {" ".join(self.args)} pid={self.pid}>'

    # output -------------------------------------------------------------

    def _read(self, stream, sink: list[str]) -> None:
        for line in stream:
            with self._changed:
                sink.append(line.rstrip('\n'))
                self._changed.notify_all()
        with self._changed:  # end of output: wake expect() up
            self._changed.notify_all()

    @property
    def lines(self) -> list[str]:
        with self._changed:
            return list(self._lines)

    @property
    def stdout(self) -> str:
        return '\n'.join(self.lines)

    @property
    def stderr(self) -> str:
        with self._changed:
            return '\n'.join(self._err)

    def expect(self, pattern: str, timeout: float = RUN_TIMEOUT) -> re.Match[str]:
        """Wait until a line of stdout matches ``pattern``; return the match."""
        regex = re.compile(pattern)

        def find():
            for line in self._lines:
                match = regex.search(line)
                if match:
                    return match
            return None

        with self._changed:
            if not self._changed.wait_for(
                    lambda: find() or self.proc.poll() is not None, timeout):
                raise AssertionError(
                    f'{self!r}: no line matching {pattern!r} within {timeout}s\n'
                    f'stdout:\n{self.stdout}\nstderr:\n{self.stderr}')
            match = find()
        if match is None:  # exited without printing it
            self.wait(STEP_TIMEOUT)
            raise AssertionError(
                f'{self!r} exited with {self.proc.returncode} before printing '
                f'{pattern!r}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}')
        return match

    # lifecycle ----------------------------------------------------------

    def wait(self, timeout: float = RUN_TIMEOUT) -> int:
        """Wait for the script to exit by itself, then clean up; return its status."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(
                f'{self!r} still running after {timeout}s\n'
                f'stdout:\n{self.stdout}\nstderr:\n{self.stderr}') from None
        self.close()
        return self.proc.returncode

    def interrupt(self) -> int:
        """Stop the script as Ctrl-C would, then clean up; return its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            # one Ctrl-C, then time to clean up; close() escalates after that
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STEP_TIMEOUT)
        self.close()
        return self.proc.returncode

    def close(self) -> None:
        """Stop the script and everything it started; idempotent."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            self.proc.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STEP_TIMEOUT)
        self.proc.wait()
        for reader in self._readers:
            reader.join(ORPHAN_TIMEOUT)
        if any(reader.is_alive() for reader in self._readers):
            self.orphans = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            for reader in self._readers:
                reader.join()
        self.proc.stdout.close()
        self.proc.stderr.close()

    def check(self, returncode: int = 0) -> list[str]:
        """Assert a clean finish (status, no stderr, no orphan); return stdout."""
        assert self.proc.returncode is not None, f'{self!r} is still running'
        details = f'{self!r}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}'
        assert self.proc.returncode == returncode, details
        assert not self.orphans, f'processes outlived {details}'
        assert self.stderr == '', details
        return self.lines


def run(script: str, *args: str, timeout: float = RUN_TIMEOUT,
        **options: object) -> tuple[list[str], int]:
    """Run ``script`` to completion; return its stdout lines and its pid.

    ``options`` go to :class:`Example` (``prefix``, ``env``).
    """
    with Example(script, *args, **options) as example:  # type: ignore[arg-type]
        example.wait(timeout)
        return example.check(), example.pid
