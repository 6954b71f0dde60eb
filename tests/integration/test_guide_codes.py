"""Every guide code of seed 000 (and the two extensions) from the upstream condition that
really causes it, through the local API, the real ASL and the sandbox providers."""

from __future__ import annotations

import base64

import pytest


def _guide(answer: dict) -> str:
    return answer["data"]["guide_code"]


@pytest.fixture
def moxie(stack):
    """Make Moxie the primary carrier provider, as a deployment with CarrierProvider=moxie has it."""
    with stack.function_env(CARRIER_PROVIDER="moxie", CARRIER_PROVIDER_FALLBACK="juxinli"):
        yield


# ---------------------------------------------------------------- the task ends at login
ENDS_AT_LOGIN = [
    ("13800138005", "90009"),
    ("13800138009", "90035"),  # Juxinli busy -> retries -> failover to Moxie, also down -> 90035
    ("13800138010", "90029"),
    ("13800138013", "90021"),
    ("13800138016", "90020"),
    ("13800138017", "90022"),
    ("13800138018", "90023"),
    ("13800138019", "90024"),
    ("13800138020", "90025"),
    ("13800138021", "90027"),
    ("13800138022", "90031"),
    ("13800138023", "90033"),
    ("13800138024", "90034"),
]


@pytest.mark.parametrize("mobile,guide", ENDS_AT_LOGIN)
def test_juxinli_conditions_at_login(api, mobile, guide):
    _body, answer = api.start(mobile)
    assert (answer["code"], _guide(answer)) == ("104", guide), answer
    assert answer["data"]["guide_message"]
    task_id = answer["data"]["task_id"]
    assert api.wait_execution_done(task_id)["status"] == "SUCCEEDED"
    assert api.session(task_id)["status"] == "FAILED"


MOXIE_ENDS_AT_LOGIN = [
    ("13800138002", "90006"),
    ("13800138005", "90009"),
    ("13800138010", "90029"),
    ("13800138013", "90021"),
    ("13800138016", "90020"),
    ("13800138017", "90022"),
    ("13800138018", "90023"),
    ("13800138019", "90024"),
    ("13800138020", "90025"),
    ("13800138021", "90027"),
    ("13800138022", "90031"),
    ("13800138023", "90033"),
    ("13800138024", "90034"),
    ("13800138025", "90035"),
]


@pytest.mark.parametrize("mobile,guide", MOXIE_ENDS_AT_LOGIN)
def test_moxie_conditions_at_login(api, moxie, mobile, guide):
    _body, answer = api.start(mobile)
    assert (answer["code"], _guide(answer)) == ("104", guide), answer
    assert api.session(answer["data"]["task_id"])["provider"] == "moxie"


def test_unknown_upstream_answer_is_103_with_the_raw_text_kept(api):
    _body, answer = api.start("13800138011")
    assert answer["code"] == "103" and _guide(answer) == ""
    item = api.session(answer["data"]["task_id"])
    assert item["status"] == "ERROR"
    assert item["upstream"] == {"code": "0", "message": "未知状态"}


# ---------------------------------------------------------------- prompts on the way
def test_expired_code_resent_then_success(api):
    body, first = api.start("13800138006")
    assert _guide(first) == "90001" and "过期" in first["data"]["guide_message"]
    assert api.submit(body, first).json()["code"] == "105"


def test_cxxd_instruction_reaches_the_app(api):
    body, first = api.start("13800138007")
    assert _guide(first) == "90001" and "CXXD" in first["data"]["guide_message"]
    assert api.submit(body, first).json()["code"] == "105"


def test_query_password_extension_codes(api):
    body, first = api.start("13800138008")
    assert _guide(first) == "90036"
    wrong = api.submit(body, first, code="000001").json()
    assert _guide(wrong) == "90037"
    sms = api.submit(body, wrong, code="654321").json()
    assert _guide(sms) == "90001"
    assert api.submit(body, sms).json()["code"] == "105"


def test_next_datasource_is_collected_too(api, stack):
    body, first = api.start("13800138012")
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(first["data"]["task_id"])["body"]["error_code"] == "SUCCESS"


def test_code_expired_after_submit_is_90010(api):
    body, first = api.start("13800138015")
    assert _guide(api.submit(body, first).json()) == "90010"


