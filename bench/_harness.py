"""The benchmark harness: sampling, statistics, discovery, reporting.

Sections: constants, statistics and rows, timing loops, process helpers,
machine information, discovery and selection, workers, targets, reporting.

Every area module runs in its own worker process (``python -m bench --worker
AREA``) so that a crash, a hang or a leaked thread in one area cannot change
another area's numbers or stop the run: the parent bounds each worker with a
timeout, kills its whole process group if it overruns, and reports the failure
next to the other areas' tables.
"""
from __future__ import annotations

import contextlib
import datetime as _datetime
import fnmatch
import gc
import importlib
import importlib.metadata
import inspect
import json
import math
import os
import pkgutil
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

#: Folder holding this package; area modules are ``bench_<area>.py`` in it.
BENCH_DIR = Path(__file__).resolve().parent

#: Where ``python -m bench`` writes its JSON when ``--json`` is not given.
RESULTS_DIR = BENCH_DIR / "results"

#: Version of the JSON layout written by :func:`write_json` (bump on change).
SCHEMA_VERSION = 1

#: Keys every row must carry, with the types they must have.
REQUIRED_KEYS: Mapping[str, tuple[type, ...]] = {
    "group": (str,),
    "name": (str,),
    "value": (int, float, type(None)),
    "unit": (str,),
    "samples": (int,),
    "note": (str,),
}

#: Units whose larger values are better; every other unit is lower-is-better.
RATE_UNITS = ("ops/s", "MB/s", "calls/s")

#: Digits after the decimal point when printing a value, by unit.
UNIT_DIGITS = {"ns": 0, "us": 1, "ms": 2, "s": 3, "MB": 1, "ops/s": 0,
               "MB/s": 0, "calls/s": 0}

#: Seconds a worker may run before it is killed (full run / quick run).
WORKER_TIMEOUT = 900.0

#: Where the processes of a run may run (``--placement``), passed to the area
#: workers through this variable: ``os`` leaves it to the scheduler; ``one-core``
#: pins every process of the run to one CPU (no cross-core wake-ups: the CPU
#: cost of a round trip); ``split`` keeps the measuring process on one CPU and
#: every process it started on the others (every round trip crosses cores).
#: On small virtual machines a cross-core wake-up can cost more than the call
#: itself, so with ``os`` a row's figure depends on where the scheduler put its
#: server: pinning makes rows of one run comparable.
PLACEMENTS = ("os", "one-core", "split")
PLACEMENT_ENV = "UACTOR_BENCH_PLACEMENT"
WORKER_TIMEOUT_QUICK = 150.0

#: Seconds a server process gets to exit on request before terminate/kill.
STOP_GRACE = 3.0

#: Packages whose versions go into the JSON's machine section.
REPORTED_PACKAGES = ("uactor", "numpy", "psutil", "Pyro5", "rpyc", "serpent",
                     "zeroconf")


# --------------------------------------------------------------------------
# Statistics and rows
# --------------------------------------------------------------------------

def summarize(samples: Sequence[float]) -> dict[str, float | int]:
    """Median, 10th and 90th percentile and count of ``samples``."""
    if not samples:
        raise ValueError("summarize() needs at least one sample")
    data = sorted(samples)
    if len(data) == 1:
        p10 = p90 = data[0]
    else:
        cuts = statistics.quantiles(data, n=10, method="inclusive")
        p10, p90 = cuts[0], cuts[-1]
    return {"value": statistics.median(data), "p10": p10, "p90": p90,
            "samples": len(data)}


def median_ci(values: Sequence[float], z: float = 1.96
              ) -> tuple[float, float] | None:
    """Distribution-free ~95% confidence interval of the median of ``values``.

    Order statistics ``k`` and ``n - 1 - k`` with ``k = (n - z*sqrt(n)) / 2``
    (normal approximation of the binomial); ``None`` below 6 values.
    """
    n = len(values)
    if n < 6:
        return None
    data = sorted(values)
    k = max(0, int(math.floor((n - z * math.sqrt(n)) / 2)))
    return data[k], data[n - 1 - k]


