"""The result callbacks' queues: what they hold for a task, and redriving the dead-letter queue.

Undelivered callbacks (12 failed attempts) wait in CallbackDeadLetterQueue; once the app's
endpoint works again, ``redrive`` moves them back to CallbackQueue, whose consumer (the callback
function) delivers them as new. In AWS that is an SQS message move task; the embedded stack's
moto has none, so there (or where AWS answers that it cannot) the messages are received, sent
to the callback queue with their original body and deleted from the DLQ, ten at a time.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from botocore.exceptions import ClientError

from . import NothingToDo, OpsError
from .resources import Resources

# a queue is peeked only this small: each receive shows at most 10 messages
PEEK_LIMIT = 100
MOVE_STATUS_SECONDS = 60.0  # how long to follow a message move task before reporting it running
MANUAL_MOVE_SECONDS = 300.0
# SQS answers for "no message move tasks here"
UNSUPPORTED = {"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction",
               "NotImplemented", "InternalFailure", "500"}


def _counts(res: Resources, url: str) -> tuple[int, int, int]:
    attrs = res.client("sqs").get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return (int(attrs.get("ApproximateNumberOfMessages", 0)),
            int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
            int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)))


def _task_of(body: str) -> str | None:
    """The task id a callback message is about (a CarrierAuthFinished event)."""
    try:
        detail = json.loads(body).get("detail") or {}
    except (ValueError, AttributeError):
        return None
    return detail.get("task_id") if isinstance(detail, dict) else None


def queue_state(res: Resources, url: str, task_id: str, peek: bool) -> dict[str, Any]:
    """How many messages ``url`` holds and whether one is ``task_id``'s: ``holds_task`` is
    True / False, or None with ``note`` saying why it was not checked. ``peek`` receives with
    VisibilityTimeout=0 (nothing hidden from the consumer) when the queue is small; every
    receive counts toward a message's maxReceiveCount, so never peek a queue with a redrive
    policy."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    visible, in_flight, delayed = _counts(res, url)
    state: dict[str, Any] = {"queue": name, "visible": visible, "in_flight": in_flight, "delayed": delayed}
    if visible + in_flight + delayed == 0:
        return {**state, "holds_task": False}
    if not peek:
        return {**state, "holds_task": None,
                "note": "not checked (a receive would count toward the redrive to the DLQ)"}
    if visible > PEEK_LIMIT:
        return {**state, "holds_task": None, "note": f"not checked (more than {PEEK_LIMIT} messages)"}
    sqs = res.client("sqs")
    seen: set[str] = set()
    for _ in range(math.ceil(visible / 10) + 2):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                       WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            seen.add(message["MessageId"])
            if _task_of(message["Body"]) == task_id:
                return {**state, "holds_task": True}
        if len(seen) >= visible:
            break
    if len(seen) >= visible and not in_flight and not delayed:
        return {**state, "holds_task": False}
    return {**state, "holds_task": None, "note": f"not found among the {len(seen)} messages seen"}


def redrive(res: Resources, dry_run: bool = False) -> dict[str, Any]:
    """Move the callback DLQ's messages back to the callback queue; the report says how many."""
    visible, in_flight, _ = _counts(res, res.callback_dlq_url)
    source, destination = _name(res.callback_dlq_url), _name(res.callback_queue_url)
    report: dict[str, Any] = {"where": res.where, "from": source, "to": destination, "messages": visible,
                              "in_flight": in_flight, "dry_run": dry_run}
    if visible == 0:
        note = f" ({in_flight} in flight: received by someone right now, try again shortly)" if in_flight else ""
        raise NothingToDo(f"the callback dead-letter queue {source} is empty{note}: nothing to redrive")
    if dry_run:
        return {**report, "method": None, "moved": 0}
    if not res.local:  # moto has no message move tasks
        try:
            return {**report, **_move_task(res)}
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in UNSUPPORTED:
                raise
            report["note"] = f"no message move task ({code}): moved by receive / send / delete"
    return {**report, **_move_by_hand(res, visible)}


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _arn(res: Resources, url: str) -> str:
    return res.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _move_task(res: Resources) -> dict[str, Any]:
    """An SQS message move task, followed until it ends (or for MOVE_STATUS_SECONDS)."""
    sqs = res.client("sqs")
    source = _arn(res, res.callback_dlq_url)
    destination = _arn(res, res.callback_queue_url)
    handle = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)["TaskHandle"]
    deadline = time.monotonic() + MOVE_STATUS_SECONDS
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1).get("Results", [])
        task = next((t for t in tasks if t.get("TaskHandle") in (handle, None)), tasks[0] if tasks else {})
        status = task.get("Status", "RUNNING")
        if status != "RUNNING" or time.monotonic() >= deadline:
            return {"method": "message move task", "task_handle": handle, "status": status,
                    "moved": int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                    **({"failure": task["FailureReason"]} if task.get("FailureReason") else {})}
        time.sleep(2)


def _attributes(message: dict[str, Any]) -> dict[str, Any]:
    """A received message's own attributes, as send_message takes them."""
    out = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        out[name] = {k: v for k, v in value.items() if v not in ([], None)}
    return out


def _move_by_hand(res: Resources, expected: int) -> dict[str, Any]:
    """Receive up to ``expected`` messages from the DLQ, send each body (and attributes) to the
    callback queue, delete what was sent. A message that could not be sent stays in the DLQ
    (visible again after its visibility timeout)."""
    sqs = res.client("sqs")
    moved, failed, empty = 0, [], 0
    deadline = time.monotonic() + MANUAL_MOVE_SECONDS
    while moved + len(failed) < expected and time.monotonic() < deadline and empty < 3:
        messages = sqs.receive_message(
            QueueUrl=res.callback_dlq_url, MaxNumberOfMessages=min(10, expected - moved - len(failed)),
            VisibilityTimeout=60, WaitTimeSeconds=0 if res.local else 1, MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            empty += 1
            continue
        entries = [{"Id": str(i), "MessageBody": m["Body"],
                    **({"MessageAttributes": a} if (a := _attributes(m)) else {})} for i, m in enumerate(messages)]
        sent = sqs.send_message_batch(QueueUrl=res.callback_queue_url, Entries=entries)
        done = [int(s["Id"]) for s in sent.get("Successful", [])]
        failed += [f"{f.get('Code')}: {f.get('Message')}" for f in sent.get("Failed", [])]
        if done:
            sqs.delete_message_batch(
                QueueUrl=res.callback_dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": messages[i]["ReceiptHandle"]} for i in done],
            )
        moved += len(done)
    if failed and not moved:
        raise OpsError(f"no message could be sent to {_name(res.callback_queue_url)}: {failed[0]}")
    return {"method": "receive / send / delete", "moved": moved, "failed": failed}
