"""Regenerate ``docs/_static/status-page.png``: the status page with the demo's actors.

Run from the repository root, with chromium installed (everything stays on
this host: the demo's zeroconf runs on loopback)::

    python docs/status_screenshot.py [--seconds 100] [--out PATH]

It starts ``examples/demo.py --stay --actors 3`` (a registry node with its
status page, three workers, one client), keeps picking workers through the
registry at a changing rate for ``--seconds`` so the plot has something to
show, takes the screenshot with headless Chromium, then stops the demo.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import registry  # noqa: E402  (after the path: runs from a checkout)

#: Longest the demo may take to get its actors up (s).
STARTUP_TIMEOUT = 120.0

#: Viewport of the screenshot (CSS pixels): a laptop's browser window, as
#: tall as the page with three actors.
WINDOW = (1000, 860)


def read_until(proc: subprocess.Popen, pattern: str, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        print(line, end='')
        match = re.search(pattern, line)
        if match:
            return match
        if time.monotonic() > deadline:
            break
    raise SystemExit(f'the demo did not print {pattern!r} in time')


def pick(node: tuple[str, int], key: bytes, stop: threading.Event) -> None:
    """Pick workers at a rate rising and falling (0 to ~40/s) until ``stop``."""
    reg = registry.Registry.connect(node, key, timeout=10)
    started = time.monotonic()
    while not stop.is_set():
        elapsed = time.monotonic() - started
        rate = 20 * (1 - math.cos(2 * math.pi * elapsed / 60))
        if rate >= 1:
            reg.pick('Worker')
        time.sleep(1 / max(rate, 1))


def screenshot(url: str, out: Path) -> None:
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium is None:
        raise SystemExit('chromium is not installed (apt-get install chromium)')
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
             '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--hide-scrollbars',
             '--force-device-scale-factor=1', f'--user-data-dir={profile}',
             f'--window-size={WINDOW[0]},{WINDOW[1]}', '--virtual-time-budget=3000',
             f'--screenshot={out}', url],
            check=True, timeout=60, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=100.0,
                        help='how long to pick workers before the screenshot')
    parser.add_argument('--out', type=Path,
                        default=ROOT / 'docs' / '_static' / 'status-page.png')
    args = parser.parse_args()
    key = secrets.token_hex(16).encode()
    env = dict(os.environ, UACTOR_AUTHKEY=key.decode(), PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get('PYTHONPATH'))
                                          if p))
    demo = subprocess.Popen(
        [sys.executable, 'demo.py', '--stay', '--actors', '3'], cwd=ROOT / 'examples',
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        host, port = read_until(demo, r'listening on (\S+):(\d+)$', STARTUP_TIMEOUT).groups()
        url = read_until(demo, r'running until Ctrl-C; status page on (\S+)$',
                         STARTUP_TIMEOUT).group(1)
        stop = threading.Event()
        picker = threading.Thread(target=pick, args=((host, int(port)), key, stop))
        picker.start()
        try:
            time.sleep(args.seconds)  # the plot fills up meanwhile
            args.out.parent.mkdir(parents=True, exist_ok=True)
            screenshot(url, args.out)
        finally:
            stop.set()
            picker.join()
        print(f'wrote {args.out} ({args.out.stat().st_size // 1024} KiB)')
    finally:
        # SIGTERM, which the demo handles like Ctrl-C, even where it inherited
        # an ignored SIGINT (as background jobs of a script do).
        demo.terminate()
        try:
            demo.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.communicate()
            raise SystemExit('the demo did not stop: look for its node and '
                             'publisher processes') from None


if __name__ == '__main__':
    main()
