"""The seed-000 answer envelope: {code, message, trace_id, date_stamp, data}."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import codes

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response


def new_trace_id() -> str:
    return uuid.uuid4().hex


def date_stamp() -> str:
    return str(int(time.time() * 1000))


def task_data(
    task_id: str = "", guide_code: str = "", guide_message: str = "", auth_code: str = ""
) -> dict[str, str]:
    return {
        "task_id": task_id,
        "guide_code": guide_code,
        "guide_message": guide_message,
        "auth_code": auth_code,
    }


def envelope(
    code: str, message: str | None = None, data: dict[str, Any] | None = None, trace_id: str | None = None
) -> dict[str, Any]:
    return {
        "code": code,
        "message": message if message is not None else codes.CODE_MESSAGES.get(code, ""),
        "trace_id": trace_id or new_trace_id(),
        "date_stamp": date_stamp(),
        "data": data if data is not None else {},
    }


def guide(task_id: str, guide_code: str, message: str | None = None, trace_id: str | None = None) -> dict:
    """A 104 answer that tells the app what to do next."""
    text = message or codes.guide_message(guide_code)
    return envelope(codes.IN_PROGRESS, text, task_data(task_id, guide_code, text), trace_id)


def http(status: int, body: dict[str, Any]) -> Response:
    # imported here: the step functions use this module (trace ids) but never answer HTTP, and
    # the event_handler package costs tens of ms (the API functions have it from handlers.py)
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=status,
        content_type="application/json; charset=utf-8",
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
    )
