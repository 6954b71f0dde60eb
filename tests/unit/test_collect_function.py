"""functions/collect: one collection poll per receive of a collecting task's message.

Driven from SQS events as Lambda builds them (moto SQS, real receipt handles and receive
counts), with tasks brought to 105 by the real carrier steps against the sandbox (Juxinli
answers RUNNING for the first poll of a token, then 完成). Step Functions is the one boundary
replaced: ``flow.resume`` is recorded instead of sent (the tokens belong to no execution)."""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.lambda_context import LambdaContext

from carrier_auth import codes, flow
from local.sandbox import SMS_CODE, SandboxProviders

from .conftest import REGION, sqs_event
from .test_flow import env, new_task, providers, session, step, waiting  # noqa: F401 - fixtures

ROOT = Path(__file__).parents[2]


def _load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("collect_function_app", ROOT / "functions/collect/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




@pytest.fixture
def handler(env: SandboxProviders, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[tuple]]:  # noqa: F811
    resumed: list[tuple] = []
    monkeypatch.setattr(flow, "resume", lambda token, output=None, error=None: resumed.append((token, output, error)))
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "0")  # the next poll at once: the test receives it again
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CarrierAuth")
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", "10")  # no late answers here: a busy machine must not make one
    return _load_handler(), resumed


def _collecting() -> str:
    task_id = new_task()
    waiting(task_id)
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    return task_id


def _receive(queue_url: str, count: int) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages: list[dict[str, Any]] = []
    for _ in range(20):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if len(messages) >= count:
            break
    return messages


def _queue(*bodies: str) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=f"collect-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    return url


def test_a_task_still_collecting_comes_back_for_the_next_poll_then_completes(handler) -> None:
    app, resumed = handler
    task_id = _collecting()
    url = _queue(json.dumps({"task_id": task_id, "task_token": "tok-1"}))

    first = _receive(url, 1)
    answer = app.lambda_handler(sqs_event(url, first), LambdaContext("CollectFunction"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": first[0]["MessageId"]}]}  # left on the queue
    assert resumed == []

    again = _receive(url, 1)  # visible again after the poll interval, the next receive
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert app.lambda_handler(sqs_event(url, again), LambdaContext("CollectFunction")) == {"batchItemFailures": []}
    assert resumed == [("tok-1", {"outcome": codes.CALLBACK_SUCCESS}, None)]
    assert session(task_id)["polls"] == 2


def test_records_of_a_batch_are_decided_each_on_its_own(handler, monkeypatch: pytest.MonkeyPatch) -> None:
    app, resumed = handler
    monkeypatch.setenv("MAX_COLLECT_POLLS", "1")  # the first poll is the last one
    running, gone = _collecting(), str(uuid.uuid4())
    url = _queue(
        json.dumps({"task_id": running, "task_token": "tok-running"}),
        json.dumps({"task_id": gone, "task_token": "tok-gone"}),
        "not a message of ours",
    )
    answer = app.lambda_handler(sqs_event(url, _receive(url, 3)), LambdaContext("CollectFunction"))

    assert answer == {"batchItemFailures": []}  # nothing left to poll
    assert sorted(resumed) == [
        ("tok-gone", {"outcome": codes.CALLBACK_DEFEAT}, None),  # the session expired
        ("tok-running", {"outcome": codes.CALLBACK_DEFEAT}, None),  # still running at the bound
    ]
