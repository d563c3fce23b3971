"""Smoke tests for the benchmark suite: it runs and its output is well formed.

No timing assertions here (speed belongs in ``python -m bench``): only the
shape of the markdown report and of the JSON, and the harness's bookkeeping.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench import _harness

ROOT = Path(__file__).resolve().parents[2]

#: A small, fast subset of the core groups (a floor, uactor, a target each).
SMOKE_GROUPS = "latency-local,throughput-1actor"

#: Seconds the smoke run may take before it is killed.
SMOKE_TIMEOUT = 90.0

ROW_KEYS = {"group", "name", "value", "unit", "samples", "note"}


def _run_bench(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=SMOKE_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_quick_subset_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "run.json"
    result = _run_bench("--quick", "--only", SMOKE_GROUPS, "--json", str(out))
    assert result.returncode == 0, result.stderr

    report = result.stdout
    assert "## uactor benchmarks (quick run)" in report
    assert "Machine: " in report
    for group in SMOKE_GROUPS.split(","):
        assert f"### {group}" in report
    assert "| benchmark | median | p10-p90 | x floor | target | n | note |" in report
    assert "| BaseManager (floor) |" in report
    assert "### targets" in report
    assert "latency-tcp" not in report  # --only kept the other groups out

    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["schema"] == _harness.SCHEMA_VERSION
    assert payload["quick"] is True
    assert payload["errors"] == []
    machine = payload["machine"]
    for key in ("cpu_model", "cpu_count_logical", "python", "os", "packages"):
        assert machine[key], key
    assert {"numpy", "psutil", "uactor"} <= set(machine["packages"])

    rows = payload["rows"]
    assert {row["group"] for row in rows} == set(SMOKE_GROUPS.split(","))
    for row in rows:
        assert set(row) >= ROW_KEYS, row
        if row.get("skipped"):
            assert row["value"] is None and row["note"]
        else:
            assert row["value"] > 0 and row["samples"] > 0
            assert row["p10"] <= row["value"] <= row["p90"]
    names = {(row["group"], row["name"]) for row in rows}
    assert {("latency-local", "Pipe echo"), ("latency-local", "BaseManager"),
            ("latency-local", "uactor"), ("throughput-1actor", "BaseManager"),
            ("throughput-1actor", "uactor")} <= names
    floors = [row for row in rows if row.get("floor")]
    assert len(floors) == 2 and all(row["ratio"] == 1.0 for row in floors)
    for result_ in payload["targets"]:
        assert result_["status"] in {"PASS", "MISS", "N/A"}
    assert {t["group"] for t in payload["targets"]} == set(SMOKE_GROUPS.split(","))


def test_list_names_the_core_groups():
    result = _run_bench("--list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("core: coldstart, ")
    assert "latency-tcp" in result.stdout


def test_unknown_selection_is_an_error():
    result = _run_bench("--only", "no-such-group")
    assert result.returncode == 2
    assert "selects nothing" in result.stderr


def test_failing_area_is_reported_not_raised():
    outcome = _harness.run_area_here("no_such_area", quick=True, only=None)
    assert outcome["rows"] == []
    assert "bench_no_such_area failed" in outcome["errors"][0]


def test_bad_rows_are_reported():
    good = {"group": "g", "name": "a", "value": 1.0, "unit": "us", "samples": 3,
            "note": ""}
    rows, problems = _harness.validate_rows([
        good, {"group": "g", "name": "b"}, {**good, "value": None}, "row"])
    assert rows == [good]
    assert len(problems) == 3


def test_ratios_and_targets():
    rows = [
        {"group": "g", "name": "floor", "value": 10.0, "unit": "us", "samples": 1,
         "note": "", "floor": True},
        {"group": "g", "name": "fast", "value": 10.4, "unit": "us", "samples": 1,
         "note": "", "targets": [_harness.target("floor", "<=", 1.05, "<= 1.05x")]},
        {"group": "g", "name": "slow", "value": 12.0, "unit": "us", "samples": 1,
         "note": "", "targets": [_harness.target("floor", "<=", 1.05, "<= 1.05x"),
                                 _harness.target("missing", "<=", 1.0, "n/a")]},
    ]
    results = _harness.annotate(rows)
    assert [r["status"] for r in results] == ["PASS", "MISS", "N/A"]
    assert rows[1]["ratio"] == pytest.approx(1.04)
    table = _harness.format_group("g", rows)
    assert "| floor (floor) | 10.0 |" in table
    assert "MISS <= 1.05x (1.20x)" in table


def test_group_selection():
    assert _harness.group_selected("latency-local", ["latency"])
    assert _harness.group_selected("payload-tcp", ["payload-*"])
    assert not _harness.group_selected("latency-local", ["throughput"])
    assert _harness.group_selected("anything", None)
    plan = dict(_harness.plan_areas(["core"], ["latency"]))
    assert plan == {"core": ["latency"]}
    assert _harness.plan_areas(["core"], ["nothing"]) == []


@pytest.mark.timeout(60)
def test_the_registry_bench_reads_the_node_s_ready_lines():
    """The HTTP bench starts a real node and parses what it prints."""
    from bench import bench_registry

    proc, node, http_address = bench_registry._start_node()
    try:
        assert node[0] == "127.0.0.1" and node[1] > 0
        assert http_address[0] == "127.0.0.1" and http_address[1] > 0
    finally:
        bench_registry._stop_node(proc)
    assert proc.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
@pytest.mark.parametrize("placement", ["one-core", "split"])
def test_placement_is_applied_and_recorded(tmp_path, placement):
    if placement == "split" and len(os.sched_getaffinity(0)) < 2:
        pytest.skip("split placement needs two CPUs")
    out = tmp_path / "run.json"
    result = _run_bench("--quick", "--placement", placement, "--only", "latency-local",
                        "--json", str(out))
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert payload["machine"]["placement"] == placement
    assert f"placement {placement}" in result.stdout
    assert {row["name"] for row in payload["rows"]} >= {"BaseManager", "uactor"}


def test_placement_pins_this_process_and_its_children(monkeypatch):
    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs and sched_setaffinity")
    cpus = sorted(os.sched_getaffinity(0))
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    before = os.sched_getaffinity(0)
    try:
        monkeypatch.setenv(_harness.PLACEMENT_ENV, _harness.placement_setting("split"))
        _harness.apply_placement()
        assert os.sched_getaffinity(0) == {cpus[0]}
        assert os.sched_getaffinity(child.pid) == set(cpus[1:])
    finally:
        _harness._pin_process(os.getpid(), before)
        child.communicate(b"", timeout=10)
    assert child.returncode == 0
