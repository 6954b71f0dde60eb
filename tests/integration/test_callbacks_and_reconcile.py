"""Callback retries and the dead-letter queue; executions that end outside the flow."""

from __future__ import annotations

import json
import time

APPLICATION = "/juxinli/orgApi/rest/v2/applications"


def _queue_messages(stack, logical: str) -> list[dict]:
    sqs = stack.client("sqs")
    url = stack.queues[logical]
    resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"])
    return resp.get("Messages", [])


def _retry_at_once(stack):
    """Failed callbacks come back without the growing delay (the callback function's knob)."""
    return stack.function_env(functions=["CallbackFunction"], CALLBACK_RETRY_BASE_SECONDS="0")


def test_failed_callbacks_are_retried_until_delivered(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    stack.receiver.fail_next(status=503, count=2, task_id=task_id)
    with _retry_at_once(stack):
        assert api.submit(body, first).json()["code"] == "105"
        delivered = stack.receiver.wait_for(task_id, timeout=30)
    assert delivered is not None and delivered["signature_valid"]
    attempts = [r for r in stack.receiver.received if r["body"].get("task_id") == task_id]
    assert [r["answered"] for r in attempts] == [503, 503, 200]
    assert len({r["body"]["event_id"] for r in attempts}) == 1  # the app can deduplicate


def test_undeliverable_callbacks_end_in_the_dead_letter_queue(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    stack.receiver.fail_next(status=500, count=12, task_id=task_id)  # maxReceiveCount
    with _retry_at_once(stack):
        assert api.submit(body, first).json()["code"] == "105"
        deadline = time.monotonic() + 60
        parked = []
        while not parked:
            assert time.monotonic() < deadline, "callback never reached the DLQ"
            parked = [m for m in _queue_messages(stack, "CallbackDeadLetterQueue")
                      if json.loads(m["Body"])["detail"]["task_id"] == task_id]
            time.sleep(0.1)
    attempts = [r for r in stack.receiver.received if r["body"].get("task_id") == task_id]
    assert len(attempts) == 12 and all(r["answered"] == 500 for r in attempts)
    assert api.session(task_id).get("callback_status") != "DELIVERED"
    # drain the DLQ so later tests and the leak scan see a clean queue
    stack.client("sqs").delete_message(QueueUrl=stack.queues["CallbackDeadLetterQueue"], ReceiptHandle=parked[0]["ReceiptHandle"])


def test_provider_down_at_login_is_retried_then_answers_90035(api, stack):
    before = stack.sandbox.requests_seen(APPLICATION)
    stack.sandbox.fail_next(APPLICATION, status=503, count=3)  # ASL Retry: 1 try + 2 retries
    with stack.function_env(CARRIER_PROVIDER_FALLBACK=""):  # no provider to fail over to
        _body, first = api.start("13800138000")
        assert (first["code"], first["data"]["guide_code"]) == ("104", "90035")
        task_id = first["data"]["task_id"]
        assert stack.sandbox.requests_seen(APPLICATION) == before + 3
        assert api.wait_execution_done(task_id)["status"] == "SUCCEEDED"
    assert api.session(task_id)["status"] == "FAILED"


def test_a_protocol_answer_with_no_meaning_ends_with_103(api, stack):
    # (an answer that is not the protocol at all is an unavailable provider: test_upstream_faults.py)
    stack.sandbox.respond_next(APPLICATION, {"success": False, "message": "机构不存在"}, status=200, count=1)
    _body, first = api.start("13800138000")
    assert first["code"] == "103"
    task_id = first["data"]["task_id"]
    assert api.wait_execution_done(task_id)["status"] == "FAILED"
    assert api.session(task_id)["status"] == "ERROR"


def _break_the_failure_step(stack):
    """Make the machine's own SystemError step fail, so only reconcile can close the task."""
    return stack.registry.get("SystemErrorFunction").fail_invocations(
        match={}, error_type="RuntimeError", message="failure step unavailable"
    )


def test_failed_execution_before_105_is_reconciled_to_103(api, stack):
    reconciled = stack.registry.invocations.get("ReconcileFunction", 0)
    stack.sandbox.respond_next(APPLICATION, {"success": False, "message": "机构不存在"}, count=1)  # -> SystemError
    with _break_the_failure_step(stack):
        _body, first = api.start("13800138000")
        task_id = first["data"]["task_id"]
        assert api.wait_execution_done(task_id)["status"] == "FAILED"
    item = api.wait_session(task_id, lambda i: i["status"] == "ERROR")
    assert item["answer"]["code"] == "103"
    assert stack.registry.invocations["ReconcileFunction"] > reconciled
    assert api.status(task_id).json()["code"] == "103"
    assert stack.receiver.wait_for(task_id, timeout=0.5) is None  # no callback before 105


def test_failed_execution_after_105_is_reconciled_to_a_defeat_callback(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    # the poll is refused for good (a definite ProviderError, not a retryable one)
    stack.sandbox.respond_next("/juxinli/api", {"success": False, "message": "client_secret错误"}, count=1)
    with _break_the_failure_step(stack):
        assert api.submit(body, first).json()["code"] == "105"
        assert api.wait_execution_done(task_id)["status"] == "FAILED"
    delivery = stack.receiver.wait_for(task_id, timeout=30)
    assert delivery["body"]["error_code"] == "DEFEAT"
    assert delivery["body"]["error_message"] == "系统错误"
    assert api.session(task_id)["status"] == "DEFEAT"
    assert api.execution(task_id)["status"] == "FAILED"
