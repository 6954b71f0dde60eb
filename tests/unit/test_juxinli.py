"""JuxinliProvider against the sandbox Juxinli emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations


from typing import Any

import pytest

from carrier_auth.providers.base import (
    CarrierStep,
    Identity,
    ProviderError,
    ProviderUnavailable,
)
from carrier_auth.providers.juxinli import SECOND_SMS_MESSAGE, JuxinliProvider
from local.sandbox import SMS_CODE, SandboxProviders

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
    assert set(step.state) == {"token", "website"}
    assert step.state["website"] == "chinamobile"
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
        (30000, "运营商网络异常", "FAILED", "90035", "运营商系统繁忙"),
        (30000, "今日短信发送已达上限", "FAILED", "90029", "短信验证码发送过于频繁"),
        (30000, "短信发送过于频繁", "FAILED", "90029", "短信验证码发送过于频繁"),
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


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_http_5xx_is_transient(
    provider: JuxinliProvider, sandbox: SandboxProviders, status: int
) -> None:
    sandbox.fail_next(COLLECT, status=status)

    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}") as caught:
        provider.login(person(), PASSWORD)
    assert PASSWORD not in str(caught.value)


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
        with pytest.raises(ProviderUnavailable):
            provider.login(person(), PASSWORD)
    assert provider.login(person(), PASSWORD).outcome == "NEED_INPUT"


def test_body_that_is_not_json(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(COLLECT, "<html>gateway</html>")

    with pytest.raises(ProviderError, match="not JSON") as caught:
        provider.login(person(), PASSWORD)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_answer_without_data(provider: JuxinliProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(APPLICATION, {"success": True})

    with pytest.raises(ProviderError, match="data"):
        provider.login(person(), PASSWORD)


def test_timeout_is_transient(sandbox: SandboxProviders) -> None:
    impatient = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.2))
    sandbox.latency_seconds = 2

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        impatient.login(person(), PASSWORD)


def test_poll_timeout_message_hides_the_query(
    provider: JuxinliProvider, sandbox: SandboxProviders
) -> None:
    state = collecting(provider, "13800138000").state
    impatient = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=(2, 0.2))
    sandbox.latency_seconds = 2

    with pytest.raises(ProviderUnavailable) as caught:
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

    with pytest.raises(ProviderError, match="没有采集任务"):
        provider.poll(state)


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

    with pytest.raises(ProviderError, match="access_token"):
        provider.poll(state)


def test_state_without_token_is_a_provider_error(provider: JuxinliProvider) -> None:
    with pytest.raises(ProviderError, match="token"):
        provider.submit({"website": "chinamobile"}, person(), PASSWORD, SMS_CODE)
