"""Tenants through the local API: each app's API key sees only its own tasks, its callbacks are
signed with its own secret, and a mismatch never tells which field was wrong."""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import Api


@pytest.fixture(scope="module")
def api2(stack) -> Api:
    return Api(stack, api_key=stack.tenants[1].api_key)


def _comparable(answer: dict) -> dict:
    """An answer without what differs between any two calls (fresh ids, time)."""
    return {**answer, "trace_id": "", "date_stamp": "", "data": {**answer["data"], "task_id": ""}}


def test_another_tenants_task_does_not_exist(api, api2):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    unknown = str(uuid.uuid4())

    theirs, nobodys = api2.status(task_id), api2.status(unknown)
    assert theirs.status_code == nobodys.status_code == 404
    assert _comparable(theirs.json()) == _comparable(nobodys.json())

    # submit and resend with the owner's full, correct body: still 404, and nothing happened
    for call in (api2.submit, api2.resend):
        answer = call(body, first)
        assert answer.status_code == 404, answer.text
        assert answer.json()["message"] == nobodys.json()["message"]
    assert api.session(task_id)["status"] == "WAITING_INPUT"
    assert api.submit(body, first).json()["code"] == "105"  # the owner's trace_id is still valid


def test_the_tenant_comes_from_the_api_key_not_the_body(api, api2):
    body, first = api.start("13800138000", tenant=api2.stack.tenants[1].api_key_id, apiKeyId="x")
    task_id = first["data"]["task_id"]
    assert api.session(task_id)["tenant"] == api.stack.tenants[0].api_key_id
    assert api2.status(task_id).status_code == 404


def test_a_mismatched_identity_is_refused_without_naming_the_field(api):
    body, first = api.start("13800138000")
    for over in ({"mobile_no": "13900001111"}, {"identity_card": "110105194912310037"}, {"userId": "someone-else"}):
        answer = api.submit(body, first, **over)
        assert answer.status_code == 403, answer.text
        out = answer.json()
        assert out["code"] == "103" and out["message"] == "请求信息与任务不一致"
        assert not any(name in answer.text for name in ("mobile_no", "identity_card", "userId"))
    assert api.submit(body, first).json()["code"] == "105"


def test_each_tenants_callback_is_signed_with_its_own_secret(api, api2, stack):
    done = {}
    for client, tenant in ((api, stack.tenants[0]), (api2, stack.tenants[1])):
        body, first = client.start("13800138000")
        assert client.submit(body, first).json()["code"] == "105"
        done[first["data"]["task_id"]] = tenant
    for task_id, tenant in done.items():
        got = stack.receiver.wait_for(task_id)
        assert got is not None, f"no callback for {task_id}"
        assert got["signature_valid"] and got["tenant"] == tenant.api_key_id


def test_a_tenant_callback_host_allowlist_is_enforced_at_start(api2, stack):
    tenant = stack.tenants[1]
    secrets = stack.client("secretsmanager")
    name = stack.resolver.parameters["TenantSecretPrefix"] + tenant.api_key_id
    original = secrets.get_secret_value(SecretId=name)["SecretString"]
    strict = {**json.loads(original), "callback_hosts": ["cb.example.com"]}
    secrets.put_secret_value(SecretId=name, SecretString=json.dumps(strict))
    try:
        # fresh environments read the new configuration (deployed: within the 5-minute cache)
        with stack.function_env(functions=["StartFunction"], TENANT_CONFIG_GENERATION="2"):
            answer = api2.post("/carrier/auth", api2.start_body("13800138000"))
            assert answer.status_code == 400, answer.text
            assert "callback_set.callback_url" in answer.json()["message"]
    finally:
        secrets.put_secret_value(SecretId=name, SecretString=original)
