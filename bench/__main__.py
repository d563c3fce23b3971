"""``python -m bench``: run the benchmark suite and report.

Examples::

    python -m bench                      # full run, JSON in bench/results/
    python -m bench --quick              # under a minute on 2 cores
    python -m bench --only latency --only payload --json /tmp/run.json
    python -m bench --list               # areas and groups
    python -m bench --from-json bench/results/X.json --format rst
"""
from __future__ import annotations

import argparse
import datetime as _datetime
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench import _harness


def _split_tokens(values: Sequence[str] | None) -> list[str]:
    tokens: list[str] = []
    for value in values or ():
        tokens += [token.strip() for token in value.split(",") if token.strip()]
    return tokens


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="uactor benchmarks against the floor (raw multiprocessing) "
                    "and peers (Pyro5, RPyC), measured in one run.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer samples and smaller loops (under a minute)")
    parser.add_argument("--json", metavar="PATH",
                        help="where to write the JSON results (default: "
                             "bench/results/<UTC timestamp>.json)")
    parser.add_argument("--only", metavar="GROUP", action="append",
                        help="run only these groups or areas; repeatable or "
                             "comma-separated; 'latency' selects every "
                             "'latency-*' group; shell patterns allowed")
    parser.add_argument("--format", choices=("markdown", "rst"), default="markdown",
                        help="report style on stdout (rst: list-tables for the "
                             "docs)")
    parser.add_argument("--from-json", metavar="PATH",
                        help="do not run: print the report of a saved run")
    parser.add_argument("--list", action="store_true",
                        help="list the areas and their declared groups, then exit")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="time limit per area worker (default: "
                             f"{_harness.WORKER_TIMEOUT_QUICK:.0f} s quick, "
                             f"{_harness.WORKER_TIMEOUT:.0f} s full)")
    parser.add_argument("--start-method", choices=("fork", "spawn", "forkserver"),
                        help="multiprocessing start method for every server "
                             "process (default: the platform's)")
    parser.add_argument("--placement", choices=_harness.PLACEMENTS, default="os",
                        help="os: the scheduler places processes (default); "
                             "one-core: every process on one CPU; split: the "
                             "measuring process on one CPU, the servers on the "
                             "others (see docs/performance.rst)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if any area failed")
    parser.add_argument("--worker", metavar="AREA", help=argparse.SUPPRESS)
    parser.add_argument("--out", metavar="FILE", help=argparse.SUPPRESS)
    return parser


def _list_areas() -> int:
    for area in _harness.discover_areas():
        groups = _harness._read_declared_groups(area)
        shown = ", ".join(groups) if groups else "(groups not declared)"
        print(f"{area}: {shown}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    only = _split_tokens(args.only) or None
    if args.start_method:
        multiprocessing.set_start_method(args.start_method, force=True)
    if args.worker:
        if not args.out:
            build_parser().error("--worker needs --out")
        return _harness.worker_main(args.worker, args.quick, only, args.out)
    if args.list:
        return _list_areas()
    if args.from_json:
        with open(args.from_json, encoding="utf-8") as handle:
            saved = json.load(handle)
        saved["targets"] = _harness.annotate(saved["rows"])  # current rules
        print(_harness.format_report(saved, args.format))
        return 0

    started = time.monotonic()
    when = _datetime.datetime.now(_datetime.timezone.utc)
    timeout = args.timeout or (_harness.WORKER_TIMEOUT_QUICK if args.quick
                               else _harness.WORKER_TIMEOUT)
    areas = _harness.discover_areas()
    plan = _harness.plan_areas(areas, only)
    if not plan:
        print(f"--only {','.join(only or [])} selects nothing; areas: "
              f"{', '.join(areas)} (see --list)", file=sys.stderr)
        return 2

    os.environ[_harness.PLACEMENT_ENV] = _harness.placement_setting(args.placement)
    machine = _harness.machine_info()  # before the run: load average at start
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    areas_run: dict[str, dict[str, Any]] = {}
    for area, area_only in plan:
        _harness.progress(f"running bench_{area}"
                          + (f" (only {', '.join(area_only)})" if area_only else ""))
        outcome = _harness.run_area_worker(area, args.quick, area_only, timeout,
                                           args.start_method)
        rows += outcome["rows"]
        errors += outcome["errors"]
        areas_run[area] = {"seconds": round(outcome["seconds"], 3),
                           "rows": len(outcome["rows"]),
                           "errors": len(outcome["errors"])}
        for error in outcome["errors"]:
            _harness.progress(f"error: {error}")

    targets = _harness.annotate(rows)
    payload = {
        "schema": _harness.SCHEMA_VERSION,
        "timestamp": when.isoformat(timespec="seconds"),
        "quick": args.quick,
        "only": only,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "machine": machine,
        "areas": areas_run,
        "rows": rows,
        "targets": targets,
        "errors": errors,
        "seconds": time.monotonic() - started,
    }
    print(_harness.format_report(payload, args.format), flush=True)
    path = _harness.write_json(args.json or _harness.default_json_path(when), payload)
    _harness.progress(f"results written to {path}")
    return 1 if (args.strict and errors) else 0


if __name__ == "__main__":
    sys.exit(main())
