"""The session item: one per task, the only place flow state lives between steps.

The state machine's steps are its writers; the API facades only create it, claim the
waiting task token (a conditional update) and read checkpoints. Each checkpoint is an
app-facing answer (``answer``) with a fresh ``trace_id`` and a growing ``seq``: a facade that
signalled the machine waits for ``seq`` to pass the value it saw.

Nothing here holds a plaintext password, code, callback token, name or id number: those are
KMS ciphertexts (``*_enc``), masks and keyed hashes.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from . import aws, codes, telemetry
from .config import get_settings
from .envelope import new_trace_id

# Lifecycle
AWAITING_USER = "AWAITING_USER"  # a hosted-page session: no execution until its user submits the form
PENDING = "PENDING"  # created, the machine has not answered yet
WAITING_INPUT = "WAITING_INPUT"  # a task token is parked, the app must send a code
PROCESSING = "PROCESSING"  # a facade claimed the token and signalled the machine
COLLECTING = "COLLECTING"  # 105 was answered, the provider is collecting
SUCCESS = "SUCCESS"
DEFEAT = "DEFEAT"
FAILED = "FAILED"  # ended interactively (wrong password, identity mismatch, ...)
TIMED_OUT = "TIMED_OUT"  # no input within the input timeout (90032)
ERROR = "ERROR"  # system error before 105 (103)
FINAL = (SUCCESS, DEFEAT, FAILED, TIMED_OUT, ERROR)


def _table() -> Any:
    return aws.table(get_settings().sessions_table)


def _now() -> int:
    return int(time.time())


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal: make items JSON-friendly."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _dynamo(value: Any) -> Any:
    """Python floats are not DynamoDB numbers: store them as Decimal (upstream JSON may hold floats)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dynamo(v) for v in value]
    return value


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def answer(code: str, guide_code: str = "", message: str | None = None, auth_code: str = "") -> dict:
    """What a checkpoint tells the app (rendered into the seed envelope by the facades)."""
    if code == codes.IN_PROGRESS:
        text = message or codes.guide_message(guide_code) or codes.CODE_MESSAGES[code]
        return {"code": code, "message": text, "guide_code": guide_code, "guide_message": text, "auth_code": auth_code}
    return {
        "code": code,
        "message": message or codes.CODE_MESSAGES[code],
        "guide_code": "",
        "guide_message": "",
        "auth_code": "",
    }


def _fresh(item: dict[str, Any], status: str) -> dict[str, Any]:
    now = _now()
    return {
        **item,
        "status": status,
        "seq": 0,
        "trace_id": new_trace_id(),
        "created_at": now,
        "updated_at": now,
        "expires_at": now + get_settings().session_ttl_days * 86400,
    }


def create(item: dict[str, Any], status: str = PENDING) -> dict[str, Any]:
    """A new session (never over an existing one)."""
    item = _fresh(item, status)
    _table().put_item(Item=_dynamo(item), ConditionExpression=Attr("task_id").not_exists())
    return item


def begin_awaiting(task_id: str, values: dict[str, Any]) -> bool:
    """Turn a hosted-page session waiting for its user into a started task (PENDING), at most
    once: False when it was started already (or is gone)."""
    fresh = _fresh(values, PENDING)
    fresh.pop("created_at")
    fresh.pop("task_id", None)
    return update_if(task_id, fresh, Attr("status").eq(AWAITING_USER), remove=("prefill_enc",)) is not None


def get(task_id: str) -> dict[str, Any] | None:
    resp = _table().get_item(Key={"task_id": task_id}, ConsistentRead=True)
    item = resp.get("Item")
    return _plain(item) if item else None


def update(task_id: str, values: dict[str, Any], remove: tuple[str, ...] = (), condition: Any = None) -> dict:
    """SET ``values`` and REMOVE ``remove`` (either may be empty) on an existing item; returns
    the new item."""
    names = {f"#{k}": k for k in values} | {f"#{k}": k for k in remove}
    clauses = []
    if values:
        clauses.append("SET " + ", ".join(f"#{k} = :{k}" for k in values))
    if remove:
        clauses.append("REMOVE " + ", ".join(f"#{k}" for k in remove))
    cond = Attr("task_id").exists()
    if condition is not None:
        cond = cond & condition
    placeholders = {f":{k}": _dynamo(v) for k, v in values.items()}
    resp = _table().update_item(
        Key={"task_id": task_id},
        UpdateExpression=" ".join(clauses),
        ExpressionAttributeNames=names,
        ConditionExpression=cond,
        ReturnValues="ALL_NEW",
        **({"ExpressionAttributeValues": placeholders} if placeholders else {}),
    )
    return _plain(resp["Attributes"])