def test_primary_down_fails_over_to_the_next_provider(api, stack):
    body, first = api.start("13800138028")
    assert _guide(first) == "90001"
    task_id = first["data"]["task_id"]
    item = api.session(task_id)
    assert item["provider"] == "moxie" and item["providers_tried"] == ["juxinli", "moxie"]
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"


def test_image_captcha_then_sms(api, moxie):
    body, first = api.start("13800138014")
    assert _guide(first) == "90002"
    assert base64.b64decode(first["data"]["auth_code"]).startswith(b"\x89PNG")
    wrong = api.submit(body, first, code="zzzz").json()
    assert _guide(wrong) == "90028" and wrong["data"]["auth_code"]
    sms = api.submit(body, wrong, code="ab12").json()
    assert _guide(sms) == "90001"
    assert api.submit(body, sms).json()["code"] == "105"


def test_image_captcha_refresh_then_sms(api, stack, moxie):
    body, first = api.start("13800138014")
    assert _guide(first) == "90002"
    with stack.function_env(RESEND_INTERVAL_SECONDS="60"):  # 换一张: no SMS was sent, no interval
        refreshed = api.resend(body, first).json()
    assert _guide(refreshed) == "90002"
    assert base64.b64decode(refreshed["data"]["auth_code"]).startswith(b"\x89PNG")
    assert refreshed["data"]["auth_code"] != first["data"]["auth_code"]
    sms = api.submit(body, refreshed, code="ab12").json()
    assert _guide(sms) == "90001"
    assert api.submit(body, sms).json()["code"] == "105"


def test_moxie_happy_flow_and_success_callback(api, stack, moxie):
    body, first = api.start("13800138000")
    assert _guide(first) == "90001"
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(first["data"]["task_id"])["body"]["error_code"] == "SUCCESS"


@pytest.mark.parametrize("mobile,guide", [("13800138026", "90032"), ("13800138027", "90010")])
def test_moxie_task_gone_or_timed_out_after_input(api, moxie, mobile, guide):
    body, first = api.start(mobile)
    assert _guide(api.submit(body, first).json()) == guide


# ---------------------------------------------------------------- our own limits
def test_wrong_code_limit_ends_the_task_with_90030(api, stack):
    with stack.function_env(WRONG_CODE_LIMIT="3"):
        body, answer = api.start("13800138000")
        for _ in range(2):
            answer = api.submit(body, answer, code="000000").json()
            assert _guide(answer) == "90007"
        answer = api.submit(body, answer, code="000000").json()
    assert _guide(answer) == "90030"
    assert api.session(answer["data"]["task_id"])["status"] == "FAILED"


def test_resend_too_soon_is_90029_and_the_task_keeps_waiting(api, stack):
    body, first = api.start("13800138000")
    seen = stack.sandbox.requests_seen("/juxinli/orgApi/rest/v2/messages/collect/req")
    with stack.function_env(RESEND_INTERVAL_SECONDS="60"):
        refused = api.resend(body, first).json()
    assert _guide(refused) == "90029"
    assert refused["trace_id"] == first["trace_id"]  # still the valid one
    assert stack.sandbox.requests_seen("/juxinli/orgApi/rest/v2/messages/collect/req") == seen  # refused before any upstream call
    assert api.submit(body, refused).json()["code"] == "105"


def test_resend_limit_per_task_is_90029(api, stack):
    body, first = api.start("13800138000")
    with stack.function_env(RESEND_LIMIT="1"):
        again = api.resend(body, first).json()
        assert _guide(again) == "90001"
        refused = api.resend(body, again).json()
    assert _guide(refused) == "90029"
    assert api.submit(body, refused).json()["code"] == "105"


def test_start_answer_carries_isp_and_region(api):
    _body, answer = api.start("13912345678")
    assert answer["data"]["isp"] == "中国移动"
    assert answer["data"]["region"] == "江苏省常州市"


def test_moxie_resend_asks_for_a_new_code(api, stack, moxie):
    body, first = api.start("13800138000")
    seen = stack.sandbox.requests_seen("/moxie")
    again = api.resend(body, first).json()
    assert _guide(again) == "90001"
    assert stack.sandbox.requests_seen("/moxie") > seen  # verifycode, then status
    assert api.submit(body, again).json()["code"] == "105"
