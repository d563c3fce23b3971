"""The status page in a real browser: headless Chromium from the distribution.

The page of a node subprocess (``--http 0``) is opened once and watched
while it refreshes itself from ``status.json``: it lists the live actors,
shows a service name as text even when it looks like HTML, and drops an
actor whose owner was killed with SIGKILL once its lease has run out,
without being reloaded.  Chromium runs in a session of its own and every one
of its processes is proven gone afterwards (see ``browser.py``).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import urllib.request

import pytest

import registry
from tests.registry.actors import KEY, reap_orphan, serve_registered_worker
from tests.registry.browser import CHROMIUM, Browser
from tests.registry.nodes import running_node

pytestmark = [
    # CI runs as root and .ci/run installs chromium: there, a missing browser
    # fails these tests (Browser raises) rather than skipping them.
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                       reason="needs the chromium package (apt-get install chromium)"),
    pytest.mark.timeout(120),
]

#: Lease of the test actors (s): a killed one leaves within about this long.
TTL = 1.0

#: Seconds the page may take to show (or drop) something.
PAGE_TIMEOUT = 20.0

#: JS: what the page shows, for failure messages.
PAGE_STATE_JS = ("({refreshes: document.body.dataset.refreshes, "
                 "state: document.body.dataset.state, "
                 "error: document.getElementById('error').textContent, "
                 "freshness: document.getElementById('freshness-text').textContent})")

ADDRESSES_JS = "[...document.querySelectorAll('tr[data-address]')].map(r => r.dataset.address)"


def _listed(*addresses: str) -> str:
    """JS: the listed addresses once all of ``addresses`` are among them."""
    wanted = json.dumps(list(addresses))
    return (f"(() => {{ const listed = {ADDRESSES_JS}; "
            f"return {wanted}.every(a => listed.includes(a)) ? listed : null; }})()")


def _row_text(address: str) -> str:
    return (f"document.querySelector('tr[data-address=\"{address}\"]')"
            f"?.innerText.replace(/\\s+/g, ' ')")


class Owners:
    """Processes each owning one registered Worker (fork: they inherit nothing
    from pytest but the code)."""

    def __init__(self, node_address, count: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._ready = ctx.Queue()
        self.processes = [ctx.Process(target=serve_registered_worker,
                                      args=(node_address, TTL, self._ready))
                          for _ in range(count)]
        self.workers: list[tuple[str, int]] = []  # (address "host:port", worker pid)
        for process in self.processes:  # one at a time: workers[i] is processes[i]'s
            process.start()
            (host, port), pid = self._ready.get(timeout=30)
            self.workers.append((f"{host}:{port}", pid))

    def kill(self, index: int) -> None:
        """SIGKILL one owner (its heartbeats stop); reap its orphaned worker."""
        os.kill(self.processes[index].pid, signal.SIGKILL)
        self.processes[index].join(10)
        reap_orphan(self.workers[index][1])

    def close(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(10)
            if process.is_alive():
                process.kill()
                process.join(10)
        for _, pid in self.workers:
            reap_orphan(pid)
        self._ready.close()
        self._ready.join_thread()


def test_page_lists_live_actors_and_drops_a_killed_one_without_reloading(tmp_path):
    with running_node("--http", "0", "--ttl", str(TTL)) as node:
        reg = registry.Registry.connect(node.address, KEY, timeout=10)
        reg.register(("10.0.0.9", 9), name="<b>bold</b>")  # a name that looks like HTML
        owners = Owners(node.address, 2)
        try:
            (kept, _), (killed, _) = owners.workers
            kept_owner = owners.processes[0].pid  # holds the lease: the row's owner
            reg.pick("Worker")
            with urllib.request.urlopen(node.url, timeout=10) as response:
                assert kept.encode() not in response.read()  # only the refresh adds it

            with Browser(node.url, tmp_path / "profile") as browser:
                listed = browser.wait_for(_listed(kept, killed), PAGE_TIMEOUT)
                assert sorted(listed) == sorted([kept, killed, "10.0.0.9:9"])
                assert int(browser.evaluate("document.body.dataset.refreshes")) >= 1
                assert browser.evaluate("document.body.dataset.state") == "live"
                row = browser.wait_for(_row_text(kept), PAGE_TIMEOUT)
                assert row.startswith(f"{kept} ") and f" pid {kept_owner} " in row
                # HTML-looking names are text, never markup.
                assert browser.evaluate(
                    "[...document.querySelectorAll('.service h3')]"
                    ".some(h => h.firstChild.textContent === '<b>bold</b>')")
                assert browser.evaluate("document.querySelectorAll('.service b').length") == 0
                totals = browser.evaluate(
                    "document.querySelector('[data-total=actors] dd').textContent")
                assert totals == "3"

                browser.evaluate("window.notReloaded = true")
                refreshes = int(browser.evaluate("document.body.dataset.refreshes"))
                owners.kill(1)
                gone = (f"(() => {{ const listed = {ADDRESSES_JS}; "
                        f"return !listed.includes('{killed}') && listed.includes('{kept}'); }})()")
                try:
                    browser.wait_for(gone, PAGE_TIMEOUT)
                except AssertionError as exc:
                    raise AssertionError(f"page: {browser.evaluate(PAGE_STATE_JS)}; "
                                         f"registry: {reg.snapshot()}") from exc
                assert browser.evaluate("window.notReloaded") is True
                assert int(browser.evaluate("document.body.dataset.refreshes")) > refreshes
                # It left because its lease ran out, not because it said goodbye.
                assert reg.stats()["expired"] == 1
                assert reg.stats()["unregistered"] == 0
        finally:
            owners.close()


def test_page_is_readable_on_a_phone(tmp_path):
    with running_node("--http", "0") as node:
        reg = registry.Registry.connect(node.address, KEY, timeout=10)
        lease = reg.open_lease(60, pid=12345, hostname="a-rather-long-host-name.example")
        reg.register_entry(("10.0.0.1", 41234), lease=lease, name="AVeryLongServiceName" * 5,
                           pid=12345, hostname="a-rather-long-host-name.example")
        with Browser(node.url, tmp_path / "profile", width=390, height=844) as browser:
            browser.wait_for(_listed("10.0.0.1:41234"), PAGE_TIMEOUT)
            # No sideways scrolling, and each actor is a card of labelled lines.
            assert browser.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth")
            assert browser.evaluate(
                "getComputedStyle(document.querySelector('thead')).display") == "none"
            label = browser.evaluate(
                "getComputedStyle(document.querySelector('td[data-label=owner]'),"
                " '::before').content")
            assert label == '"owner: "'
            png = browser.screenshot()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
