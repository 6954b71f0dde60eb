"""Shared fixtures for the unit tests of layers/common/carrier_auth (moto-backed AWS).

Nothing here is autouse: other unit test files in this folder are unaffected unless they ask
for a fixture by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

import carrier_auth.aws
from local.sandbox.server import SandboxProviders

REGION = "us-east-1"


def _reset_caches() -> None:
    carrier_auth.aws.reset()  # cached boto3 clients / tables
    parameters.clear_caches()  # Powertools secret values and providers (with their clients)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a fixed region; nothing may leak to a real endpoint or profile."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture
def moto_aws(aws_env: None) -> Iterator[None]:
    """moto for every AWS service, with the package's and Powertools' caches reset around it."""
    with mock_aws():
        _reset_caches()
        try:
            yield
        finally:
            _reset_caches()


@pytest.fixture
def kms_key_id(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    key_id = boto3.client("kms", region_name=REGION).create_key(Description="unit-test")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("KMS_KEY_ID", key_id)
    return key_id


def _make_secret(value: str) -> str:
    resp = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=f"unit-test/{uuid.uuid4().hex}", SecretString=value
    )
    return resp["ARN"]


@pytest.fixture
def make_secret(moto_aws: None) -> Callable[[str], str]:
    """Creates a Secrets Manager secret (inside moto) with a unique name; returns its ARN."""
    return _make_secret


@pytest.fixture
def pii_hash_secret(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    arn = _make_secret(f"pii-hash-key-{uuid.uuid4().hex}")
    monkeypatch.setenv("PII_HASH_KEY_SECRET", arn)
    return arn


@pytest.fixture
def sessions_table(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """The sessions table, created from template.yaml's own SessionsTable properties."""
    from local.template import load_template

    props = load_template()["Resources"]["SessionsTable"]["Properties"]
    name = f"sessions-{uuid.uuid4().hex[:8]}"
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    monkeypatch.setenv("SESSIONS_TABLE", name)
    return name


@pytest.fixture
def atomic_moto_dynamodb() -> None:
    """Make moto's in-process conditional writes atomic, as they are in DynamoDB (moto applies
    them without a lock: 2-3 of 8 concurrent claims won). The embedded stack installs the
    same lock, so the test checks *our* use of conditional updates, not moto's thread safety."""
    from local.runtime import serialise_moto_dynamodb

    serialise_moto_dynamodb()


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[SandboxProviders]:
    """The sandbox providers with their default credentials (org SANDBOX), one per module."""
    providers = SandboxProviders().start()
    yield providers
    providers.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxProviders) -> Iterator[SandboxProviders]:
    yield sandbox_server
    sandbox_server.clear_faults()


def sqs_event(queue_url: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS event source builds for ``messages`` received from ``queue_url``
    (real receipt handles and receive counts, so handlers can change their visibility)."""
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }

