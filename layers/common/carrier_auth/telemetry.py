"""Metrics with their own dimensions (CloudWatch EMF through Powertools' ``single_metric``): one
EMF line each, written at once, whatever the function's own ``Metrics`` flushes.

Namespace ``POWERTOOLS_METRICS_NAMESPACE`` (CarrierAuth); Powertools adds the ``service``
dimension (``POWERTOOLS_SERVICE_NAME``: carrier-auth) to every metric. The names and dimensions
are a contract: template.yaml's alarms and dashboard, and the embedded stack's funnel
(``GET /_local/funnel``), read them.

- Funnel (dimensions Carrier, Province): ``FunnelStarted``, ``FunnelSmsRequested``,
  ``FunnelSubmitted`` (the 105), ``FunnelSucceeded``, ``FunnelDefeated``. Each counts a task once:
  started (facade.launch), first asked for the SMS code and answered 105 (sessions.checkpoint),
  SUCCESS / DEFEAT (flow.finish, on the status transition itself).
- ``GuideCodeAnswered`` (dimension GuideCode): every checkpoint that answers a guide code.
- Upstream calls (dimension Provider): ``UpstreamCall``, ``UpstreamFailed`` (Count) and
  ``UpstreamLatency`` (Milliseconds).
"""

from __future__ import annotations

import os
from typing import Any

FUNNEL = ("FunnelStarted", "FunnelSmsRequested", "FunnelSubmitted", "FunnelSucceeded", "FunnelDefeated")
GUIDE_CODE_ANSWERED = "GuideCodeAnswered"
UPSTREAM = ("UpstreamCall", "UpstreamFailed", "UpstreamLatency")
UNKNOWN = "未知"
NAMESPACE_ENV = "POWERTOOLS_METRICS_NAMESPACE"


def emit(name: str, value: float = 1, unit: str = "Count", **dimensions: str) -> None:
    """One metric, now, with ``dimensions`` (empty values become 未知). Never raises: a metric
    must not fail the request it describes. Without a namespace (a unit test, a script) nothing
    is written."""
    if not os.getenv(NAMESPACE_ENV):
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    try:
        with single_metric(name=name, unit=MetricUnit(unit), value=value) as metric:
            for key, dim in dimensions.items():
                metric.add_dimension(name=key, value=str(dim or UNKNOWN))
    except Exception:  # noqa: BLE001 - a malformed metric is dropped, the request goes on
        return


def province(region: str | None) -> str:
    """The province of a number's region (江苏省常州市 -> 江苏), as ``numbers.describe`` names it."""
    from .numbers import PROVINCES

    return next((p for p in PROVINCES if (region or "").startswith(p)), UNKNOWN)


def funnel(step: str, session: dict[str, Any]) -> None:
    """A task reached ``step`` (one of FUNNEL), by the carrier and province of its number."""
    emit(step, Carrier=session.get("isp") or "", Province=province(session.get("region")))


def guide_code(code: str) -> None:
    """A checkpoint answered guide ``code`` (e.g. 90001: asks for the SMS code)."""
    emit(GUIDE_CODE_ANSWERED, GuideCode=code)
