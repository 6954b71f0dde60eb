"""The embedded stack's funnel (``GET /_local/funnel``, local/metrics.py) as text tables.

The same figures as the CloudWatch dashboard (the same EMF metrics), without AWS: only the
embedded stack serves them. In AWS, open the dashboard.
"""

from __future__ import annotations

import json
import os
import unicodedata
import urllib.error
import urllib.request
from typing import Any

from . import NotFound, OpsError

DEFAULT_API_URL = "http://127.0.0.1:3000"
PATH = "/_local/funnel"


def fetch(api_url: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The funnel report of the local API at ``api_url`` (CARRIER_AUTH_API_URL, :3000)."""
    base = (api_url or os.environ.get("CARRIER_AUTH_API_URL") or DEFAULT_API_URL).rstrip("/")
    request = urllib.request.Request(base + PATH, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - a local URL
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise NotFound(f"{base}{PATH} answered {exc.code}: is it the embedded stack's API (make run)?") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OpsError(f"no embedded stack API at {base} ({reason}): start it with `make run` "
                       "(or set CARRIER_AUTH_API_URL / --api-url)") from None
    except ValueError:
        raise OpsError(f"{base}{PATH} did not answer JSON: is it the embedded stack's API?") from None


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(header: list[str], rows: list[list[Any]], align: str = "") -> str:
    """Columns padded by display width; ``align`` has an l or r per column (default: the first
    left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    cells = [header] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [v + " " * (w - width(v)) if a == "l" else " " * (w - width(v)) + v
                 for v, w, a in zip(row, widths, align)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def render(report: dict[str, Any]) -> str:
    started = report["funnel"]["started"]
    out = [f"Funnel (the functions' EMF metrics since {report.get('since', 'the stack started')})"]
    out.append(table(["step", "tasks", "of started"],
                     [[k, v, percent(v / started if started else None)] for k, v in report["funnel"].items()]))
    for key, label in (("by_carrier", "carrier"), ("by_province", "province")):
        out.append("")
        out.append(f"By {label}")
        out.append(table([label, "started", "succeeded", "defeated", "success"],
                         [[name, r["started"], r["succeeded"], r["defeated"], percent(r["success_rate"])]
                          for name, r in report[key].items()]) if report[key] else "  none yet")
    out.append("")
    out.append("Guide codes answered")
    out.append(table(["guide code", "answers"], [[c, n] for c, n in report["guide_codes"].items()])
               if report["guide_codes"] else "  none yet")
    out.append("")
    out.append("Upstream calls")
    out.append(table(["provider", "calls", "failed", "error rate", "latency ms avg"],
                     [[p, r["calls"], r["failed"], percent(r["error_rate"]), r["latency_ms_avg"]]
                      for p, r in report["upstream"].items()]) if report["upstream"] else "  none yet")
    return "\n".join(out)
