"""tenants.py: a tenant's configuration comes from its own secret, keyed by the API key id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from carrier_auth import tenants

from .conftest import REGION


@pytest.fixture
def prefix(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"unit-{uuid.uuid4().hex[:8]}/tenants/"
    monkeypatch.setenv("TENANT_SECRET_PREFIX", value)
    return value


def _put(name: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value)
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=name, SecretString=text)


def test_a_tenant_is_read_from_its_secret(prefix: str) -> None:
    _put(f"{prefix}abc123defg", {"name": "loan-app", "callback_secret": "s1", "callback_hosts": ["CB.example.com."]})
    tenant = tenants.get("abc123defg")
    assert tenant == tenants.Tenant("abc123defg", "loan-app", ("s1",), ("cb.example.com",), display_name="loan-app")


def test_the_previous_secret_signs_too_during_a_rotation(prefix: str) -> None:
    _put(f"{prefix}rot0000001", {"callback_secret": "new", "callback_secret_previous": "old"})
    assert tenants.get("rot0000001").callback_secrets == ("new", "old")


@pytest.mark.parametrize(
    "value",
    ["not json", [], {"name": "x"}, {"callback_secret": ""}, {"callback_secret": "s", "callback_hosts": "a.com"}],
)
def test_an_unusable_configuration_is_an_unknown_tenant(prefix: str, value: Any) -> None:
    key = uuid.uuid4().hex[:10]
    _put(f"{prefix}{key}", value)
    with pytest.raises(tenants.UnknownTenant):
        tenants.get(key)


def test_an_api_key_without_a_secret_is_an_unknown_tenant(prefix: str) -> None:
    with pytest.raises(tenants.UnknownTenant):
        tenants.get("nosuchkey1")
    with pytest.raises(tenants.UnknownTenant):
        tenants.get("")


def test_the_key_id_comes_from_the_request_context_only() -> None:
    event = {"requestContext": {"identity": {"apiKeyId": "k1", "apiKey": "secret-value"}}, "body": '{"tenant": "k2"}'}
    assert tenants.key_id_of(event) == "k1"
    assert tenants.key_id_of({"body": "{}"}) == ""
