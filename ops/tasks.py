"""One task at a time (``show``, ``abort``) and the tasks that need a look (``stuck``)."""

from __future__ import annotations

import contextlib
import getpass
import io
import logging
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from . import NotFound, NothingToDo
from .callbacks import queue_state
from .resources import Resources, check_task_id

OPERATOR_ABORTED = "OperatorAborted"  # the execution's error and the session's ``error``
DEFAULT_REASON = "aborted by an operator (python -m ops abort)"

# session attributes never shown: ciphertexts, keyed hashes, the parked task token
DROPPED_SUFFIXES = ("_enc", "_hash")
DROPPED = frozenset({"task_token"})
# nested keys shown as *** (a provider's state may hold its own session tokens)
REDACTED_WORDS = ("token", "secret", "password", "pwd")
REDACTED = "***"


# ---------------------------------------------------------------- helpers
def iso(value: Any) -> str | None:
    """An epoch (seconds or milliseconds), datetime or ISO string as ISO 8601 UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value)
        moment = datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, timezone.utc)
    else:
        return str(value)
    spec = "seconds" if moment.microsecond == 0 else "milliseconds"
    return moment.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def epoch(value: Any) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None


def scrub(value: Any, top: bool = True) -> Any:
    """The session as an operator may see it: no ciphertext, hash or token; nested keys that
    name a token, secret or password masked; the callback URL without its query string."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in DROPPED or key.endswith(DROPPED_SUFFIXES):
                continue
            if not top and any(word in key.lower() for word in REDACTED_WORDS):
                out[key] = REDACTED
            elif top and key == "callback_url" and isinstance(item, str):
                out[key] = _without_query(item)
            else:
                out[key] = scrub(item, top=False)
        return out
    if isinstance(value, list):
        return [scrub(v, top=False) for v in value]
    return value


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "..." if parts.query else "", ""))


def _sessions():  # noqa: ANN202 - the flow's own session functions (carrier_auth, on the layer path)
    from carrier_auth import sessions

    return sessions


def _execution(res: Resources, task_id: str) -> dict[str, Any] | None:
    try:
        return res.client("stepfunctions").describe_execution(executionArn=res.execution_arn(task_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
            return None
        raise


def _event_details(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})


def history_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    """States entered and exited (with their times) and failures (error names only): never an
    input, output or cause, which may carry payloads."""
    states: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for event in events:
        kind, at = event["type"], iso(event.get("timestamp"))
        details = _event_details(event)
        if kind.endswith("StateEntered"):
            states.append({"state": details.get("name"), "entered": at, "exited": None})
        elif kind.endswith("StateExited"):
            entry = next((s for s in reversed(states) if s["state"] == details.get("name") and not s["exited"]), None)
            if entry is None:
                states.append({"state": details.get("name"), "entered": None, "exited": at})
            else:
                entry["exited"] = at
        elif kind.endswith(("Failed", "TimedOut", "Aborted")):
            current = next((s["state"] for s in reversed(states) if not s["exited"]), None)
            failures.append({"event": kind, "state": current, "error": details.get("error"), "at": at})
    return {"events": len(events), "states": states, "failures": failures}


def _history(res: Resources, execution_arn: str) -> list[dict[str, Any]]:
    sfn = res.client("stepfunctions")
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000, "includeExecutionData": False}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


# ---------------------------------------------------------------- show
def show(res: Resources, task_id: str) -> dict[str, Any]:
    """The task as stored (scrubbed), its execution and history summary, its callback."""
    check_task_id(task_id)
    with res.bound():
        session = _sessions().get(task_id)
    execution = _execution(res, task_id)
    if session is None and execution is None:
        raise NotFound(f"unknown task {task_id}: no session and no execution in the {res.where}")
    report: dict[str, Any] = {"task_id": task_id, "where": res.where, "session": scrub(session) if session else None}
    if execution is None:
        report["execution"] = None
    else:
        report["execution"] = {
            "arn": execution["executionArn"],
            "status": execution["status"],
            "started": iso(execution.get("startDate")),
            "stopped": iso(execution.get("stopDate")),
            **({"error": execution["error"]} if execution.get("error") else {}),
            "history": history_summary(_history(res, execution["executionArn"])),
        }
    s = session or {}
    report["callback"] = {
        "status": s.get("callback_status"),
        "http_status": s.get("callback_http_status"),
        "published_at": s.get("published_at"),
        "redelivered_at": iso(s.get("callback_redelivered_at")),
        "event_id": s.get("event_id"),
        # the live queue is not peeked: a receive would count toward its redrive to the DLQ
        "queue": queue_state(res, res.callback_queue_url, task_id, peek=False),
        "dead_letter_queue": queue_state(res, res.callback_dlq_url, task_id, peek=True),
    }
    return report


