"""retry.py: growing visibility delays for the callback queue and queue URLs from ARNs."""

from __future__ import annotations

import uuid

import boto3
import pytest

import carrier_auth.aws
from carrier_auth import retry

SIX_HOURS = 6 * 3600


@pytest.fixture
def default_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBACK_RETRY_BASE_SECONDS", raising=False)


@pytest.mark.usefixtures("default_base")
def test_delay_grows_30_60_120_and_caps_at_six_hours() -> None:
    delays = [retry.delay_for(n) for n in range(1, 16)]
    assert delays[:6] == [30, 60, 120, 240, 480, 960]
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert max(delays) == SIX_HOURS == retry.MAX_DELAY_SECONDS
    assert delays[-1] == SIX_HOURS
    assert retry.delay_for(10_000) == SIX_HOURS
    assert SIX_HOURS <= 43200  # SQS ChangeMessageVisibility limit (12 h)


@pytest.mark.usefixtures("default_base")
def test_first_attempt_and_below_use_the_base() -> None:
    assert retry.delay_for(0) == 30
    assert retry.delay_for(-3) == 30
    assert retry.delay_for(1) == 30


def test_base_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_RETRY_BASE_SECONDS", "2")
    assert [retry.delay_for(n) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert retry.delay_for(100) == SIX_HOURS
    monkeypatch.setenv("CALLBACK_RETRY_BASE_SECONDS", "0")
    assert retry.delay_for(5) == 0  # the local stack can retry at once


def test_blank_base_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_RETRY_BASE_SECONDS", "")
    assert retry.delay_for(1) == 30


@pytest.mark.usefixtures("default_base")
def test_retry_after_lengthens_the_delay() -> None:
    assert retry.delay_for(1, retry_after=120) == 120  # schedule 30 s
    assert retry.delay_for(3, retry_after=600) == 600  # schedule 120 s
    assert retry.delay_for(1, retry_after=120.2) == 121  # whole seconds, never shorter than asked


@pytest.mark.usefixtures("default_base")
def test_retry_after_never_shortens_the_schedule() -> None:
    assert retry.delay_for(1, retry_after=5) == 30
    assert retry.delay_for(1, retry_after=0) == 30
    assert retry.delay_for(5, retry_after=100) == 480
    assert retry.delay_for(5, retry_after=None) == 480


@pytest.mark.usefixtures("default_base")
def test_retry_after_never_goes_beyond_the_cap() -> None:
    assert retry.delay_for(1, retry_after=SIX_HOURS + 1) == SIX_HOURS
    assert retry.delay_for(1, retry_after=10 * 24 * 3600) == SIX_HOURS
    assert retry.delay_for(1, retry_after=float("inf")) == SIX_HOURS
    assert retry.delay_for(20, retry_after=60) == SIX_HOURS


def test_retry_after_with_a_zero_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_RETRY_BASE_SECONDS", "0")
    assert retry.delay_for(3, retry_after=1) == 1  # the local stack still honours the wait
    assert retry.delay_for(3) == 0


# --- queue_url ----------------------------------------------------------------------------------------


@pytest.fixture
def fresh_clients(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Clean credentials/endpoint env; the package's cached clients are dropped before and after."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    carrier_auth.aws.reset()
    yield monkeypatch
    carrier_auth.aws.reset()


def test_queue_url_from_arn_in_aws_partition(fresh_clients: pytest.MonkeyPatch) -> None:
    fresh_clients.setenv("AWS_DEFAULT_REGION", "us-east-1")
    url = retry.queue_url("arn:aws:sqs:us-east-1:123456789012:carrier-auth-callbacks")
    assert url == "https://sqs.us-east-1.amazonaws.com/123456789012/carrier-auth-callbacks"


def test_queue_url_from_arn_in_aws_cn_partition(fresh_clients: pytest.MonkeyPatch) -> None:
    fresh_clients.setenv("AWS_DEFAULT_REGION", "cn-north-1")
    url = retry.queue_url("arn:aws-cn:sqs:cn-north-1:210987654321:callbacks.fifo")
    assert url == "https://sqs.cn-north-1.amazonaws.com.cn/210987654321/callbacks.fifo"


def test_queue_url_follows_a_custom_endpoint(fresh_clients: pytest.MonkeyPatch) -> None:
    fresh_clients.setenv("AWS_DEFAULT_REGION", "us-east-1")
    fresh_clients.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5123/")
    url = retry.queue_url("arn:aws:sqs:us-east-1:123456789012:q")
    assert url == "http://127.0.0.1:5123/123456789012/q"


@pytest.mark.usefixtures("moto_aws", "default_base")
def test_queue_url_matches_sqs_and_backoff_hides_the_message() -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    name = f"callbacks-{uuid.uuid4().hex[:8]}"
    created = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=created, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert retry.queue_url(arn) == created

    sqs.send_message(QueueUrl=created, MessageBody="{}")
    msg = sqs.receive_message(QueueUrl=created, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"][0]
    retry.backoff_visibility(arn, msg["ReceiptHandle"], attempt=1)  # 30 s
    assert sqs.receive_message(QueueUrl=created, MaxNumberOfMessages=1).get("Messages", []) == []


@pytest.mark.usefixtures("moto_aws")
def test_backoff_visibility_sends_the_retry_after_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_RETRY_BASE_SECONDS", "0")
    sqs = boto3.client("sqs", region_name="us-east-1")
    created = sqs.create_queue(QueueName=f"callbacks-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=created, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent: list[int] = []
    carrier_auth.aws.client("sqs").meta.events.register(
        "before-parameter-build.sqs.ChangeMessageVisibility",
        lambda params, **_: sent.append(params["VisibilityTimeout"]),
    )
    sqs.send_message(QueueUrl=created, MessageBody="{}")
    msg = sqs.receive_message(QueueUrl=created, MaxNumberOfMessages=1, VisibilityTimeout=0)["Messages"][0]
    retry.backoff_visibility(arn, msg["ReceiptHandle"], attempt=2, retry_after=90)  # schedule 0 s
    assert sent == [90]
    assert sqs.receive_message(QueueUrl=created, MaxNumberOfMessages=1).get("Messages", []) == []  # hidden
