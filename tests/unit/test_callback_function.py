"""functions/callback: a batch's records are delivered in parallel within the function's budget.

Driven from an SQS event as Lambda builds it, with moto for DynamoDB, KMS, Secrets Manager and
SQS, and real HTTP endpoints on 127.0.0.1 (fast ones and ones that never answer)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from carrier_auth import callback, sessions

from .conftest import REGION, sqs_event

ROOT = Path(__file__).parents[2]
SECRET = "function-test-callback-secret"
KEY_ID = "unitkey777"


def _load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("callback_function_app", ROOT / "functions/callback/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Endpoint:
    url: str
    received: list[bytes]
    signatures: list[str]


@pytest.fixture
def endpoints() -> Iterator[dict[str, Endpoint]]:
    """``fast`` answers 200 at once; ``hang`` never answers (until the test ends)."""
    release = threading.Event()
    servers, result = [], {}
    for name in ("fast", "hang"):
        received: list[bytes] = []
        signatures: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            hang = name == "hang"
            got = received
            signed = signatures

            def log_message(self, fmt: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.got.append(raw)
                self.signed.append(self.headers.get(callback.SIGNATURE_HEADER, ""))
                if self.hang:
                    release.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        result[name] = Endpoint(f"http://127.0.0.1:{server.server_address[1]}/cb", received, signatures)
    yield result
    release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(kms_key_id: str, sessions_table: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("CALLBACK_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    prefix = f"unit-{uuid.uuid4().hex[:6]}/tenants/"
    monkeypatch.setenv("TENANT_SECRET_PREFIX", prefix)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=prefix + KEY_ID, SecretString=json.dumps({"name": "unit", "callback_secret": SECRET})
    )
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs.create_queue(QueueName=f"callbacks-{uuid.uuid4().hex[:6]}")["QueueUrl"]


@dataclass
class Context:
    timeout: float
    started: float
    function_name: str = "CallbackFunction"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:CallbackFunction"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.started + self.timeout - time.monotonic()) * 1000)


def _batch(queue_url: str, urls: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Sessions for ``urls`` and the SQS event carrying their CarrierAuthFinished events."""
    sqs = boto3.client("sqs", region_name=REGION)
    task_ids = []
    for url in urls:
        task_id = str(uuid.uuid4())
        task_ids.append(task_id)
        sessions.create({"task_id": task_id, "tenant": KEY_ID, "user_id": "u", "callback_url": url})
        detail = {"task_id": task_id, "event_id": uuid.uuid4().hex, "result": "SUCCESS", "finished_at": "t"}
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"detail": detail}))
    messages: list[dict[str, Any]] = []
    while len(messages) < len(urls):
        messages += sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    event = sqs_event(queue_url, messages)
    by_task = {json.loads(r["body"])["detail"]["task_id"]: r["messageId"] for r in event["Records"]}
    return event, [by_task[t] for t in task_ids]


def test_slow_endpoints_neither_delay_nor_resend_the_others(env: str, endpoints: dict[str, Endpoint]) -> None:
    urls = [endpoints["hang"].url, endpoints["fast"].url] * 5  # 10 records, 5 of them never answered
    event, message_ids = _batch(env, urls)
    handler = _load_handler()
    started = time.monotonic()
    result = handler.lambda_handler(event, Context(timeout=20, started=started))
    elapsed = time.monotonic() - started

    assert elapsed < 4, f"a batch lasts as long as its slowest attempt (1 s), not the sum: {elapsed:.1f} s"
    failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
    assert failed == {mid for mid, url in zip(message_ids, urls) if url == endpoints["hang"].url}
    assert len(endpoints["fast"].received) == 5
    for raw in endpoints["fast"].received:
        assert json.loads(raw)["success"] is True


def test_records_still_undecided_near_the_timeout_are_reported_failed_in_time(
    env: str, endpoints: dict[str, Endpoint], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with an attempt bound longer than the function's time left, the function answers
    before its timeout, reporting the undecided records as failures (nothing is resent)."""
    monkeypatch.setenv("CALLBACK_TIMEOUT_SECONDS", "30")
    urls = [endpoints["fast"].url, endpoints["hang"].url]
    event, message_ids = _batch(env, urls)
    handler = _load_handler()
    started = time.monotonic()
    result = handler.lambda_handler(event, Context(timeout=5, started=started))
    elapsed = time.monotonic() - started

    assert elapsed < 5 - 1, f"answered {elapsed:.1f} s into a 5 s budget"
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [message_ids[1]]
    assert len(endpoints["fast"].received) == 1


def test_a_delivered_callback_is_recorded_on_the_session(env: str, endpoints: dict[str, Endpoint]) -> None:
    event, _ = _batch(env, [endpoints["fast"].url])
    task_id = json.loads(event["Records"][0]["body"])["detail"]["task_id"]
    result = _load_handler().lambda_handler(event, Context(timeout=20, started=time.monotonic()))
    assert result["batchItemFailures"] == []
    assert sessions.get(task_id)["callback_status"] == "DELIVERED"
    raw = endpoints["fast"].received[0]
    assert json.loads(raw)["task_id"] == task_id
    assert callback.verify(SECRET, raw, endpoints["fast"].signatures[0])  # the tenant's secret signed it
