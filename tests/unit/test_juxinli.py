"""JuxinliProvider against the sandbox Juxinli emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from carrier_auth import codes, numbers
from carrier_auth.providers.base import (
    CarrierStep,
    Identity,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from carrier_auth.providers.juxinli import (
    CXXD_MESSAGE,
    MAX_CONTINUATIONS,
    PROVINCE_CODES,
    SECOND_SMS_MESSAGE,
    JuxinliProvider,
    website_for_mobile,
)
from local.sandbox import SMS_CODE, SandboxProviders
from local.sandbox.juxinli import QUERY_PASSWORD

NAME = "张三"
ID_NUMBER = "11010519491231002X"
PASSWORD = "pw-778899"
ORG = "SANDBOX"
SECRET = "sandbox-juxinli-secret"
COLLECT = "/juxinli/orgApi/rest/v2/messages/collect/req"
APPLICATION = "/juxinli/orgApi/rest/v2/applications"
REPORT_TOKEN = "/juxinli/api/v2/access_report_token"
JOB_STATUS = "/juxinli/api/v2/job/access_jobs_status_by_token"


@pytest.fixture
def provider(sandbox: SandboxProviders) -> JuxinliProvider:
    return JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 5))


def person(mobile: str = "13800138000") -> Identity:
    return Identity(name=NAME, id_number=ID_NUMBER, mobile=mobile)


def collecting(provider: JuxinliProvider, mobile: str) -> CarrierStep:
    """Log in and submit the right code: the task is collecting."""
    identity = person(mobile)
    step = provider.login(identity, PASSWORD)
    return provider.submit(step.state, identity, PASSWORD, SMS_CODE)


def scripted(process_code: Any, content: str) -> dict[str, Any]:
    return {
        "success": True,
        "data": {"type": "ERROR", "content": content, "process_code": process_code, "finish": True},
    }


def test_login_asks_for_the_sms_code(provider: JuxinliProvider) -> None:
    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code) == ("NEED_INPUT", "90001")
    assert step.guide_message == "请输入短信验证码"
    assert (step.raw_code, step.raw_message) == ("10002", "输入动态密码")
    assert set(step.state) == {"token", "website", "next_type"}
    assert step.state["website"] == "chinamobilebj"
    assert step.state["next_type"] == "SUBMIT_CAPTCHA"
    assert PASSWORD not in step.state.values()


def test_right_code_starts_collection_then_job_succeeds(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    tokens_before = sandbox.requests_seen(REPORT_TOKEN)
    step = collecting(provider, "13800138000")
    assert (step.outcome, step.guide_code, step.raw_code) == ("COLLECTING", "", "10008")

    first = provider.poll(step.state)
    second = provider.poll(first.state)

    assert (first.status, first.raw_code) == ("RUNNING", "采集中")
    assert first.state["access_token"] and first.state["token"] == step.state["token"]
    assert (second.status, second.raw_code) == ("SUCCESS", "完成")
    assert sandbox.requests_seen(REPORT_TOKEN) - tokens_before == 1


def test_job_failure_is_reported(provider: JuxinliProvider) -> None:
    step = collecting(provider, "13800138003")
    assert step.outcome == "COLLECTING"

    first = provider.poll(step.state)
    second = provider.poll(first.state)

    assert [first.status, second.status] == ["RUNNING", "FAILED"]
    assert second.raw_code == "失败"


def test_wrong_code_keeps_the_task_waiting(provider: JuxinliProvider) -> None:
    identity = person()
    login = provider.login(identity, PASSWORD)

    wrong = provider.submit(login.state, identity, PASSWORD, "000000")
    right = provider.submit(wrong.state, identity, PASSWORD, SMS_CODE)

    assert (wrong.outcome, wrong.guide_code, wrong.raw_code) == ("NEED_INPUT", "90007", "10004")
    assert wrong.guide_message == "短信验证码错误，请耐心等待下一条"
    assert right.outcome == "COLLECTING"


def test_resend_asks_for_the_code_again(provider: JuxinliProvider) -> None:
    identity = person()
    login = provider.login(identity, PASSWORD)

    step = provider.resend(login.state, identity, PASSWORD)

    assert (step.outcome, step.guide_code, step.raw_code) == ("NEED_INPUT", "90001", "10002")
    assert "重新发送" in step.raw_message
    assert step.state == login.state


def test_wrong_service_password_fails(provider: JuxinliProvider) -> None:
    step = provider.login(person("13800138002"), PASSWORD)

    assert (step.outcome, step.guide_code, step.raw_code) == ("FAILED", "90006", "10003")
    assert step.guide_message == "服务密码错误，请重新输入"


def test_second_sms_code(provider: JuxinliProvider) -> None:
    identity = person("13800138004")
    login = provider.login(identity, PASSWORD)

    second = provider.submit(login.state, identity, PASSWORD, SMS_CODE)
    done = provider.submit(second.state, identity, PASSWORD, SMS_CODE)

    assert (second.outcome, second.guide_code, second.raw_code) == ("NEED_INPUT", "90001", "10001")
    assert second.guide_message == SECOND_SMS_MESSAGE
    assert (done.outcome, done.raw_code) == ("COLLECTING", "10008")


def test_identity_mismatch_number_behaves_like_the_default(provider: JuxinliProvider) -> None:
    assert collecting(provider, "13800138001").outcome == "COLLECTING"


@pytest.mark.parametrize(
    ("process_code", "content", "outcome", "guide_code", "guide_message"),
    [
        (10006, "验证码已失效，已重新发送", "NEED_INPUT", "90001", "验证码已失效，已重新发送"),
        (10007, "初始密码不能登录", "FAILED", "90009", "简单密码或者初始密码，请重置后重试"),
        (10003, "密码错误次数过多，账号已锁定", "FAILED", "90021", "服务密码错误次数超过限制，账号使用受限，请明天再试"),
        (10003, "服务密码错误", "FAILED", "90006", "服务密码错误，请重新输入"),
        (10017, "请用本机发送CXXD至10001获取验证码", "NEED_INPUT", "90001", "请用本机发送CXXD至10001获取验证码"),
        (10018, "请编辑短信CXXD发送到10001", "NEED_INPUT", "90001", "请编辑短信CXXD发送到10001"),
        (10018, "", "NEED_INPUT", "90001", CXXD_MESSAGE),
        (10022, "请输入查询密码", "NEED_INPUT", "90036", "请输入查询密码"),
        (10023, "查询密码错误", "NEED_INPUT", "90037", "查询密码错误，请重新输入"),
        (30000, "今日短信发送已达上限", "FAILED", "90029", "短信验证码发送过于频繁"),
        (30000, "短信发送过于频繁", "FAILED", "90029", "短信验证码发送过于频繁"),
        (30000, "验证码失效，请重新登录", "FAILED", "90010", "验证码失效，请重新登录"),
        (30000, "运营商系统升级维护中，请稍后再试", "FAILED", "90020", "运营商正在升级中，稍后再试"),
        (30000, "该地区升级中，请明天再试", "FAILED", "90034", "该地区升级中，请明天再试"),
        (30000, "您已在其他地点登录", "FAILED", "90027", "您已经在其他地点或浏览器登陆过，请确认退出后重试"),
        (30000, "短信验证码发送失败", "FAILED", "90031", "短信验证码发送失败"),
        (30000, "短信验证码错误", "NEED_INPUT", "90007", "短信验证码错误，请耐心等待下一条"),
        (30000, "奇怪的错误", "FAILED", "", ""),
        (30000, "", "FAILED", "", ""),
        (0, "未知状态", "FAILED", "", ""),
        (99999, "新的错误码", "FAILED", "", ""),
        ("10002", "输入动态密码", "NEED_INPUT", "90001", "请输入短信验证码"),
    ],
)
def test_process_code_mapping(
    provider: JuxinliProvider,
    sandbox: SandboxProviders,
    process_code: Any,
    content: str,
    outcome: str,
    guide_code: str,
    guide_message: str,
) -> None:
    sandbox.respond_next(COLLECT, scripted(process_code, content))

    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code) == (outcome, guide_code)
    assert step.guide_message == guide_message
    assert (step.raw_code, step.raw_message) == (str(process_code), content)


def test_refusal_is_a_provider_error(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(COLLECT, {"success": False, "message": "token无效"})

    with pytest.raises(ProviderError, match="token无效") as caught:
        provider.login(person(), PASSWORD)
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize("message", ["系统繁忙，请稍后再试", "System busy"])
def test_busy_refusal_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, message: str
) -> None:
    sandbox.respond_next(APPLICATION, {"success": False, "message": message})

    with pytest.raises(ProviderUnavailable):
        provider.login(person(), PASSWORD)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_http_5xx_on_a_collect_is_an_unknown_outcome_naming_the_task(
    provider: JuxinliProvider, sandbox: SandboxProviders, status: int
) -> None:
    sandbox.fail_next(COLLECT, status=status)

    with pytest.raises(ProviderOutcomeUnknown, match=f"HTTP {status}") as caught:
        provider.login(person(), PASSWORD)
    assert PASSWORD not in str(caught.value)
    assert set(caught.value.state) == {"token", "website", "next_type"}  # the application went through


def test_http_429_is_transient(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.fail_next(COLLECT, status=429)

    with pytest.raises(ProviderUnavailable, match="HTTP 429"):
        provider.login(person(), PASSWORD)


@pytest.mark.parametrize("path", [REPORT_TOKEN, JOB_STATUS])
@pytest.mark.parametrize("status", [500, 503])
def test_http_5xx_on_a_read_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, path: str, status: int
) -> None:
    state = collecting(provider, "13800138000").state
    sandbox.fail_next(path, status=status)

    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}"):
        provider.poll(state)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_http_4xx_is_a_provider_error(
    provider: JuxinliProvider, sandbox: SandboxProviders, status: int
) -> None:
    sandbox.fail_next("/juxinli", status=status)

    with pytest.raises(ProviderError) as caught:
        provider.login(person(), PASSWORD)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_fault_clears_after_count(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.fail_next("/juxinli", status=503, count=2)

    for _ in range(2):
        with pytest.raises(ProviderOutcomeUnknown):
            provider.login(person(), PASSWORD)
    assert provider.login(person(), PASSWORD).outcome == "NEED_INPUT"


NOT_THE_PROTOCOL = [
    ("<html><body>系统维护中</body></html>", "text/html", "not JSON"),
    ('{"success": true, "data": {"process_co', "application/json", "not JSON"),
    ("[1, 2]", "application/json", "not a JSON object"),
]


@pytest.mark.parametrize(("body", "content_type", "match"), NOT_THE_PROTOCOL)
def test_collect_answer_that_is_not_the_protocol_is_an_unknown_outcome(
    provider: JuxinliProvider, sandbox: SandboxProviders, body: str, content_type: str, match: str
) -> None:
    sandbox.respond_next(COLLECT, body, content_type=content_type)

    with pytest.raises(ProviderOutcomeUnknown, match=match) as caught:
        provider.login(person(), PASSWORD)
    assert caught.value.state["token"]


@pytest.mark.parametrize(("body", "content_type", "match"), NOT_THE_PROTOCOL)
def test_application_answer_that_is_not_the_protocol_names_no_task(
    provider: JuxinliProvider, sandbox: SandboxProviders, body: str, content_type: str, match: str
) -> None:
    sandbox.respond_next(APPLICATION, body, content_type=content_type)

    with pytest.raises(ProviderOutcomeUnknown, match=match) as caught:
        provider.login(person(), PASSWORD)
    assert caught.value.state == {}


@pytest.mark.parametrize(("body", "content_type", "match"), NOT_THE_PROTOCOL)
@pytest.mark.parametrize("path", [REPORT_TOKEN, JOB_STATUS])
def test_read_answer_that_is_not_the_protocol_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, path: str, body: str, content_type: str, match: str
) -> None:
    state = collecting(provider, "13800138000").state
    sandbox.respond_next(path, body, content_type=content_type)

    with pytest.raises(ProviderUnavailable, match=match):
        provider.poll(state)


def test_answer_without_data(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(APPLICATION, {"success": True})

    with pytest.raises(ProviderOutcomeUnknown, match="data"):
        provider.login(person(), PASSWORD)


def test_answer_without_process_code(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(COLLECT, {"success": True, "data": {"type": "CONTROL", "content": "?"}})

    with pytest.raises(ProviderOutcomeUnknown, match="process_code"):
        provider.login(person(), PASSWORD)


def test_read_timeout_of_a_state_changing_call_is_an_unknown_outcome(sandbox: SandboxProviders) -> None:
    impatient = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.2))
    sandbox.delay_next(APPLICATION, 1)

    with pytest.raises(ProviderOutcomeUnknown, match="ReadTimeout"):
        impatient.login(person(), PASSWORD)


def test_connection_lost_after_sending_is_an_unknown_outcome(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    identity = person()
    login = provider.login(identity, PASSWORD)
    sandbox.drop_next(COLLECT)

    with pytest.raises(ProviderOutcomeUnknown, match="ConnectionError"):
        provider.submit(login.state, identity, PASSWORD, SMS_CODE)
    # the emulator took the code: the task is collecting
    assert provider.reconcile(login.state).outcome == "COLLECTING"


def test_poll_timeout_is_transient_and_hides_the_query(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = collecting(provider, "13800138000").state
    impatient = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.2))
    sandbox.latency_seconds = 2

    with pytest.raises(ProviderUnavailable, match="ReadTimeout") as caught:
        impatient.poll(state)
    assert SECRET not in str(caught.value)
    assert "client_secret" not in str(caught.value)


def test_connection_refused_is_transient() -> None:
    stopped = SandboxProviders().start()
    base_url = stopped.juxinli_base_url
    stopped.stop()

    with pytest.raises(ProviderUnavailable, match="ConnectionError"):
        JuxinliProvider(base_url, ORG, SECRET).login(person(), PASSWORD)


def test_wrong_client_secret_fails_the_poll(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = collecting(provider, "13800138000").state
    wrong = JuxinliProvider(sandbox.juxinli_base_url, ORG, "not-the-secret")

    with pytest.raises(ProviderError, match="client_secret") as caught:
        wrong.poll(state)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_cached_access_token_with_wrong_secret_is_refused(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = provider.poll(collecting(provider, "13800138000").state).state
    wrong = JuxinliProvider(sandbox.juxinli_base_url, ORG, "not-the-secret")

    with pytest.raises(ProviderError):
        wrong.poll(state)


def test_wrong_org_is_refused(sandbox: SandboxProviders) -> None:
    other = JuxinliProvider(sandbox.juxinli_base_url, "OTHER", SECRET)

    with pytest.raises(ProviderError, match="机构不存在"):
        other.login(person(), PASSWORD)


def test_poll_before_collection_is_refused(provider: JuxinliProvider) -> None:
    state = provider.login(person(), PASSWORD).state

    with pytest.raises(ProviderError, match="no collection job") as caught:
        provider.poll(state)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_unknown_job_status_is_a_provider_error(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = collecting(provider, "13800138000").state
    sandbox.respond_next(JOB_STATUS, {"success": True, "data": {"status": "排队"}})

    with pytest.raises(ProviderError, match="排队"):
        provider.poll(state)


def test_report_token_answer_without_token(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = collecting(provider, "13800138000").state
    sandbox.respond_next(REPORT_TOKEN, {"success": True, "code": 200})

    with pytest.raises(ProviderUnavailable, match="access_token"):
        provider.poll(state)


def test_state_without_token_is_a_provider_error(provider: JuxinliProvider) -> None:
    with pytest.raises(ProviderError, match="token"):
        provider.submit({"website": "chinamobile"}, person(), PASSWORD, SMS_CODE)


# ---------------------------------------------------------------- sandbox scenarios over HTTP
def assert_no_secret_in(state: dict[str, Any]) -> None:
    for value in (PASSWORD, SMS_CODE, QUERY_PASSWORD, ID_NUMBER, NAME):
        assert value not in repr(state)


@pytest.mark.parametrize(
    ("mobile", "guide_code", "raw_code", "raw_message"),
    [
        ("13800138002", "90006", "10003", "服务密码错误"),
        ("13800138005", "90009", "10007", "您的服务密码为初始密码或简单密码，请修改后再登录"),
        ("13800138010", "90029", "30000", "短信发送次数已达上限，请明天再试"),
        ("13800138011", "", "0", "未知状态"),
        ("13800138013", "90021", "10003", "密码错误次数过多，账户已锁定24小时"),
        ("13800138016", "90020", "30000", "运营商系统升级维护中，请稍后再试"),
        ("13800138021", "90027", "30000", "您已在其他地点登录，请退出后重试"),
        ("13800138022", "90031", "30000", "短信验证码发送失败"),
        ("13800138024", "90034", "30000", "该地区升级中，请明天再试"),
    ],
)
def test_login_ends_with_the_scenario_answer(
    provider: JuxinliProvider, mobile: str, guide_code: str, raw_code: str, raw_message: str
) -> None:
    step = provider.login(person(mobile), PASSWORD)

    assert (step.outcome, step.guide_code) == ("FAILED", guide_code)
    assert step.guide_message == codes.guide_message(guide_code)
    assert (step.raw_code, step.raw_message) == (raw_code, raw_message)
    assert step.state["token"]
    assert_no_secret_in(step.state)


@pytest.mark.parametrize(
    ("mobile", "guide_code", "message"),
    [
        ("13800138017", "90022", "该号码已禁用服务密码"),
        ("13800138018", "90023", "服务密码尚未激活"),
        ("13800138019", "90024", "该卡尚未实名登记"),
        ("13800138020", "90025", "账号状态异常（停机）"),
        ("13800138023", "90033", "暂不支持该地区"),
    ],
)
def test_refused_application_is_a_guide_answer(
    provider: JuxinliProvider, sandbox: SandboxProviders, mobile: str, guide_code: str, message: str
) -> None:
    collects_before = sandbox.requests_seen(COLLECT)

    step = provider.login(person(mobile), PASSWORD)

    assert (step.outcome, step.guide_code) == ("FAILED", guide_code)
    assert step.guide_message == codes.guide_message(guide_code)
    assert (step.raw_code, step.raw_message) == ("", message)
    assert step.state == {}
    assert sandbox.requests_seen(COLLECT) == collects_before


def test_refused_collect_with_a_known_message_keeps_the_state(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    identity = person()
    login = provider.login(identity, PASSWORD)
    sandbox.respond_next(COLLECT, {"success": False, "message": "该手机号已被锁定"})

    step = provider.submit(login.state, identity, PASSWORD, SMS_CODE)

    assert (step.outcome, step.guide_code, step.raw_message) == ("FAILED", "90021", "该手机号已被锁定")
    assert step.state == login.state


def test_refusal_naming_an_input_guide_keeps_the_task_waiting(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    identity = person()
    login = provider.login(identity, PASSWORD)
    sandbox.respond_next(COLLECT, {"success": False, "message": "短信验证码错误"})

    step = provider.submit(login.state, identity, PASSWORD, "000000")

    assert (step.outcome, step.guide_code) == ("NEED_INPUT", "90007")
    assert step.state["next_type"] == "SUBMIT_CAPTCHA"


def test_expired_code_with_a_new_one_sent(provider: JuxinliProvider) -> None:
    identity = person("13800138006")
    login = provider.login(identity, PASSWORD)
    done = provider.submit(login.state, identity, PASSWORD, SMS_CODE)

    assert (login.outcome, login.guide_code, login.raw_code) == ("NEED_INPUT", "90001", "10006")
    assert login.guide_message == "验证码已过期，新验证码已发送，请输入"
    assert (done.outcome, done.raw_code) == ("COLLECTING", "10008")


def test_cxxd_instruction_reaches_the_app(provider: JuxinliProvider) -> None:
    identity = person("13800138007")
    login = provider.login(identity, PASSWORD)
    done = provider.submit(login.state, identity, PASSWORD, SMS_CODE)

    assert (login.outcome, login.guide_code, login.raw_code) == ("NEED_INPUT", "90001", "10017")
    assert login.guide_message == "请用本机发送CXXD至10001获取短信验证码"
    assert login.state["next_type"] == "SUBMIT_CAPTCHA"
    assert (done.outcome, done.raw_code) == ("COLLECTING", "10008")


def test_query_password_then_sms_code(provider: JuxinliProvider) -> None:
    identity = person("13800138008")

    login = provider.login(identity, PASSWORD)
    resent = provider.resend(login.state, identity, PASSWORD)
    wrong = provider.submit(resent.state, identity, PASSWORD, "111111")
    right = provider.submit(wrong.state, identity, PASSWORD, QUERY_PASSWORD)
    done = provider.submit(right.state, identity, PASSWORD, SMS_CODE)

    assert (login.outcome, login.guide_code, login.raw_code) == ("NEED_INPUT", "90036", "10022")
    assert login.guide_message == "请输入查询密码"
    assert login.state["next_type"] == "SUBMIT_QUERY_PWD"
    assert (resent.guide_code, resent.state["next_type"]) == ("90036", "SUBMIT_QUERY_PWD")
    assert (wrong.outcome, wrong.guide_code, wrong.raw_code) == ("NEED_INPUT", "90037", "10023")
    assert wrong.guide_message == "查询密码错误，请重新输入"
    assert wrong.state["next_type"] == "SUBMIT_QUERY_PWD"
    assert (right.outcome, right.guide_code, right.raw_code) == ("NEED_INPUT", "90001", "10002")
    assert right.state["next_type"] == "SUBMIT_CAPTCHA"
    assert (done.outcome, done.raw_code) == ("COLLECTING", "10008")
    for step in (login, resent, wrong, right, done):
        assert_no_secret_in(step.state)


@pytest.fixture
def snake_case_sandbox() -> Iterator[SandboxProviders]:
    """A sandbox whose Juxinli reads the query password from ``query_pwd``."""
    with SandboxProviders(juxinli_query_pwd_key="query_pwd") as providers:
        yield providers


@pytest.mark.parametrize(("adapter_key", "raw_code"), [("query_pwd", "10002"), ("queryPwd", "10023")])
def test_query_password_key_is_configurable(
    snake_case_sandbox: SandboxProviders, adapter_key: str, raw_code: str
) -> None:
    provider = JuxinliProvider(
        snake_case_sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 5), query_pwd_key=adapter_key
    )
    identity = person("13800138008")
    login = provider.login(identity, PASSWORD)

    step = provider.submit(login.state, identity, PASSWORD, QUERY_PASSWORD)

    # the emulator only finds the query password under the key it was configured with
    assert step.raw_code == raw_code


def test_default_query_password_key_is_query_pwd_camel_case(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    other = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 5), query_pwd_key="query_pwd")
    identity = person("13800138008")

    default = provider.submit(provider.login(identity, PASSWORD).state, identity, PASSWORD, QUERY_PASSWORD)
    snake = other.submit(other.login(identity, PASSWORD).state, identity, PASSWORD, QUERY_PASSWORD)

    assert (default.raw_code, snake.raw_code) == ("10002", "10023")


def test_state_without_next_type_submits_the_sms_code(provider: JuxinliProvider) -> None:
    """Sessions saved before ``next_type`` existed still work."""
    identity = person()
    state = provider.login(identity, PASSWORD).state
    legacy = {"token": state["token"], "website": state["website"]}

    assert provider.submit(legacy, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


def test_busy_carrier_is_transient(provider: JuxinliProvider) -> None:
    with pytest.raises(ProviderUnavailable, match="繁忙"):
        provider.login(person("13800138009"), PASSWORD)


@pytest.mark.parametrize(
    "content", ["系统繁忙，请稍后再试", "运营商网络异常", "carrier busy", "请稍后再试"]
)
def test_busy_30000_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, content: str
) -> None:
    sandbox.respond_next(COLLECT, scripted(30000, content))

    with pytest.raises(ProviderUnavailable):
        provider.login(person(), PASSWORD)


def test_code_expired_after_submit(provider: JuxinliProvider) -> None:
    identity = person("13800138015")
    login = provider.login(identity, PASSWORD)

    step = provider.submit(login.state, identity, PASSWORD, SMS_CODE)

    assert (step.outcome, step.guide_code, step.raw_code) == ("FAILED", "90010", "30000")
    assert step.raw_message == "验证码失效，请重新登录"


def test_unfinished_login_continues_with_the_next_datasource(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    identity = person("13800138012")
    login = provider.login(identity, PASSWORD)
    collects_before = sandbox.requests_seen(COLLECT)

    step = provider.submit(login.state, identity, PASSWORD, SMS_CODE)

    assert (step.outcome, step.raw_code) == ("COLLECTING", "10008")
    assert step.state["website"] == "jingdong" and step.state["token"] == login.state["token"]
    assert sandbox.requests_seen(COLLECT) - collects_before == 2  # the submit, then the continuation
    first = provider.poll(step.state)
    assert [first.status, provider.poll(first.state).status] == ["RUNNING", "SUCCESS"]


def test_continuations_are_bounded(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    unfinished = {
        "success": True,
        "data": {
            "type": "CONTROL",
            "content": "开始采集行为数据",
            "process_code": 10008,
            "next_datasource": {"website": "chinamobilebj", "name": "北京移动"},
            "finish": False,
        },
    }
    sandbox.respond_next(COLLECT, unfinished, count=MAX_CONTINUATIONS + 5)
    collects_before = sandbox.requests_seen(COLLECT)

    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.raw_code) == ("COLLECTING", "10008")
    assert sandbox.requests_seen(COLLECT) - collects_before == 1 + MAX_CONTINUATIONS


def test_unfinished_answer_without_next_datasource_is_collecting(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    answer = {"success": True, "data": {"type": "CONTROL", "process_code": 10008, "finish": False}}
    sandbox.respond_next(COLLECT, answer)
    collects_before = sandbox.requests_seen(COLLECT)

    assert provider.login(person(), PASSWORD).outcome == "COLLECTING"
    assert sandbox.requests_seen(COLLECT) - collects_before == 1


def test_provider_down_is_an_unknown_outcome_of_the_application(provider: JuxinliProvider) -> None:
    with pytest.raises(ProviderOutcomeUnknown, match="HTTP 503") as caught:
        provider.login(person("13800138028"), PASSWORD)
    assert caught.value.state == {}


@pytest.mark.parametrize("mobile", ["13800138014", "13800138025", "13800138026", "13800138027"])
def test_moxie_only_numbers_behave_like_the_default(provider: JuxinliProvider, mobile: str) -> None:
    assert collecting(provider, mobile).outcome == "COLLECTING"


def test_check_is_not_supported(provider: JuxinliProvider) -> None:
    with pytest.raises(ProviderError, match="no asynchronous login"):
        provider.check({"token": "t", "website": "chinamobilebj"})


# ---------------------------------------------------------------- unknown outcomes
@pytest.fixture(scope="module")
def late_sandbox() -> Iterator[SandboxProviders]:
    """A sandbox whose 13800138029 answers the accepted code 1 s late."""
    with SandboxProviders(late_answer_seconds=1.0) as providers:
        yield providers


def test_reconcile_after_a_prompt_shows_no_effect(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    login = provider.login(person(), PASSWORD)
    collects = sandbox.requests_seen(COLLECT)

    assert provider.reconcile(login.state) is None
    assert sandbox.requests_seen(COLLECT) == collects  # reads only


def test_reconcile_without_a_token_asks_nothing(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    seen = sandbox.requests_seen("/juxinli")

    assert provider.reconcile({}) is None
    assert sandbox.requests_seen("/juxinli") == seen


def test_accepted_code_answered_late_is_reconciled_as_collecting(late_sandbox: SandboxProviders) -> None:
    impatient = JuxinliProvider(late_sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.3))
    identity = person("13800138029")
    login = impatient.login(identity, PASSWORD)

    with pytest.raises(ProviderOutcomeUnknown, match="ReadTimeout"):
        impatient.submit(login.state, identity, PASSWORD, SMS_CODE)
    step = impatient.reconcile(login.state)

    assert step is not None
    assert (step.outcome, step.raw_code) == ("COLLECTING", "采集中")
    assert step.state["token"] == login.state["token"] and step.state["access_token"]
    assert late_sandbox.requests_seen(COLLECT) == 2  # the first collect and the one code
    assert impatient.poll(step.state).status == "SUCCESS"


def test_wrong_code_for_the_late_number_is_answered_at_once(late_sandbox: SandboxProviders) -> None:
    impatient = JuxinliProvider(late_sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.3))
    identity = person("13800138029")
    login = impatient.login(identity, PASSWORD)

    assert impatient.submit(login.state, identity, PASSWORD, "000000").guide_code == "90007"


def test_out_of_turn_submit_is_an_unknown_outcome(provider: JuxinliProvider) -> None:
    identity = person()
    done = collecting(provider, "13800138000")

    with pytest.raises(ProviderOutcomeUnknown, match="当前状态不能执行该操作") as caught:
        provider.submit(done.state, identity, PASSWORD, SMS_CODE)
    assert not isinstance(caught.value, ProviderUnavailable)
    step = provider.reconcile(done.state)
    assert step is not None and step.outcome == "COLLECTING"


@pytest.mark.parametrize("status", ["采集中", "完成", "失败", "排队"])
def test_any_collection_job_means_the_login_went_through(
    provider: JuxinliProvider, sandbox: SandboxProviders, status: str
) -> None:
    state = provider.login(person(), PASSWORD).state
    sandbox.respond_next(JOB_STATUS, {"success": True, "data": {"token": state["token"], "status": status}})

    step = provider.reconcile(state)

    assert step is not None and (step.outcome, step.raw_code) == ("COLLECTING", status)


def test_reconcile_uses_a_cached_access_token(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    state = provider.poll(collecting(provider, "13800138000").state).state
    tokens = sandbox.requests_seen(REPORT_TOKEN)

    step = provider.reconcile(state)

    assert step is not None and step.outcome == "COLLECTING"
    assert sandbox.requests_seen(REPORT_TOKEN) == tokens


@pytest.mark.parametrize(
    ("path", "fault"),
    [
        (JOB_STATUS, {"status": 503}),
        (JOB_STATUS, {"body": "<html>维护</html>", "content_type": "text/html"}),
        (REPORT_TOKEN, {"body": '{"success": tr', "content_type": "application/json"}),
        (JOB_STATUS, {"body": {"success": False, "message": "当前状态不能执行该操作"}}),
    ],
)
def test_reconcile_that_cannot_read_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, path: str, fault: dict[str, Any]
) -> None:
    state = provider.login(person(), PASSWORD).state
    if "status" in fault:
        sandbox.fail_next(path, status=fault["status"])
    else:
        sandbox.respond_next(path, fault["body"], content_type=fault.get("content_type"))

    with pytest.raises(ProviderUnavailable):
        provider.reconcile(state)


def test_maintenance_page_at_login_is_an_unknown_outcome(provider: JuxinliProvider) -> None:
    for _ in range(2):  # retries find it under maintenance too
        with pytest.raises(ProviderOutcomeUnknown, match="not JSON") as caught:
            provider.login(person("13800138030"), PASSWORD)
        assert caught.value.state == {}


# ---------------------------------------------------------------- website hint
@pytest.mark.parametrize(
    ("mobile", "website"),
    [
        ("13800138000", "chinamobilebj"),
        ("18852951275", "chinamobilejs"),
        ("13700137000", "chinamobileln"),
        ("13000000000", "chinaunicomsd"),
        ("15600000000", "chinaunicombj"),
        ("18900000000", "chinatelecombj"),
        ("19900000000", ""),  # province unknown
        ("12345", ""),
    ],
)
def test_website_for_mobile(mobile: str, website: str) -> None:
    assert website_for_mobile(mobile) == website


def test_province_table_covers_every_province_once() -> None:
    assert set(PROVINCE_CODES) == set(numbers.PROVINCES)
    assert len(set(PROVINCE_CODES.values())) == 31
    assert all(len(code) == 2 and code.isalpha() and code.islower() for code in PROVINCE_CODES.values())


def hints_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "carrier_auth.sandbox" and "application" in record.getMessage()
    ]


@pytest.mark.parametrize(
    ("mobile", "shape", "logged", "website"),
    [
        ("18852951275", "name", "selected_website=chinamobilejs skip_mobile=False", "chinamobilejs"),
        ("13000000000", "name", "selected_website=chinaunicomsd skip_mobile=False", "chinaunicomsd"),
        ("18900000000", "list", "selected_website=chinatelecombj skip_mobile=False", "chinatelecombj"),
        ("18852951275", "none", "selected_website=- skip_mobile=False", "chinamobilejs"),
        ("19900000000", "name", "selected_website=- skip_mobile=False", "chinatelecom"),
    ],
)
def test_application_sends_the_website_hint(
    sandbox: SandboxProviders,
    caplog: pytest.LogCaptureFixture,
    mobile: str,
    shape: Any,
    logged: str,
    website: str,
) -> None:
    caplog.set_level(logging.INFO, logger="carrier_auth.sandbox")
    provider = JuxinliProvider(
        sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 5), selected_website_shape=shape
    )

    step = provider.login(person(mobile), PASSWORD)

    assert step.outcome == "NEED_INPUT"
    assert step.state["website"] == website
    assert any(logged in message for message in hints_logged(caplog))


def test_unknown_website_shape_is_refused() -> None:
    with pytest.raises(ValueError):
        JuxinliProvider("http://127.0.0.1:1", ORG, SECRET, selected_website_shape="dict")  # type: ignore[arg-type]
