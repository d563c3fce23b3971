"""A publisher process for the discovery tests.

``python -m tests.discovery.publisher CLASS [--unsigned] [--name N] [--host H]
[--interface INTERFACE] [--register]`` starts an actor of
``tests.discovery.actors.CLASS`` bound to H (default 127.0.0.1), publishes it
on INTERFACE (a name or an address; default 127.0.0.1) and prints one JSON
line (``pid``, ``instance``, ``port``); then it waits until its stdin closes
(or it is killed), closes the publication and shuts the actor down.
"""
from __future__ import annotations

import argparse
import json
import sys

import discovery
import uactor
from tests.discovery import actors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("actor_class")
    parser.add_argument("--unsigned", action="store_true")
    parser.add_argument("--name")
    parser.add_argument("--role", default="actor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--interface", default="127.0.0.1")
    parser.add_argument("--register", action="store_true")
    args = parser.parse_args(argv)
    actor_class = getattr(actors, args.actor_class)
    options = {"address": (args.host, 0), "authkey": actors.AUTHKEY}
    with uactor.start(actor_class, options=options) as actor, discovery.publish(
            actor, name=args.name, role=args.role, interfaces=[args.interface],
            authkey=None if args.unsigned else actors.AUTHKEY,
            register=args.register) as publication:
        print(json.dumps({"pid": actor_pid_of(actor), "instance": publication.instance,
                          "port": publication.port}), flush=True)
        sys.stdin.read()  # until the test closes our stdin
    return 0


def actor_pid_of(actor: object) -> int:
    return actor.getpid()  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
