"""Callbacks within the function's budget, on the local runtime that enforces the template's
Timeout: a batch with slow app endpoints neither times the function out nor delays or resends
the other tasks' callbacks."""

from __future__ import annotations

import json
import time
from typing import Any

from local.template import REGION

SLOW_SECONDS = 60  # far past the callback function's 20 s Timeout


def _finished(api, stack, n: int) -> list[str]:
    """``n`` tasks that finished and whose callback was delivered once already."""
    task_ids = []
    for _ in range(n):
        body, first = api.start("13800138000")
        assert api.submit(body, first).json()["code"] == "105"
        task_ids.append(first["data"]["task_id"])
    for task_id in task_ids:
        assert stack.receiver.wait_for(task_id) is not None
    return task_ids


def _batch(stack, task_ids: list[str]) -> dict[str, Any]:
    """The SQS event Lambda would build for these tasks' CarrierAuthFinished events, from a
    scratch queue (real receipt handles, so failed records can be backed off)."""
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=f"callback-budget-{int(time.time() * 1000)}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for task_id in task_ids:
        item = stack.table().get_item(Key={"task_id": task_id}, ConsistentRead=True)["Item"]
        detail = {"task_id": task_id, "event_id": item["event_id"], "result": item["status"],
                  "error_message": item["result_message"], "finished_at": item["finished_at"]}
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail": detail}))
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(messages) < len(task_ids):
        assert time.monotonic() < deadline, "the scratch queue did not return every message"
        messages += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    return {"Records": [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
         "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
         "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION}
        for m in messages
    ]}


def test_slow_endpoints_in_a_batch_fail_alone_within_the_timeout(api, stack):
    task_ids = _finished(api, stack, 6)
    slow, fast = task_ids[:3], task_ids[3:]
    for task_id in slow:
        stack.receiver.delay_next(SLOW_SECONDS, task_id=task_id)
    event = _batch(stack, task_ids)
    by_message = {r["messageId"]: json.loads(r["body"])["detail"]["task_id"] for r in event["Records"]}
    seen = len(stack.receiver.received)

    started = time.monotonic()
    result = stack.registry.invoke("CallbackFunction", event)  # the template's 20 s Timeout applies
    elapsed = time.monotonic() - started

    # bounded by one attempt (CallbackTimeoutSeconds, 5 s), not by the slow endpoints or the sum
    assert elapsed < 12, f"the batch took {elapsed:.1f} s"
    assert sorted(by_message[f["itemIdentifier"]] for f in result["batchItemFailures"]) == sorted(slow)
    again = stack.receiver.received[seen:]
    for task_id in fast:  # delivered once more by this batch, answered at once
        assert sum(1 for r in again if r["body"]["task_id"] == task_id and r["answered"] == 200) == 1