def update_if(task_id: str, values: dict[str, Any], condition: Any, remove: tuple[str, ...] = ()) -> dict | None:
    """``update`` when ``condition`` holds; None (nothing written) when it does not."""
    try:
        return update(task_id, values, remove=remove, condition=condition)
    except ClientError as exc:
        if is_conditional_failure(exc):
            return None
        raise


# Funnel steps a checkpoint reaches at most once per task: the session attribute that keeps the
# trace_id of the checkpoint that reached the step first -> (metric, does this answer reach it?)
FUNNEL_FIRSTS: dict[str, tuple[str, Callable[[dict], bool]]] = {
    "sms_requested_trace": ("FunnelSmsRequested", lambda ans: ans.get("guide_code") == codes.NEED_SMS_CODE),
    "submitted_trace": ("FunnelSubmitted", lambda ans: ans.get("code") == codes.SUBMITTED),
}


def checkpoint(
    task_id: str, status: str, ans: dict, extra: dict | None = None, remove: tuple[str, ...] = ()
) -> dict:
    """Publish a new app-facing answer: fresh trace_id, seq + 1. Never rewrites a final session.

    Counted (telemetry) only once the write succeeded: the answer's guide code, and a funnel step
    (``FUNNEL_FIRSTS``) only by the write that reached it first - a retried step that answers
    again does not count the task twice."""
    table = _table()
    values = {"status": status, "answer": ans, "trace_id": new_trace_id(), "updated_at": _now(), **(extra or {})}
    firsts = {attr: step for attr, (step, reached) in FUNNEL_FIRSTS.items() if reached(ans)}
    names = {f"#{k}": k for k in [*values, *remove, *firsts]} | {"#seq": "seq"}
    sets = [f"#{k} = :{k}" for k in values] + [f"#{a} = if_not_exists(#{a}, :trace_id)" for a in firsts]
    expr = "SET " + ", ".join(sets) + " ADD #seq :one"
    if remove:
        expr += " REMOVE " + ", ".join(f"#{k}" for k in remove)
    resp = table.update_item(
        Key={"task_id": task_id},
        UpdateExpression=expr,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={**{f":{k}": _dynamo(v) for k, v in values.items()}, ":one": 1},
        ConditionExpression=Attr("task_id").exists() & ~Attr("status").is_in(list(FINAL)),
        ReturnValues="ALL_NEW",
    )
    item = _plain(resp["Attributes"])
    if ans.get("guide_code"):
        telemetry.guide_code(ans["guide_code"])
    for attr, step in firsts.items():
        if item.get(attr) == values["trace_id"]:
            telemetry.funnel(step, item)
    return item


def claim_token(task_id: str, trace_id: str, count: str | None = None) -> dict | None:
    """Atomically take the parked task token; None when the task is not waiting on this trace_id.

    ``count`` names a counter attribute to increment in the same write (e.g. ``resends``)."""
    expr = "SET #status = :processing, #updated_at = :now REMOVE #task_token"
    names = {"#status": "status", "#updated_at": "updated_at", "#task_token": "task_token"}
    values: dict[str, Any] = {":processing": PROCESSING, ":now": _now()}
    if count:
        expr += " ADD #count :one"
        names["#count"] = count
        values[":one"] = 1
    try:
        resp = _table().update_item(
            Key={"task_id": task_id},
            UpdateExpression=expr,
            ConditionExpression=Attr("status").eq(WAITING_INPUT) & Attr("trace_id").eq(trace_id),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_OLD",
        )
    except ClientError as exc:
        if is_conditional_failure(exc):
            return None
        raise
    return _plain(resp["Attributes"])


# The facades' reads while they wait for the machine's next checkpoint: every
# CHECKPOINT_READ_SECONDS for the first FAST_WAIT_SECONDS (a checkpoint is noticed within
# that interval; a step with upstream calls takes a few hundred ms), then growing to
# SLOW_READ_SECONDS so that a slow upstream does not cost reads without end.
CHECKPOINT_READ_SECONDS = 0.04
FAST_WAIT_SECONDS = 3.0
SLOW_READ_SECONDS = 0.25


def wait_for_checkpoint(task_id: str, after_seq: int, deadline: float) -> dict | None:
    """Consistent reads until seq passes ``after_seq`` or the deadline."""
    began = time.monotonic()
    delay = CHECKPOINT_READ_SECONDS
    while True:
        item = get(task_id)
        if item and int(item.get("seq", 0)) > after_seq:
            return item
        now = time.monotonic()
        if now >= deadline:
            return item
        if now - began > FAST_WAIT_SECONDS:
            delay = min(delay * 1.5, SLOW_READ_SECONDS)
        time.sleep(min(delay, deadline - now))
