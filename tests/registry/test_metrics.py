"""``/metrics`` rendering: documented names, types and label escaping."""
from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from registry._latency import LatencyHistogram
from registry._metrics import METRICS, MetricsPage

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.rst"


def snapshot(*names: str) -> dict:
    latency = LatencyHistogram((0.001, 0.01))
    latency.observe(0.0005)
    latency.observe(0.5)
    return {
        "node": {"address": "127.0.0.1:5000", "pid": 999_999_999, "started": 1.5e9,
                 "store": {"url": "memory://", "reachable": False, "stale_for": 2.5},
                 "peers": ["10.0.0.2:5000"]},
        "totals": {"services": len(names), "actors": len(names),
                   "registered_total": 7, "renewed_total": 6, "unregistered_total": 5,
                   "expired_total": 4, "picks_total": 3},
        "services": [{"name": name, "actors": [{}]} for name in names],
        "store_latency": latency.snapshot(),
    }


def render(data: dict, accept: str | None = None) -> tuple[str, str]:
    body, kind = MetricsPage(lambda: data, lambda _: 2).render(accept)
    return body.decode(), kind


def families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_documented_metrics_are_exactly_the_collectors():
    documented = dict(re.findall(r"\* - ``(uactor_registry_\w+)(?:\{[\w,]*\})?``\n"
                                 r"\s+- (\w+)", DOCS.read_text()))
    assert documented == {name: kind for name, (kind, _) in METRICS.items()}
    text, kind = render(snapshot("Worker"))
    assert kind.startswith("text/plain")
    rendered = {name: family.type for name, family in families(text).items()
                if name.startswith("uactor_registry_")}
    assert rendered == {name.removesuffix("_total"): kind  # families drop _total
                        for name, (kind, _) in METRICS.items()}


def test_values_come_from_the_snapshot():
    parsed = families(render(snapshot("Worker", "Storage"))[0])

    def value(name: str, **labels: str) -> float:
        [sample] = [s for f in parsed.values() for s in f.samples
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        return sample.value

    assert value("uactor_registry_actors", service="Storage") == 1
    assert value("uactor_registry_registrations_total") == 7
    assert value("uactor_registry_expiries_total") == 4
    assert value("uactor_registry_store_reachable") == 0
    assert value("uactor_registry_store_stale_seconds") == 2.5
    assert value("uactor_registry_peers") == 1
    assert value("uactor_registry_client_connections") == 2
    assert value("uactor_registry_store_operation_seconds_bucket", le="0.001") == 1
    assert value("uactor_registry_store_operation_seconds_bucket", le="+Inf") == 2
    assert value("uactor_registry_store_operation_seconds_count") == 2
    # No such process: the process metrics are left out, the rest stands.
    assert not [name for name in parsed if name.startswith("process_")]


def test_service_names_are_escaped_as_label_values():
    strange = 'quote"back\\slash'
    parsed = families(render(snapshot(strange))[0])
    [sample] = parsed["uactor_registry_actors"].samples
    assert sample.labels == {"service": strange}


def test_openmetrics_when_asked():
    text, kind = render(snapshot(), "application/openmetrics-text; version=1.0.0")
    assert kind.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
