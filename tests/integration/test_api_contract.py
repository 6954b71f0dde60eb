"""Refusals: shape errors, unknown tasks, the API key, the SSRF guard, identity binding."""

from __future__ import annotations

import json

import pytest
import requests


@pytest.mark.parametrize("field", ["userId", "mobile_no", "identity_card", "name", "password", "submitTime", "callback_set"])
def test_missing_field_is_400_code_103_naming_the_field(api, field):
    body = api.start_body("13800138000")
    body.pop(field)
    resp = api.post("/carrier/auth", body)
    assert resp.status_code == 400
    out = resp.json()
    assert out["code"] == "103"
    assert field in out["message"]
    assert set(out) == {"code", "message", "trace_id", "date_stamp", "data"}


def test_non_json_body_is_400(api):
    resp = api.post("/carrier/auth", "not json{")
    assert resp.status_code == 400
    assert resp.json()["code"] == "103"
    assert "JSON" in resp.json()["message"]


def test_missing_auth_code_on_submit_names_it(api):
    body, first = api.start("13800138000")
    payload = api.task_body(body, first)
    resp = api.post("/carrier/auth/code", payload)
    assert resp.status_code == 400 and "auth_code" in resp.json()["message"]


def test_unknown_task_is_404(api):
    resp = api.status("no-such-task")
    assert resp.status_code == 404
    assert resp.json()["code"] == "103"


def test_api_key_is_required(api, stack):
    resp = requests.post(stack.api_url + "/carrier/auth", json=api.start_body("13800138000"), timeout=10)
    assert resp.status_code == 403
    resp = requests.get(stack.api_url + "/carrier/auth/x", headers={"x-api-key": "wrong"}, timeout=10)
    assert resp.status_code == 403


@pytest.mark.parametrize("url", ["http://10.0.0.8/cb", "http://169.254.169.254/latest", "ftp://example.com/cb", "http://[::1]:80/cb"])
def test_unsafe_callback_url_is_refused_before_a_task_starts(api, stack, url):
    sfn = stack.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"])
    body = api.start_body("13800138000", callback_set={"callback_url": url, "token": "t"})
    resp = api.post("/carrier/auth", body)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("callback_set.callback_url 不可用")
    assert len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == before


def test_callback_set_may_come_as_a_json_string(api):
    body = api.start_body("13800138000")
    body["callback_set"] = json.dumps(body["callback_set"])
    resp = api.post("/carrier/auth", body)
    assert resp.status_code == 200 and resp.json()["data"]["guide_code"] == "90001"


@pytest.mark.parametrize(
    "override,field",
    [({"mobile_no": "13800138009"}, "mobile_no"), ({"identity_card": "110101199003070011"}, "identity_card"), ({"userId": "intruder"}, "userId")],
)
def test_submit_for_another_person_is_refused(api, override, field):
    body, first = api.start("13800138000")
    for send in (api.submit, api.resend):
        resp = send(body, first, **override)
        assert resp.status_code == 403
        assert resp.json()["message"] == "请求信息与任务不一致"
        assert field not in resp.text  # a guessed value cannot be confirmed field by field
    assert api.session(first["data"]["task_id"])["status"] == "WAITING_INPUT"
    assert api.submit(body, first).json()["code"] == "105"


def test_status_answers_the_current_checkpoint_with_its_trace_id(api):
    body, first = api.start("13800138000")
    current = api.status(first["data"]["task_id"]).json()
    assert current["code"] == "104" and current["data"]["guide_code"] == "90001"
    assert current["trace_id"] == first["trace_id"]
