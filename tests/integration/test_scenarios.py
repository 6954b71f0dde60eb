"""Every sandbox scenario through the local API, the real ASL and the sandbox providers."""

from __future__ import annotations

import pytest

from local.sandbox.server import SMS_CODE


def _guide(answer: dict) -> tuple[str, str]:
    return answer["code"], answer["data"]["guide_code"]


def test_happy_flow_sms_then_105_then_signed_success_callback(api, stack):
    body, first = api.start("13800138000")
    assert _guide(first) == ("104", "90001")
    assert first["data"]["guide_message"] == "请输入短信验证码"
    task_id = first["data"]["task_id"]

    second = api.submit(body, first).json()
    assert second["code"] == "105"
    assert second["data"]["task_id"] == task_id
    assert second["trace_id"] != first["trace_id"]

    delivery = stack.receiver.wait_for(task_id)
    assert delivery is not None and delivery["signature_valid"]
    cb = delivery["body"]
    assert cb["error_code"] == "SUCCESS" and cb["success"] is True
    assert cb["error_message"] == "运营商认证成功"
    assert cb["callback_set"] == body["callback_set"]  # token echoed to the app
    assert cb["userId"] == body["userId"] and cb["task_id"] == task_id
    assert cb["event_id"] and cb["finished_at"]

    item = api.wait_session(task_id, lambda i: i.get("callback_status") == "DELIVERED")
    assert item["status"] == "SUCCESS"
    assert api.wait_execution_done(task_id)["status"] == "SUCCEEDED"
    final = api.status(task_id).json()
    assert final["code"] == "105" and final["data"]["result"] == "SUCCESS"


def test_identity_mismatch_ends_with_90026_and_no_callback(api, stack):
    _body, answer = api.start("13800138001")
    assert _guide(answer) == ("104", "90026")
    assert answer["message"] == "证件号或用户名不正确"
    task_id = answer["data"]["task_id"]
    assert api.wait_execution_done(task_id)["status"] == "SUCCEEDED"
    assert api.session(task_id)["status"] == "FAILED"
    assert stack.receiver.wait_for(task_id, timeout=0.5) is None


def test_wrong_service_password_is_90006(api):
    _body, answer = api.start("13800138002")
    assert _guide(answer) == ("104", "90006")
    assert api.wait_execution_done(answer["data"]["task_id"])["status"] == "SUCCEEDED"


def test_collection_failure_after_105_calls_back_defeat(api, stack):
    body, first = api.start("13800138003")
    assert _guide(first) == ("104", "90001")
    assert api.submit(body, first).json()["code"] == "105"
    delivery = stack.receiver.wait_for(first["data"]["task_id"])
    assert delivery["body"]["error_code"] == "DEFEAT"
    assert delivery["body"]["success"] is False
    assert delivery["body"]["error_message"] == "运营商认证失败"


def test_second_sms_code_then_success(api, stack):
    body, first = api.start("13800138004")
    second = api.submit(body, first).json()
    assert _guide(second) == ("104", "90001")
    assert "第二条" in second["data"]["guide_message"]
    third = api.submit(body, second).json()
    assert third["code"] == "105"
    assert stack.receiver.wait_for(first["data"]["task_id"])["body"]["error_code"] == "SUCCESS"


def test_other_valid_mobile_behaves_like_the_happy_number(api, stack):
    body, first = api.start("13912345678")
    assert _guide(first) == ("104", "90001")
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(first["data"]["task_id"])["body"]["error_code"] == "SUCCESS"


def test_wrong_code_is_90007_and_the_task_keeps_waiting(api, stack):
    body, first = api.start("13800138000")
    wrong = api.submit(body, first, code="000000").json()
    assert _guide(wrong) == ("104", "90007")
    assert wrong["data"]["guide_message"] == "短信验证码错误，请耐心等待下一条"
    assert api.session(first["data"]["task_id"])["status"] == "WAITING_INPUT"
    right = api.submit(body, wrong, code=SMS_CODE).json()
    assert right["code"] == "105"


def test_resend_asks_juxinli_for_a_new_code(api, stack):
    body, first = api.start("13800138000")
    seen = stack.sandbox.requests_seen("/juxinli/orgApi/rest/v2/messages/collect/req")
    again = api.resend(body, first).json()
    assert _guide(again) == ("104", "90001")
    assert again["trace_id"] != first["trace_id"]
    assert stack.sandbox.requests_seen("/juxinli/orgApi/rest/v2/messages/collect/req") == seen + 1
    assert api.submit(body, again).json()["code"] == "105"


def test_no_input_within_the_timeout_ends_with_90032(api, stack):
    with stack.function_env(INPUT_TIMEOUT_SECONDS="1"):
        body, first = api.start("13800138000")
    assert _guide(first) == ("104", "90001")
    task_id = first["data"]["task_id"]
    api.wait_session(task_id, lambda i: i["status"] == "TIMED_OUT", timeout=20)
    late = api.submit(body, first)
    assert late.status_code == 200
    assert _guide(late.json()) == ("104", "90032")
    assert _guide(api.status(task_id).json()) == ("104", "90032")
    assert api.wait_execution_done(task_id)["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "mobile,id_number,name,guide",
    [
        ("12345", "11010519491231002X", "张三", "90012"),
        ("13800138000", "110105194912310021", "张三", "90005"),
        ("13800138000", "11010519491231002X", "张3", "90004"),
    ],
)
def test_bad_identity_fields_answer_their_guide_code_without_a_task(api, stack, mobile, id_number, name, guide):
    sfn = stack.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"])
    body = api.start_body(mobile, identity_card=id_number, name=name)
    resp = api.post("/carrier/auth", body)
    assert resp.status_code == 200
    assert _guide(resp.json()) == ("104", guide)
    assert resp.json()["data"]["task_id"] == ""
    assert len(sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]) == before
