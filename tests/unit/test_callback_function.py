"""functions/callback: a batch's records are delivered in parallel within the function's budget.

Driven from an SQS event as Lambda builds it, with moto for DynamoDB, KMS, Secrets Manager and
SQS, and real HTTP endpoints on 127.0.0.1 (fast ones, ones that never answer, ones that answer
410 Gone or 503 with Retry-After)."""

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

from tests.lambda_context import LambdaContext

import carrier_auth.aws
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

        result[name] = Endpoint(_serve(Handler, servers), received, signatures)
    yield result
    release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


def _serve(handler: type[BaseHTTPRequestHandler], servers: list[ThreadingHTTPServer]) -> str:
    """Serve ``handler`` on a free loopback port (kept in ``servers`` for the teardown): its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    servers.append(server)
    return f"http://127.0.0.1:{server.server_address[1]}/cb"


@pytest.fixture
def answering() -> Iterator[Any]:
    """``answering(status, headers)``: the URL of an endpoint that answers that, at once."""
    servers = []

    def start(status: int, headers: dict[str, str] | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return _serve(Handler, servers)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def visibility_changes(env: str) -> list[dict[str, Any]]:
    """Every ChangeMessageVisibility the handler sends to SQS (its parameters), as sent."""
    sent: list[dict[str, Any]] = []
    carrier_auth.aws.client("sqs").meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibility", lambda params, **_: sent.append(dict(params))
    )
    return sent


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
    result = handler.lambda_handler(event, LambdaContext("CallbackFunction", deadline=started + 20))
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
    result = handler.lambda_handler(event, LambdaContext("CallbackFunction", deadline=started + 5))
    elapsed = time.monotonic() - started

    assert elapsed < 5 - 1, f"answered {elapsed:.1f} s into a 5 s budget"
    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [message_ids[1]]
    assert len(endpoints["fast"].received) == 1


def test_a_delivered_callback_is_recorded_on_the_session(env: str, endpoints: dict[str, Endpoint]) -> None:
    event, _ = _batch(env, [endpoints["fast"].url])
    task_id = json.loads(event["Records"][0]["body"])["detail"]["task_id"]
    result = _load_handler().lambda_handler(event, LambdaContext("CallbackFunction", deadline=time.monotonic() + 20))
    assert result["batchItemFailures"] == []
    assert sessions.get(task_id)["callback_status"] == "DELIVERED"
    raw = endpoints["fast"].received[0]
    assert json.loads(raw)["task_id"] == task_id
    assert callback.verify(SECRET, raw, endpoints["fast"].signatures[0])  # the tenant's secret signed it


def test_410_gone_ends_the_retries_and_is_recorded_on_the_session(
    env: str, answering: Any, visibility_changes: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    event, _ = _batch(env, [answering(410)])
    task_id = json.loads(event["Records"][0]["body"])["detail"]["task_id"]
    handler = _load_handler()
    counted: list[str] = []
    real_add = handler.metrics.add_metric

    def add_metric(name: str, **kwargs: Any) -> None:
        counted.append(name)
        real_add(name=name, **kwargs)

    monkeypatch.setattr(handler.metrics, "add_metric", add_metric)
    result = handler.lambda_handler(event, LambdaContext("CallbackFunction", deadline=time.monotonic() + 20))

    assert result["batchItemFailures"] == []  # not failed: SQS deletes the record
    item = sessions.get(task_id)
    assert (item["callback_status"], item["callback_http_status"]) == ("GONE", 410)
    assert visibility_changes == []  # no backoff: nothing is retried
    assert counted == ["CallbackGone"]


@pytest.mark.parametrize(
    ("status", "retry_after", "visibility"),
    [
        (503, "120", 120),  # longer than the schedule's 30 s: honoured
        (429, "7200", 7200),
        (503, "5", 30),  # shorter: the schedule wins
        (503, None, 30),
        (503, "not a delay", 30),
        (500, "120", 30),  # only 429 and 503 may ask for a wait
        (503, "86400", 6 * 3600),  # never beyond the cap
    ],
)
def test_retry_after_sets_the_next_attempts_visibility(
    env: str,
    answering: Any,
    endpoints: dict[str, Endpoint],
    visibility_changes: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    retry_after: str | None,
    visibility: int,
) -> None:
    monkeypatch.delenv("CALLBACK_RETRY_BASE_SECONDS", raising=False)  # the schedule: 30 s first
    url = answering(status, {"Retry-After": retry_after} if retry_after is not None else {})
    # with a delivered record beside it (a batch whose every record fails is an error for Powertools)
    event, message_ids = _batch(env, [url, endpoints["fast"].url])
    record = next(r for r in event["Records"] if r["messageId"] == message_ids[0])
    task_id = json.loads(record["body"])["detail"]["task_id"]
    result = _load_handler().lambda_handler(event, LambdaContext("CallbackFunction", deadline=time.monotonic() + 20))

    assert [f["itemIdentifier"] for f in result["batchItemFailures"]] == [message_ids[0]]
    assert visibility_changes == [
        {"QueueUrl": env, "ReceiptHandle": record["receiptHandle"], "VisibilityTimeout": visibility}
    ]
    assert "callback_status" not in sessions.get(task_id)
