"""A real headless Chromium, driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file
descriptor 3 and write answers and events to descriptor 4, each message JSON
ended by a NUL byte: no port, no websocket library, nothing but the
standard library.  :class:`Browser` opens one page, evaluates JavaScript in
it while it lives (so a test can watch it refresh itself), takes screenshots,
and on :meth:`Browser.close` proves that every Chromium process is gone.

Chromium runs in a session of its own, so its helpers (zygote, renderer,
GPU and network services) can be found and killed as a group whatever they
do; it gets a private profile directory and every background feature that
could reach the network is switched off.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Where the distribution's package puts it (``apt-get install chromium``).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: Seconds one protocol command may take, and Chromium may take to exit.
COMMAND_TIMEOUT = 30.0
EXIT_TIMEOUT = 10.0

_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-pipe",
)

#: Run as ``python -c _MOVE_FDS IN OUT PROGRAM ARGS...``.
_MOVE_FDS = ("import os, sys; fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2]); "
             "os.dup2(fd_in, 3); os.dup2(fd_out, 4); os.close(fd_in); os.close(fd_out); "
             "os.execv(sys.argv[3], sys.argv[3:])")


class BrowserError(AssertionError):
    """Chromium failed or answered a command with an error."""


def session_processes(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes of session ``sid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp session ...": comm may hold spaces.
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


class Browser:
    """One Chromium with one page open at ``url``; use as a context manager.

    :param profile: an empty directory for Chromium's profile.
    :param width, height: the page's viewport in CSS pixels.
    """

    def __init__(self, url: str, profile: Path, *, width: int = 1100,
                 height: int = 900) -> None:
        if CHROMIUM is None:
            raise BrowserError("chromium is not installed")
        commands_read, self._commands = _high_pipe()
        self._answers, answers_write = _high_pipe()
        # Chromium expects the pipe ends at descriptors 3 and 4 exactly: a
        # small Python moves them there, then becomes Chromium.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _MOVE_FDS, str(commands_read), str(answers_write),
             CHROMIUM, *_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
            pass_fds=(commands_read, answers_write),
        )
        os.close(commands_read)
        os.close(answers_write)
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        try:
            target = self.command("Target.createTarget", {"url": "about:blank"})
            attached = self.command("Target.attachToTarget",
                                    {"targetId": target["targetId"], "flatten": True})
            self._session = attached["sessionId"]
            self.command("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1,
                          "mobile": width < 600})
            self.command("Page.navigate", {"url": url})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- protocol ----------------------------------------------------------------

    def command(self, method: str, params: dict | None = None) -> dict:
        """Send one command (to the page once attached); return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if self._session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._answers], [], [], remaining)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._answers, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium exited ({self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # -- the page ------------------------------------------------------------------

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able)."""
        result = self.command("Runtime.evaluate",
                              {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, interval: float = 0.1) -> Any:
        """Evaluate ``expression`` until it is truthy; return it (or fail)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() >= deadline:
                if not value:
                    raise BrowserError(f"{expression} stayed {value!r} for {timeout} s")
                return value
            time.sleep(interval)

    def screenshot(self) -> bytes:
        """A PNG of the whole page."""
        metrics = self.command("Page.getLayoutMetrics")
        size = metrics["cssContentSize"]
        data = self.command("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})["data"]
        return base64.b64decode(data)

    # -- the end -----------------------------------------------------------------

    def close(self) -> None:
        """Close Chromium (asking first), kill what is left of its session,
        and fail unless none of its processes remains; idempotent."""
        if self._commands < 0:
            return
        try:
            if self.proc.poll() is None:
                self._session = None
                with contextlib.suppress(BrowserError, OSError):  # killed below
                    self.command("Browser.close")
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(EXIT_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):  # all gone already
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(EXIT_TIMEOUT)
        finally:
            for fd in (self._commands, self._answers):
                os.close(fd)
            self._commands = self._answers = -1
        deadline = time.monotonic() + EXIT_TIMEOUT
        while session_processes(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = session_processes(self.proc.pid)
        if left:
            raise BrowserError(f"chromium processes outlived it: {left}")


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are above descriptor 9, so moving them to 3 and 4 in
    the child never overwrites one with the other."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]