def make_row(group: str, name: str, samples: Sequence[float], unit: str,
             note: str = "", *, scale: float = 1.0, **extra: Any) -> dict:
    """A result row from raw ``samples`` (each multiplied by ``scale``).

    ``scale`` converts the samples to ``unit``, e.g. ``1e6`` for seconds to
    microseconds.  Extra keyword arguments (``floor=True``, ``targets=[...]``)
    are copied into the row.
    """
    scaled = [s * scale for s in samples]
    stats = summarize(scaled)
    row = {"group": group, "name": name, "value": stats["value"], "unit": unit,
           "samples": stats["samples"], "note": note,
           "p10": stats["p10"], "p90": stats["p90"], "raw": scaled}
    row.update(extra)
    return row


def rate_row(group: str, name: str, seconds: Sequence[float], amount: float,
             unit: str, note: str = "", **extra: Any) -> dict:
    """A row of rates ``amount / seconds`` (e.g. MB per round trip -> MB/s)."""
    return make_row(group, name, [amount / s for s in seconds], unit, note,
                    **extra)


def skipped_row(group: str, name: str, unit: str, note: str,
                **extra: Any) -> dict:
    """A placeholder row for a measurement that could not run, and why."""
    row = {"group": group, "name": name, "value": None, "unit": unit,
           "samples": 0, "note": note, "skipped": True}
    row.update(extra)
    return row


def target(ref: str, op: str, factor: float, label: str,
           ref_group: str | None = None) -> dict:
    """A target for a row: PASS when ``value <op> factor * value(ref)``.

    ``ref`` names a row of the same group, or of ``ref_group`` when given.
    """
    if op not in ("<=", ">="):
        raise ValueError(f"target op must be '<=' or '>=', not {op!r}")
    spec = {"ref": ref, "op": op, "factor": float(factor), "label": label}
    if ref_group is not None:
        spec["ref_group"] = ref_group
    return spec


def validate_rows(rows: Any) -> tuple[list[dict], list[str]]:
    """Split what an area's ``run()`` returned into good rows and problems."""
    if not isinstance(rows, list):
        return [], [f"run() must return a list of dicts, got {type(rows).__name__}"]
    good, problems = [], []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"row {index} is a {type(row).__name__}, not a dict")
            continue
        bad = [key for key, types in REQUIRED_KEYS.items()
               if not isinstance(row.get(key), types) or key not in row]
        value = row.get("value")
        if value is None and not row.get("skipped"):
            bad.append("value (None is only allowed with skipped=True)")
        elif isinstance(value, float) and not math.isfinite(value):
            bad.append("value (must be finite)")
        if bad:
            problems.append(f"row {index} ({row.get('name')!r}): bad or missing "
                            f"{', '.join(bad)}")
            continue
        good.append(row)
    return good, problems


# --------------------------------------------------------------------------
# Timing loops
# --------------------------------------------------------------------------

@contextlib.contextmanager
def gc_paused():
    """Keep the cyclic garbage collector out of a timed region."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def time_batch(call: Callable[[], Any], batch: int) -> float:
    """Seconds per call of ``call()``, averaged over ``batch`` calls."""
    perf_counter = time.perf_counter
    with gc_paused():
        start = perf_counter()
        for _ in range(batch):
            call()
        elapsed = perf_counter() - start
    return elapsed / batch


def interleave(calls: Mapping[str, Callable[[], Any]], samples: int, batch: int,
               warmup: int = 1) -> dict[str, list[float]]:
    """Sample every contender in turn so drift on the machine hits all alike.

    Each round takes one sample (the mean of ``batch`` calls) of every
    contender, in an order rotated every round; ``warmup`` rounds are thrown
    away.  Returns seconds per call, by contender name.
    """
    apply_placement()
    names = list(calls)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(warmup + samples):
        shift = round_index % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            seconds = time_batch(calls[name], batch)
            if round_index >= warmup:
                results[name].append(seconds)
    return results


def threaded_rate(calls: Sequence[Callable[[], Any]], per_thread: int) -> float:
    """Calls per second with one thread per entry of ``calls``, all at once.

    Every thread makes ``per_thread`` calls; the clock runs from the moment all
    threads are released together until the last one finishes.  An exception
    in any thread is re-raised here.
    """
    apply_placement()
    barrier = threading.Barrier(len(calls) + 1)
    errors: list[BaseException] = []

    def work(call: Callable[[], Any]) -> None:
        try:
            call()  # opens this thread's connection outside the clock
            barrier.wait(timeout=30)
            for _ in range(per_thread):
                call()
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(call,), daemon=True,
                                name=f"bench-worker-{i}")
               for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(timeout=300)
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("a benchmark thread did not finish within 300 s")
    return len(calls) * per_thread / elapsed


# --------------------------------------------------------------------------
# Process helpers
# --------------------------------------------------------------------------

def placement() -> str:
    """The ``--placement`` of this run (``os`` unless the variable says)."""
    value = os.environ.get(PLACEMENT_ENV, "os").split(":")[0]
    return value if value in PLACEMENTS else "os"


def _placement_cpus() -> list[int]:
    """The CPUs the run may use, as the parent process saw them."""
    _, _, cpus = os.environ.get(PLACEMENT_ENV, "").partition(":")
    return [int(cpu) for cpu in cpus.split(",") if cpu.strip().isdigit()]


def placement_setting(name: str) -> str:
    """The variable's value for ``--placement name``: the name and the CPUs."""
    if name != "os" and not hasattr(os, "sched_getaffinity"):
        raise SystemExit(f"--placement {name} needs os.sched_setaffinity (Linux)")
    cpus = sorted(os.sched_getaffinity(0)) if name != "os" else []
    if name == "split" and len(cpus) < 2:
        raise SystemExit(f"--placement split needs two CPUs; this process may use {cpus}")
    return f"{name}:{','.join(map(str, cpus))}"


