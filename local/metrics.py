"""The embedded stack's CloudWatch metrics: the EMF lines its functions print, summed in process.

In AWS, CloudWatch Logs turns each Embedded Metric Format line a function prints (JSON with
``_aws.CloudWatchMetrics``; Powertools writes them) into metrics, and the dashboard reads those.
Locally nothing does: the runtime's log relay hands every line of the functions' output to an
``EmfAggregator``, which keeps, per metric and dimension values, the sum and the number of the
values (any other line is ignored), and ``funnel_report`` turns them into what the dashboard
shows - the funnel of ``carrier_auth.telemetry`` (by carrier and province), the guide codes
answered and the upstream calls. ``GET /_local/funnel`` on the local API serves it (JSON, or a
small HTML page); ``python -m ops funnel`` prints it.

Figures count from the moment the stack started; they are not persisted.
"""

from __future__ import annotations

import html
import json
import math
import threading
import time
from collections.abc import Iterable
from typing import Any

# carrier_auth.telemetry's names (the contract); the report's keys for the funnel steps
FUNNEL_STEPS = {
    "FunnelStarted": "started",
    "FunnelSmsRequested": "sms_requested",
    "FunnelSubmitted": "submitted",
    "FunnelSucceeded": "succeeded",
    "FunnelDefeated": "defeated",
}
OUTCOMES = ("started", "succeeded", "defeated")  # the steps counted by carrier and province
UNKNOWN = "未知"  # a dimension missing from a line (carrier_auth.telemetry writes 未知 for an empty one)
GUIDE_CODE = "GuideCodeAnswered"
UPSTREAM_CALL, UPSTREAM_FAILED, UPSTREAM_LATENCY = "UpstreamCall", "UpstreamFailed", "UpstreamLatency"
UPSTREAM_SUMS = ("calls", "failed", "ms", "samples")  # per provider: the latency's sum and number of values

# (namespace, metric, unit, ((dimension, value), ...)) -> [sum, count]
Key = tuple[str, str, str, tuple[tuple[str, str], ...]]
Sample = tuple[str, str, str, dict[str, str], list[float]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_emf(line: str) -> list[Sample]:
    """The metrics of one EMF line: (namespace, name, unit, dimensions, values) each; [] for
    anything else (a log line, garbage, JSON that is not EMF). A directive's dimension sets
    are merged into one set of dimension values per metric, so a metric published under
    several sets is counted once."""
    if "CloudWatchMetrics" not in line:  # cheap: most lines are logs
        return []
    try:
        root = json.loads(line)
    except ValueError:
        return []
    meta = root.get("_aws") if isinstance(root, dict) else None
    directives = meta.get("CloudWatchMetrics") if isinstance(meta, dict) else None
    if not isinstance(directives, list):
        return []
    samples: list[Sample] = []
    for directive in directives:
        if not isinstance(directive, dict):
            continue
        names = {n for dims in directive.get("Dimensions") or [] if isinstance(dims, list) for n in dims}
        dimensions = {n: str(root[n]) for n in sorted(map(str, names)) if isinstance(root.get(n), (str, int, float))}
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str) or name not in root:
                continue
            raw = root[name]
            values = [v for v in (_number(x) for x in (raw if isinstance(raw, list) else [raw])) if v is not None]
            if values:
                unit = str(metric.get("Unit") or "None")
                samples.append((str(directive.get("Namespace", "")), name, unit, dimensions, values))
    return samples


