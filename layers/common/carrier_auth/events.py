"""CarrierAuthFinished: the one event the gateway publishes (EventBridge -> SQS -> callback)."""

from __future__ import annotations

import json

from . import aws
from .config import get_settings

SOURCE = "carrier-auth.gateway"
FINISHED = "CarrierAuthFinished"


def finished_detail(session: dict) -> dict:
    """The CarrierAuthFinished detail of a finished session: the same event id every time."""
    return {
        "task_id": session["task_id"],
        "event_id": session["event_id"],
        "result": session["status"],
        "error_message": session["result_message"],
        "finished_at": session["finished_at"],
    }


def publish_finished(detail: dict) -> None:
    """``detail`` carries ids and the result only: never a token, code or PII."""
    resp = aws.client("events").put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": FINISHED,
                "Detail": json.dumps(detail, ensure_ascii=False),
                "EventBusName": get_settings().event_bus_name,
            }
        ]
    )
    if resp.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents failed: {resp['Entries']}")