# ---------------------------------------------------------------- stuck
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ERROR")
DELIVERED = ("DELIVERED", "GONE")
EXECUTION_FAILURES = ("FAILED", "TIMED_OUT", "ABORTED")
# list_executions is newest first: executions started this long before the window are not read
EXECUTION_LOOKBACK_SECONDS = 86400


def duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _scan(res: Resources, since: int) -> list[dict[str, Any]]:
    """Sessions updated since ``since``, only the attributes ``stuck`` reads. A paginated scan:
    fine at on-call volumes (the table holds TTL-bounded sessions), not a dashboard."""
    table = res.table()
    kwargs: dict[str, Any] = {
        "FilterExpression": Attr("updated_at").gte(since),
        "ProjectionExpression": "#t, #s, #u, #c, #e, #cb, #p, #a.#g",
        "ExpressionAttributeNames": {"#t": "task_id", "#s": "status", "#u": "updated_at", "#c": "created_at",
                                     "#e": "error", "#cb": "callback_status", "#p": "published_at",
                                     "#a": "answer", "#g": "guide_code"},
    }
    items: list[dict[str, Any]] = []
    while True:
        page = table.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _failed_executions(res: Resources, since: float) -> dict[str, dict[str, Any]]:
    """Executions that ended FAILED / TIMED_OUT / ABORTED since ``since``, by name (task id)."""
    sfn = res.client("stepfunctions")
    found: dict[str, dict[str, Any]] = {}
    for status in EXECUTION_FAILURES:
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=res.state_machine_arn, statusFilter=status
        )
        for page in pages:
            executions = page.get("executions", [])
            for execution in executions:
                stopped = epoch(execution.get("stopDate"))
                if stopped is not None and stopped >= since:
                    found[execution["name"]] = {"status": execution["status"], "stopped": stopped}
            if executions and (epoch(executions[-1].get("startDate")) or 0) < since - EXECUTION_LOOKBACK_SECONDS:
                break
    return found


def stuck(
    res: Resources, hours: float = 6, stale_minutes: float = 30, now: float | None = None
) -> list[dict[str, Any]]:
    """Tasks updated in the last ``hours`` that ended FAILED / TIMED_OUT / ERROR, that are not
    final and have not moved for ``stale_minutes``, or whose result callback is still not
    delivered after as long; plus tasks whose execution failed, timed out or was aborted in
    the window. Newest first."""
    now = time.time() if now is None else now
    since = now - hours * 3600
    stale = stale_minutes * 60
    sessions = _sessions()
    rows: dict[str, dict[str, Any]] = {}
    for item in _scan(res, int(since)):
        status, updated = item.get("status", ""), epoch(item.get("updated_at")) or 0
        age = now - updated
        reason = None
        if status in ENDED_BADLY:
            guide = (item.get("answer") or {}).get("guide_code")
            detail = item.get("error") or (f"guide code {guide}" if guide else "")
            reason = f"ended {status}" + (f" ({detail})" if detail else "")
        elif status not in sessions.FINAL and age >= stale:
            reason = f"{status} without progress for {duration(age)}"
        elif status in sessions.FINAL and item.get("published_at") and item.get("callback_status") not in DELIVERED \
                and age >= stale:
            reason = f"{status}: callback not delivered after {duration(age)}"
        if reason:
            rows[item["task_id"]] = {"task_id": item["task_id"], "status": status, "updated_at": iso(updated),
                                     "age_seconds": int(age), "execution": None, "reasons": [reason],
                                     "_sort": updated}
    for task_id, execution in _failed_executions(res, since).items():
        row = rows.setdefault(task_id, {"task_id": task_id, "status": None, "updated_at": None,
                                        "age_seconds": int(now - execution["stopped"]), "execution": None,
                                        "reasons": [], "_sort": execution["stopped"]})
        row["execution"] = execution["status"]
        row["reasons"].append(f"execution {execution['status']} at {iso(execution['stopped'])}")
    ordered = sorted(rows.values(), key=lambda r: -r["_sort"])
    for row in ordered:
        del row["_sort"]
    return ordered


