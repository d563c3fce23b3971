"""The client host of the multi-host test.

``python -m tests.discovery.remote_client INTERFACE``:
Finds the registry node and a ``Holder`` actor over mDNS on INTERFACE (a
name or an address), calls them, and prints what it saw as one JSON line.
"""
from __future__ import annotations

import json
import sys
import time

import discovery
import registry
from tests.discovery.actors import AUTHKEY, Holder

TIMEOUT = 20.0


def main(address: str) -> int:
    interfaces = [address]
    node = discovery.find_registry(AUTHKEY, interfaces=interfaces, timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:  # the actor registers in the background
        try:
            registered = node.addresses("Holder")
        except registry.UnknownNameError:
            registered = []
        if registered:
            break
        time.sleep(0.05)
    via_registry = registry.connect_actor(node, Holder, AUTHKEY, timeout=TIMEOUT)
    via_mdns = discovery.discover(Holder, AUTHKEY, interfaces=interfaces,
                                  timeout=TIMEOUT)
    counter = via_mdns.counter()
    print(json.dumps({
        "registry": list(node.connection_address),
        "registered": [list(item) for item in registered],
        "pids": [via_registry.getpid(), via_mdns.getpid()],
        "actor": list(via_mdns.connection_address),
        "counter_token": list(counter._token.address),
        "counts": [counter.increment() for _ in range(3)],
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