def _descendants(root: int) -> list[int]:
    """Process ids of every process below ``root`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _pin_process(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` (Linux pins threads, not processes)."""
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task), cpus)


def apply_placement() -> None:
    """Put this process and those it started where ``--placement`` says.

    Called before each measurement, so that servers started since are placed
    too; ``os`` does nothing.
    """
    name, cpus = placement(), _placement_cpus()
    if name == "os" or not cpus:
        return
    if name == "one-core":
        _pin_process(os.getpid(), {cpus[0]})
        for pid in _descendants(os.getpid()):
            _pin_process(pid, {cpus[0]})
        return
    _pin_process(os.getpid(), {cpus[0]})
    for pid in _descendants(os.getpid()):
        _pin_process(pid, set(cpus[1:]))


def stop_process(proc: Any, grace: float = STOP_GRACE) -> None:
    """Wait for a ``multiprocessing.Process`` to exit; terminate, then kill."""
    proc.join(grace)
    if proc.is_alive():
        proc.terminate()
        proc.join(grace)
    if proc.is_alive():
        proc.kill()
        proc.join(grace)


def wait_pid_gone(pid: int, timeout: float = 10.0) -> bool:
    """Poll until process ``pid`` has exited (or is a zombie), bounded."""
    import psutil

    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                import multiprocessing

                multiprocessing.active_children()  # reap it if it is ours
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.0005)


# --------------------------------------------------------------------------
# Machine information
# --------------------------------------------------------------------------

def _cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _package_version(name: str) -> str | None:
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        return importlib.metadata.version(name)
    if name == "uactor":  # usually run from the source tree, not installed
        with contextlib.suppress(Exception):
            module = importlib.import_module("uactor")
            return str(getattr(module, "__version__", "source tree"))
    return None


def _git_revision() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(["git", "-C", str(BENCH_DIR), "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(BENCH_DIR), "status",
                                 "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        dirty = "+dirty" if status.stdout.strip() else ""
        return head.stdout.strip() + dirty
    return None


def machine_info() -> dict[str, Any]:
    """What the numbers ran on: CPU, cores, memory, Python, OS, packages."""
    import multiprocessing

    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_count_logical": os.cpu_count(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "hostname_hidden": True,
        "start_method": multiprocessing.get_start_method(allow_none=False),
        "git_revision": _git_revision(),
        "packages": {name: _package_version(name) for name in REPORTED_PACKAGES},
    }
    with contextlib.suppress(AttributeError):
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    info["placement"] = placement()
    with contextlib.suppress(OSError, AttributeError):
        info["load_average_1m"] = os.getloadavg()[0]
    with contextlib.suppress(ImportError):
        import psutil

        info["cpu_count_physical"] = psutil.cpu_count(logical=False)
        info["memory_total_mb"] = round(psutil.virtual_memory().total / 1e6)
        freq = psutil.cpu_freq()
        if freq is not None and freq.max:
            info["cpu_freq_max_mhz"] = freq.max
    return info


def describe_machine(info: Mapping[str, Any]) -> str:
    """One line naming the machine, for the top of the report."""
    cores = info.get("cpu_count_logical")
    physical = info.get("cpu_count_physical")
    core_text = f"{cores} logical cores" + (f" ({physical} physical)"
                                            if physical else "")
    memory = info.get("memory_total_mb")
    memory_text = f", {memory / 1000:.1f} GB RAM" if memory else ""
    return (f"{info.get('cpu_model')}, {core_text}{memory_text}; "
            f"{info.get('python_implementation')} {info.get('python')} on "
            f"{info.get('os')}; start method {info.get('start_method')}; "
            f"placement {info.get('placement', 'os')}")


# --------------------------------------------------------------------------
# Discovery and selection
# --------------------------------------------------------------------------

def discover_areas() -> list[str]:
    """Area names of every ``bench/bench_<area>.py``, core first."""
    areas = sorted(info.name[len("bench_"):]
                   for info in pkgutil.iter_modules([str(BENCH_DIR)])
                   if info.name.startswith("bench_"))
    if "core" in areas:
        areas.remove("core")
        areas.insert(0, "core")
    return areas


def _read_declared_groups(area: str) -> tuple[str, ...] | None:
    """The ``GROUPS = (...)`` literal of an area module, without importing it."""
    import ast

    path = BENCH_DIR / f"bench_{area}.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (isinstance(node, (ast.Assign, ast.AnnAssign))
                and any(isinstance(t, ast.Name) and t.id == "GROUPS"
                        for t in (node.targets if isinstance(node, ast.Assign)
                                  else [node.target]))
                and node.value is not None):
            with contextlib.suppress(ValueError):
                groups = ast.literal_eval(node.value)
                if all(isinstance(g, str) for g in groups):
                    return tuple(groups)
    return None