# ---------------------------------------------------------------- abort
def abort(res: Resources, task_id: str, reason: str | None = None) -> dict[str, Any]:
    """End a stuck task: its session final first (ERROR with the 103 answer, the flow's own
    conditional checkpoint; a task that answered 105 ends DEFEAT with its callback, as the
    flow ends it), then its execution stopped (error OperatorAborted, cause ``reason``).
    Raises NothingToDo when the session is final and the execution not running."""
    check_task_id(task_id)
    reason = (reason or DEFAULT_REASON).strip() or DEFAULT_REASON
    sessions = _sessions()
    actions: list[str] = []
    with res.bound():
        session = sessions.get(task_id)
        execution = _execution(res, task_id)
        if session is None and execution is None:
            raise NotFound(f"unknown task {task_id}: no session and no execution in the {res.where}")
        before = session["status"] if session else None
        after = before
        parked_token = (session or {}).get("task_token")  # removed by the ending below
        if session is not None and before not in sessions.FINAL:
            after, ours = _end_session(res, task_id, before, reason)
            if ours:
                actions.append(f"session {before} -> {after}")
            elif after in sessions.FINAL:
                actions.append(f"session was ended meanwhile by the flow ({after})")
            else:
                actions.append(f"session could not be ended (now {after})")
    stopped = False
    if execution is not None and execution["status"] == "RUNNING":
        who = _operator()
        cause = f"{reason} (by {who})" if who else reason
        try:
            res.client("stepfunctions").stop_execution(
                executionArn=execution["executionArn"], error=OPERATOR_ABORTED, cause=cause[:32768]
            )
            stopped = True
            actions.append(f"execution stopped (error {OPERATOR_ABORTED})")
            if res.local and parked_token:
                _wake_moto(res, parked_token)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                raise
    if not actions:
        raise NothingToDo(
            f"task {task_id} is already final ({before or 'no session'}) and its execution is "
            f"{execution['status'] if execution else 'gone'}: nothing to do"
        )
    execution_after = _execution(res, task_id)
    if stopped and res.local and execution_after and execution_after["status"] == "RUNNING":
        actions.append("(moto reports ABORTED once the state the execution waits in returns; AWS at once)")
    return {
        "task_id": task_id,
        "where": res.where,
        "session_before": before,
        "session_after": after,
        "execution_before": execution["status"] if execution else None,
        "execution_after": execution_after["status"] if execution_after else None,
        "execution_stopped": stopped,
        "reason": reason,
        "actions": actions,
    }


def _wake_moto(res: Resources, token: str) -> None:
    """Local only: moto's interpreter notices a stop only when the task it waits on returns
    (AWS stops at once), so return the parked token; the stopped execution then ends ABORTED
    without running another state. In AWS the token is dead once the execution stops."""
    try:
        res.client("stepfunctions").send_task_success(taskToken=token, output="{}")
    except ClientError:
        pass  # the task had returned already


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment (a container)
        return ""


def _end_session(res: Resources, task_id: str, status: str, reason: str) -> tuple[str, bool]:
    """The flow's own ending for a system failure: (the status after, whether this write did it).

    The flow's writes count metrics (EMF lines on stdout, for CloudWatch Logs in Lambda): from
    this terminal they would reach no metric and only garble the output, so they are dropped."""
    sessions = _sessions()
    with contextlib.redirect_stdout(io.StringIO()):
        if status == sessions.COLLECTING:
            # 105 was answered: the app expects a result callback, so the task ends DEFEAT and
            # CarrierAuthFinished is published, as the flow (and its reconcile function) end it
            from carrier_auth import flow

            logging.disable(logging.ERROR)  # the flow logs for CloudWatch, not for this terminal
            try:
                with res.bound(event_bus=True):
                    flow.end_with_error(task_id, OPERATOR_ABORTED)
                    current = sessions.get(task_id) or {}
            finally:
                logging.disable(logging.NOTSET)
            return current.get("status", status), current.get("status") == sessions.DEFEAT
        from carrier_auth import codes

        extra = {"error": OPERATOR_ABORTED, "abort_reason": reason[:500]}
        try:
            current = sessions.checkpoint(
                task_id, sessions.ERROR, sessions.answer(codes.SYSTEM_ERROR), extra, remove=("task_token",)
            )
            return current["status"], True
        except ClientError as exc:
            if not sessions.is_conditional_failure(exc):
                raise
    current = sessions.get(task_id) or {}  # final meanwhile (the flow got there first), or gone
    return current.get("status", status), False
