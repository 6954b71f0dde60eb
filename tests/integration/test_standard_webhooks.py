"""Standard Webhooks on the embedded stack: every callback verifies with the reference library
(and with X-CarrierAuth-Signature); a 410 Gone ends the retries; a 503's Retry-After is
honoured and the callback is still delivered."""

from __future__ import annotations

import json
import re
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from carrier_auth import callback

from .test_callbacks_and_reconcile import _queue_messages, _retry_at_once


def _attempts(stack, task_id: str) -> list[dict]:
    return [r for r in stack.receiver.received if r["body"].get("task_id") == task_id]


def _queue_is_empty(stack, logical: str) -> bool:
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queues[logical],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return not any(int(v) for v in attrs.values())


def test_a_delivered_callback_verifies_with_the_standard_webhooks_library(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    assert api.submit(body, first).json()["code"] == "105"
    delivered = stack.receiver.wait_for(task_id, timeout=30)
    assert delivered is not None
    assert delivered["signature_valid"] and delivered["standard_signature_valid"]

    raw, headers = delivered["raw"], delivered["headers"]
    secret = stack.tenants[0].callback_secret
    verified = Webhook(callback.standard_secret(secret)).verify(raw, headers)
    assert verified["task_id"] == task_id and verified["success"] is True
    assert callback.verify(secret, raw, headers[callback.SIGNATURE_HEADER.lower()])  # Stripe style
    assert headers["webhook-id"] == delivered["body"]["event_id"] == headers["x-carrierauth-event-id"]
    stamp = re.match(r"^t=(\d+),v1=", headers[callback.SIGNATURE_HEADER.lower()])
    assert stamp and headers["webhook-timestamp"] == stamp[1]  # one timestamp, both signatures
    with pytest.raises(WebhookVerificationError):  # the other tenant's secret does not verify it
        Webhook(callback.standard_secret(stack.tenants[1].callback_secret)).verify(raw, headers)
    item = api.wait_session(task_id, lambda i: i.get("callback_status") == "DELIVERED")
    assert item["callback_http_status"] == 200


def test_410_gone_stops_the_retries(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    stack.receiver.fail_next(status=410, count=1, task_id=task_id)
    with _retry_at_once(stack):  # a wrongly retried callback would come back at once
        assert api.submit(body, first).json()["code"] == "105"
        item = api.wait_session(task_id, lambda i: i.get("callback_status") == "GONE")
        assert item["callback_http_status"] == 410
        deadline = time.monotonic() + 30
        while not _queue_is_empty(stack, "CallbackQueue"):  # the record was deleted, not failed
            assert time.monotonic() < deadline, "the callback queue still holds the message"
            time.sleep(0.05)
    assert not [m for m in _queue_messages(stack, "CallbackDeadLetterQueue")
                if json.loads(m["Body"])["detail"]["task_id"] == task_id]
    attempts = _attempts(stack, task_id)
    assert [r["answered"] for r in attempts] == [410]
    assert attempts[0]["standard_signature_valid"] and attempts[0]["signature_valid"]
    assert api.session(task_id)["callback_status"] == "GONE"


def test_503_with_retry_after_is_retried_after_that_wait_and_delivered(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    stack.receiver.fail_next(status=503, count=1, task_id=task_id, headers={"Retry-After": "1"})
    with _retry_at_once(stack):  # schedule 0 s: only Retry-After makes the retry wait
        assert api.submit(body, first).json()["code"] == "105"
        refused = stack.receiver.wait_for(task_id, timeout=30, answered=503)
        assert refused is not None
        refused_at = time.monotonic()
        delivered = stack.receiver.wait_for(task_id, timeout=30)
        retried_after = time.monotonic() - refused_at
    assert delivered is not None and delivered["standard_signature_valid"]
    assert retried_after >= 0.8, f"retried {retried_after:.2f} s after a Retry-After of 1 s"
    attempts = _attempts(stack, task_id)
    assert [r["answered"] for r in attempts] == [503, 200]
    assert len({r["headers"]["webhook-id"] for r in attempts}) == 1  # the same message, retried
    secret = stack.tenants[0].callback_secret
    for attempt in attempts:
        Webhook(callback.standard_secret(secret)).verify(attempt["raw"], attempt["headers"])
    api.wait_session(task_id, lambda i: i.get("callback_status") == "DELIVERED")