def group_selected(group: str, only: Sequence[str] | None) -> bool:
    """Whether ``group`` is chosen by ``--only`` tokens (none: every group).

    A token selects a group equal to it, a group starting with ``token-``
    (``latency`` selects ``latency-local``), or a shell pattern match.
    """
    if not only:
        return True
    return any(group == token or group.startswith(token + "-")
               or fnmatch.fnmatchcase(group, token) for token in only)


def plan_areas(areas: Iterable[str], only: Sequence[str] | None
               ) -> list[tuple[str, list[str] | None]]:
    """Which areas to run and with which group filter (``None``: all groups).

    An area runs whole when a token names it; otherwise it runs when it
    declares a selected group in ``GROUPS``.  An area that declares nothing
    runs only when named.
    """
    plan: list[tuple[str, list[str] | None]] = []
    for area in areas:
        if not only or area in only:
            plan.append((area, None))
            continue
        declared = _read_declared_groups(area) or ()
        if any(group_selected(group, only) for group in declared):
            plan.append((area, list(only)))
    return plan


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------

def run_area_here(area: str, quick: bool, only: Sequence[str] | None
                  ) -> dict[str, Any]:
    """Import and run one area in this process; never raises."""
    started = time.monotonic()
    outcome: dict[str, Any] = {"area": area, "rows": [], "errors": []}
    try:
        module = importlib.import_module(f"bench.bench_{area}")
        run = module.run
        kwargs: dict[str, Any] = {}
        if only and "only" in inspect.signature(run).parameters:
            kwargs["only"] = list(only)
        rows, problems = validate_rows(run(quick, **kwargs))
        if only:
            rows = [row for row in rows if group_selected(row["group"], only)]
        for row in rows:
            row.setdefault("area", area)
        outcome["rows"] = rows
        outcome["errors"] += [f"bench_{area}: {p}" for p in problems]
    except BaseException as exc:  # any failure is reported, never fatal
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome["errors"].append(f"bench_{area} failed: {exc!r}\n"
                                 + traceback.format_exc())
    outcome["seconds"] = time.monotonic() - started
    return outcome


def worker_main(area: str, quick: bool, only: Sequence[str] | None,
                out: str) -> int:
    """Body of ``python -m bench --worker AREA --out FILE``."""
    outcome = run_area_here(area, quick, only)
    tmp = f"{out}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)
    os.replace(tmp, out)
    return 0


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(STOP_GRACE)