class EmfAggregator:
    """Sums of the EMF metrics fed to it, per metric and dimension values. Thread-safe: every
    function environment's output thread feeds the same one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[Key, list[float]] = {}
        self.started_at = time.time()

    def feed(self, line: str) -> bool:
        """Count the metrics of ``line`` if it is an EMF line; True if it was."""
        samples = parse_emf(line)
        if not samples:
            return False
        with self._lock:
            for namespace, name, unit, dimensions, values in samples:
                key = (namespace, name, unit, tuple(dimensions.items()))
                total = self._sums.setdefault(key, [0.0, 0])
                total[0] += sum(values)
                total[1] += len(values)
        return True

    def feed_lines(self, lines: Iterable[str]) -> int:
        return sum(self.feed(line) for line in lines)

    def metrics(self) -> list[dict[str, Any]]:
        """Every metric and dimension set seen so far, with the sum and count of its values."""
        with self._lock:
            items = list(self._sums.items())
        return [
            {"namespace": ns, "name": name, "unit": unit, "dimensions": dict(dims), "sum": total, "count": int(count)}
            for (ns, name, unit, dims), (total, count) in sorted(items)
        ]

    def reset(self) -> None:
        with self._lock:
            self._sums.clear()
            self.started_at = time.time()

    def report(self) -> dict[str, Any]:
        return funnel_report(self.metrics(), self.started_at)


def _count(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 3)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def funnel_report(metrics: list[dict[str, Any]], since: float | None = None) -> dict[str, Any]:
    """The dashboard's figures from ``EmfAggregator.metrics()``:

    ``funnel`` (each step's total), ``by_carrier`` / ``by_province`` (started, succeeded,
    defeated and success_rate = succeeded / started, None before any start), ``guide_codes``
    (answers per guide code), ``upstream`` per provider (calls, failed, error_rate = failed /
    calls, latency_ms_avg = the mean UpstreamLatency)."""
    funnel = {key: 0.0 for key in FUNNEL_STEPS.values()}
    groups: dict[str, dict[str, dict[str, float]]] = {"Carrier": {}, "Province": {}}
    guide_codes: dict[str, float] = {}
    upstream: dict[str, dict[str, float]] = {}
    for m in metrics:
        name, dims, total = m["name"], m["dimensions"], m["sum"]
        if name in FUNNEL_STEPS:
            step = FUNNEL_STEPS[name]
            funnel[step] += total
            if step in OUTCOMES:
                for dimension, by_value in groups.items():
                    row = by_value.setdefault(dims.get(dimension, UNKNOWN), dict.fromkeys(OUTCOMES, 0.0))
                    row[step] += total
        elif name == GUIDE_CODE:
            code = dims.get("GuideCode", UNKNOWN)
            guide_codes[code] = guide_codes.get(code, 0.0) + total
        elif name in (UPSTREAM_CALL, UPSTREAM_FAILED, UPSTREAM_LATENCY):
            row = upstream.setdefault(dims.get("Provider", UNKNOWN), dict.fromkeys(UPSTREAM_SUMS, 0.0))
            if name == UPSTREAM_CALL:
                row["calls"] += total
            elif name == UPSTREAM_FAILED:
                row["failed"] += total
            else:
                row["ms"] += total
                row["samples"] += m["count"]

    def by(dimension: str) -> dict[str, dict[str, Any]]:
        rows = sorted(groups[dimension].items(), key=lambda kv: (-kv[1]["started"], kv[0]))
        return {
            value: {**{k: _count(v) for k, v in row.items()}, "success_rate": _rate(row["succeeded"], row["started"])}
            for value, row in rows
        }

    report: dict[str, Any] = {
        "funnel": {k: _count(v) for k, v in funnel.items()},
        "by_carrier": by("Carrier"),
        "by_province": by("Province"),
        "guide_codes": {code: _count(n) for code, n in sorted(guide_codes.items(), key=lambda kv: (-kv[1], kv[0]))},
        "upstream": {
            provider: {
                "calls": _count(row["calls"]),
                "failed": _count(row["failed"]),
                "error_rate": _rate(row["failed"], row["calls"]),
                "latency_ms_avg": round(row["ms"] / row["samples"], 1) if row["samples"] else None,
            }
            for provider, row in sorted(upstream.items())
        },
    }
    if since is not None:
        report["since"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
    return report


# ---------------------------------------------------------------- the HTML page
def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _table(caption: str, header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('-' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    ) or f'<tr><td colspan="{len(header)}">none yet</td></tr>'
    return f"<table><caption>{html.escape(caption)}</caption><tr>{head}</tr>{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    """A page of plain tables (no scripts) with the report's figures."""
    started = report["funnel"]["started"]
    funnel_rows = [[step, n, _percent(_rate(n, started))] for step, n in report["funnel"].items()]

    def grouped(key: str) -> list[list[Any]]:
        return [[value, r["started"], r["succeeded"], r["defeated"], _percent(r["success_rate"])]
                for value, r in report[key].items()]

    upstream = [[p, r["calls"], r["failed"], _percent(r["error_rate"]),
                 "-" if r["latency_ms_avg"] is None else f"{r['latency_ms_avg']:.1f}"]
                for p, r in report["upstream"].items()]
    sections = [
        _table("Funnel", ["step", "tasks", "of started"], funnel_rows),
        _table("By carrier", ["carrier", "started", "succeeded", "defeated", "success rate"], grouped("by_carrier")),
        _table("By province", ["province", "started", "succeeded", "defeated", "success rate"], grouped("by_province")),
        _table("Guide codes answered", ["guide code", "answers"], [[c, n] for c, n in report["guide_codes"].items()]),
        _table("Upstream calls", ["provider", "calls", "failed", "error rate", "latency ms (avg)"], upstream),
    ]
    since = html.escape(report.get("since", ""))
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Carrier Auth - local funnel</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:0 0 1.5em}"
        "caption{text-align:left;font-weight:bold;padding:.3em 0}td,th{border:1px solid #ccc;padding:.25em .7em;"
        "text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>"
        "<h1>Carrier Auth - local funnel</h1>"
        f"<p>From the CloudWatch EMF metrics the embedded stack's functions printed since {since} UTC "
        "(the dashboard's figures). Reload for new figures; JSON: <code>?format=json</code>.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
