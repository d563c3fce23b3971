"""A registry's ``snapshot()`` as a table for the terminal, and address parsing.

Used by ``uactor-registry status ADDRESS`` (the table) and by the node's
``--http`` option and that command (``[HOST:]PORT`` arguments).
"""
from __future__ import annotations

import datetime as _datetime
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_duration", "format_status", "parse_host_port"]

#: Host a bare port number stands for: this host only.
LOOPBACK = "127.0.0.1"

_COLUMNS = ("SERVICE", "ADDRESS", "OWNER", "LEASE AGE", "LEASE LEFT", "PICKS")
#: Columns aligned to the right (numbers).
_RIGHT = {"LEASE AGE", "LEASE LEFT", "PICKS"}


def parse_host_port(text: str, *, default_host: str = LOOPBACK) -> tuple[str, int]:
    """``'PORT'``, ``'HOST:PORT'`` or ``'[IPv6]:PORT'`` as ``(host, port)``.

    A bare port means ``default_host``.  Raises :class:`ValueError` with a
    message naming the value and the accepted forms.
    """
    forms = "PORT, HOST:PORT or [IPv6]:PORT, e.g. 9100 or 127.0.0.1:9100"
    host, colon, port_text = text.rpartition(":")
    if not colon:
        host, port_text = default_host, text
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{text!r}: put an IPv6 host in brackets ({forms})")
    if not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"{text!r} is not an address: use {forms}, with a port "
                         f"within 0-65535")
    return host, int(port_text)


def format_duration(seconds: float | None) -> str:
    """``'0.4 s'``, ``'12 s'``, ``'3 min 12 s'``, ``'2 h 5 min'``; ``'-'`` for None."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _owner(actor: Mapping[str, Any]) -> str:
    host, pid = actor.get("owner_host"), actor.get("owner_pid")
    if host is None and pid is None:
        return "-"
    return f"{host or '?'} pid {pid}" if pid is not None else str(host)


def _rows(services: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for service in services:
        if not service["actors"]:
            rows.append((service["name"], "(no live actor)", "", "", "", ""))
        for actor in service["actors"]:
            left = actor["lease_left"]
            rows.append((service["name"], actor["address"], _owner(actor),
                         format_duration(actor["lease_age"]),
                         "no expiry" if left is None else format_duration(left),
                         str(actor["picks"])))
    return rows


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in (_COLUMNS, *rows)) for i in range(len(_COLUMNS))]
    lines = []
    for row in (_COLUMNS, *rows):
        cells = [cell.rjust(width) if name in _RIGHT else cell.ljust(width)
                 for name, cell, width in zip(_COLUMNS, row, widths)]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_status(snapshot: Mapping[str, Any]) -> str:
    """The node, its totals and one line per live actor, as plain text."""
    node, totals = snapshot["node"], snapshot["totals"]
    store = node["store"]
    started = _datetime.datetime.fromtimestamp(node["started"]).isoformat(
        sep=" ", timespec="seconds")
    reachable = ("reachable" if store["reachable"]
                 else f"UNREACHABLE for {format_duration(store['stale_for'])}")
    peers = ", ".join(map(str, node["peers"])) or "none"
    lines = [
        f"registry {node['address']}, pid {node['pid']}, started {started}",
        f"store {store['url']} ({reachable}), peers: {peers}",
        f"{_plural(totals['services'], 'service')}, {_plural(totals['actors'], 'actor')}; "
        f"since start: {_plural(totals['registered_total'], 'registration')}, "
        f"{_plural(totals['renewed_total'], 'renewal')}, "
        f"{_plural(totals['unregistered_total'], 'unregistration')}, "
        f"{_plural(totals['expired_total'], 'expiry', 'expiries')}, "
        f"{_plural(totals['picks_total'], 'pick')}",
        "",
    ]
    rows = _rows(snapshot["services"])
    lines += _table(rows) if rows else ["no service has registered yet"]
    return "\n".join(lines)