def run_area_worker(area: str, quick: bool, only: Sequence[str] | None,
                    timeout: float, start_method: str | None = None
                    ) -> dict[str, Any]:
    """Run one area in a fresh worker process (own session), bounded in time.

    Whatever the worker prints goes to our stderr as it comes (progress
    lines), so that stdout carries only the report; its rows come back
    through a temporary file.
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="uactor-bench-") as tmpdir:
        out = os.path.join(tmpdir, "result.json")
        cmd = [sys.executable, "-m", "bench", "--worker", area, "--out", out]
        if quick:
            cmd.append("--quick")
        if start_method:
            cmd += ["--start-method", start_method]
        for token in only or ():
            cmd += ["--only", token]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(BENCH_DIR.parent), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(cmd, cwd=str(BENCH_DIR.parent), env=env,
                                stdin=subprocess.DEVNULL, stdout=sys.stderr,
                                start_new_session=True)
        error = None
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            error = f"bench_{area} timed out after {timeout:.0f} s and was killed"
        except KeyboardInterrupt:
            _kill_group(proc)
            raise
        finally:
            if proc.poll() is None:
                _kill_group(proc)
            else:  # the worker is gone; end anything it left in its group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        try:
            with open(out, encoding="utf-8") as handle:
                outcome = json.load(handle)
        except (OSError, ValueError):
            outcome = {"area": area, "rows": [], "errors": [
                error or f"bench_{area} worker exited with status "
                         f"{proc.returncode} without results (see its output above)"]}
        else:
            if error:
                outcome["errors"].append(error)
    outcome["seconds"] = time.monotonic() - started
    return outcome


# --------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------

def higher_is_better(unit: str) -> bool:
    return unit in RATE_UNITS or unit.endswith("/s")


def _paired_ci(row: Mapping[str, Any], ref: Mapping[str, Any],
               limit: float) -> dict[str, Any]:
    """CI of the ratio from round-paired samples, and whether it is clear.

    Rows of one group sampled in the same rounds (``raw`` of equal length,
    same group) are paired sample by sample; the CI is that of the median of
    the per-round ratios.  ``clear`` is False when the CI contains the limit:
    PASS or MISS is then within the noise of this run.
    """
    raw, ref_raw = row.get("raw"), ref.get("raw")
    if (not raw or not ref_raw or len(raw) != len(ref_raw)
            or row["group"] != ref["group"]):
        return {}
    ratios = [a / b for a, b in zip(raw, ref_raw) if b]
    ci = median_ci(ratios)
    if ci is None:
        return {}
    return {"ci_low": ci[0], "ci_high": ci[1],
            "clear": not (ci[0] <= limit <= ci[1])}


def annotate(rows: list[dict]) -> list[dict]:
    """Add ``ratio`` (to the group floor) and evaluated ``target_results``.

    Returns the flat list of evaluated targets.
    """
    by_group: dict[str, dict[str, dict]] = {}
    for row in rows:
        by_group.setdefault(row["group"], {})[row["name"]] = row
    results = []
    for group, named in by_group.items():
        floor = next((r for r in named.values()
                      if r.get("floor") and r.get("value")), None)
        for row in named.values():
            if floor is not None and row.get("value") is not None:
                row["ratio"] = row["value"] / floor["value"]
            evaluated = []
            for spec in row.get("targets") or ():
                ref_rows = by_group.get(spec.get("ref_group") or group, {})
                ref = ref_rows.get(spec.get("ref", ""))
                result = {"group": group, "name": row["name"],
                          "label": spec.get("label", ""), "ref": spec.get("ref"),
                          "op": spec.get("op"), "factor": spec.get("factor")}
                if row.get("value") is None or ref is None or not ref.get("value"):
                    result["status"] = "N/A"
                    result["ratio"] = None
                else:
                    ratio = row["value"] / ref["value"]
                    limit = spec["factor"]
                    ok = ratio <= limit if spec["op"] == "<=" else ratio >= limit
                    result["status"] = "PASS" if ok else "MISS"
                    result["ratio"] = ratio
                    result.update(_paired_ci(row, ref, limit))
                evaluated.append(result)
            if evaluated:
                row["target_results"] = evaluated
                results.extend(evaluated)
    return results


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "skipped"
    digits = UNIT_DIGITS.get(unit, 2)
    return f"{value:,.{digits}f}"


def _cell(text: str, style: str) -> str:
    text = text.replace("\n", " ")
    if style == "markdown":
        return text.replace("|", "\\|")
    return text or "\\"  # rst list-table cells may not be empty


def _heading(text: str, level: int, style: str) -> list[str]:
    if style == "markdown":
        return ["#" * level + " " + text, ""]
    return [text, "=-~"[level - 1] * len(text), ""]


def _table(header: Sequence[str], right: Sequence[bool],
           body: Sequence[Sequence[str]], style: str) -> list[str]:
    """A markdown pipe table or an rst ``list-table`` directive."""
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        lines += ["| " + " | ".join(_cell(c, style) for c in cells) + " |"
                  for cells in body]
        return lines
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for cells in [list(header), *body]:
        first, *rest = [_cell(c, style) for c in cells]
        lines.append(f"   * - {first}")
        lines += [f"     - {cell}" for cell in rest]
    return lines


def _ci_text(result: Mapping[str, Any]) -> str:
    if result.get("ci_low") is None:
        return ""
    return f"{result['ci_low']:.2f}-{result['ci_high']:.2f}"


def _verdict(result: Mapping[str, Any]) -> str:
    if result.get("clear") is None:
        return ""
    return "clear" if result["clear"] else "within noise"


def _target_text(result: Mapping[str, Any]) -> str:
    if result["status"] == "N/A":
        return f"N/A {result['label']}"
    noise = "" if result.get("clear", True) else ", within noise"
    return f"{result['status']} {result['label']} ({result['ratio']:.2f}x{noise})"


def format_group(group: str, rows: Sequence[dict], style: str = "markdown") -> str:
    """One table: median, p10-p90, ratio to the floor, targets, samples, note."""
    unit = next((r["unit"] for r in rows), "")
    floor = next((r["name"] for r in rows if r.get("floor")), None)
    better = "higher is better" if higher_is_better(unit) else "lower is better"
    subtitle = f"Median in {unit}, {better}" + (
        f"; ratio = value / floor ({floor})." if floor else ".")
    body = []
    for row in rows:
        spread = ""
        if row.get("p10") is not None and row.get("p90") is not None:
            spread = (f"{format_value(row['p10'], row['unit'])}-"
                      f"{format_value(row['p90'], row['unit'])}")
        ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else ""
        name = row["name"] + (" (floor)" if row.get("floor") else "")
        unit_suffix = f" {row['unit']}" if row["unit"] != unit else ""
        targets = "; ".join(_target_text(t) for t in row.get("target_results", ()))
        body.append((name, format_value(row["value"], row["unit"]) + unit_suffix,
                     spread, ratio, targets, str(row["samples"]),
                     row.get("note", "")))
    lines = _heading(group, 3, style) + [subtitle, ""]
    lines += _table(("benchmark", "median", "p10-p90", "x floor", "target", "n",
                     "note"), (False, True, True, True, False, True, False),
                    body, style)
    return "\n".join(lines)


def format_report(payload: Mapping[str, Any], style: str = "markdown") -> str:
    """The whole report (``markdown`` or ``rst``): machine, one table per
    group, the targets, the errors."""
    if style not in ("markdown", "rst"):
        raise ValueError(f"style must be 'markdown' or 'rst', not {style!r}")
    rows = payload["rows"]
    kind = "quick" if payload["quick"] else "full"
    parts = _heading(f"uactor benchmarks ({kind} run)", 2, style)
    parts += [f"Machine: {describe_machine(payload['machine'])}.", ""]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for group, group_rows in groups.items():
        parts += [format_group(group, group_rows, style), ""]
    targets = payload.get("targets") or []
    if targets:
        body = [(r["status"], r["group"], r["name"], r["label"],
                 f"{r['ratio']:.2f}x" if r.get("ratio") is not None else "",
                 _ci_text(r), _verdict(r))
                for r in targets]
        parts += _heading("targets", 3, style)
        parts += ["Measured = median / median of the reference; 95% CI of the "
                  "median of round-paired ratios; within noise = the CI "
                  "contains the target.", ""]
        parts += _table(("status", "group", "benchmark", "target", "measured",
                         "95% CI", "verdict"),
                        (False, False, False, False, True, True, False), body,
                        style)
        parts.append("")
    errors = payload.get("errors") or []
    if errors:
        parts += _heading("errors", 3, style)
        parts += [f"- {_cell(error.splitlines()[0], style)}" for error in errors]
        parts.append("")
    parts.append(f"Total time {payload['seconds']:.1f} s.")
    return "\n".join(parts)


def default_json_path(now: _datetime.datetime | None = None) -> Path:
    now = now or _datetime.datetime.now(_datetime.timezone.utc)
    return RESULTS_DIR / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"


def write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    target_path = Path(path)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = target_path.with_name(target_path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n",
                   encoding="utf-8")
    os.replace(tmp, target_path)
    return target_path


def progress(message: str) -> None:
    """A progress line on stderr (the report itself goes to stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
