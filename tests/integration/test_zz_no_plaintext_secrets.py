"""After every other integration test (this file sorts last): nothing the stack stored, sent
or printed holds a plaintext password, SMS code, callback token, full id number or name."""

from __future__ import annotations

import json

import pytest

from ..leaks import leaks
from .conftest import NAME


def _scan_all(stack, log_capture) -> dict[str, str]:
    sources: dict[str, str] = {}
    for logical in stack.tables:
        items = stack.table(logical).scan()["Items"]
        sources[f"table {logical}"] = json.dumps(items, default=str, ensure_ascii=False)
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=1000)["executions"]
    assert executions, "the suite ran no executions"
    for e in executions:
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        history = sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
        sources[f"execution {e['name']}"] = json.dumps([desc, history], default=str, ensure_ascii=False)
    sqs = stack.client("sqs")
    for name, url in {**stack.queues, "audit": stack.audit_queue_url}.items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        sources[f"queue {name}"] = json.dumps(messages, ensure_ascii=False)
    sources["everything the stack printed"] = log_capture.getvalue()
    return sources


def test_no_plaintext_secret_anywhere(api, stack, log_capture):
    secrets = set(api.secrets) | {NAME}
    if len(secrets) <= 3:
        pytest.skip("scans what the rest of the integration suite left behind: run it with the suite")
    sources = _scan_all(stack, log_capture)
    assert len(sources["everything the stack printed"]) > 10_000
    audit = sources["queue audit"]
    assert "CarrierAuthFinished" in audit, "the audit queue should have seen the finished events"
    found = {where: found_here for where, text in sources.items() if (found_here := leaks(text, secrets))}
    assert found == {}


def test_the_scan_would_see_a_leak(api, stack, log_capture):
    """Guard against a scan that cannot fail: plant a secret where the scan looks."""
    import logging

    planted = "Pw-planted-secret-0001"
    logging.getLogger("carrier_auth.test").info("oops %s", planted)
    assert leaks(log_capture.getvalue(), {planted}) == [planted]
    assert leaks("task 1795404039123456 id a123456b", {"123456"}) == []
    assert leaks('{"auth_code":"123456"}', {"123456"}) == ["123456"]
    assert leaks("request 5f3ab12c-77", {"ab12"}) == []
    assert leaks('{"input": "ab12"}', {"ab12"}) == ["ab12"]
    assert leaks("GET /x?code=ab12&y", {"ab12"}) == ["ab12"]
    assert leaks("token 5caaeb81-ab12-4f00 cipher Q9/ab12+x==", {"ab12"}) == []
