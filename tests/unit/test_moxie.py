"""MoxieProvider against the sandbox Moxie emulator over real HTTP on 127.0.0.1.

Waiting is driven by a fake clock: ``sleep`` advances it, so no test sleeps for real and the
number of status reads is exact.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from carrier_auth import codes
from carrier_auth.providers.base import (
    CarrierStep,
    Identity,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from carrier_auth.providers.moxie import MoxieProvider
from local.sandbox import SandboxProviders
from local.sandbox.moxie import (
    DEFAULT_APIKEY,
    LOGIN_FAILURES,
    SMS_CODE,
    MoxieEmulator,
    captcha_image,
    tiny_png,
)

NAME = "张三"
ID_NUMBER = "11010519491231002X"
PASSWORD = "pw-778899"
WRONG_CODE = "654321"
IMAGE_ANSWER = "AB12"  # the emulator's "ab12", in capitals (never inside a hex task id)
TASKS = "/carrier/v3/tasks"

MOXIE = "/moxie"
SLOW = "/moxie-slow"  # login_polls=3, crawl_polls=2
PROBE = "/moxie-probe"  # records requests, can fail status reads
LATE = "/moxie-late"  # answers 13800138029's accepted code 1 s late


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Probe:
    """Wraps an emulator: records every request, answers 503 to the next ``failing_status``
    status reads."""

    def __init__(self, inner: MoxieEmulator) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, str | None, Any]] = []
        self.failing_status = 0

    def handle(self, method: str, path: str, query: Any, headers: Any, body: Any) -> tuple[int, Any]:
        self.seen.append((method, path, headers.get("Authorization"), body))
        if path.endswith("/status") and self.failing_status > 0:
            self.failing_status -= 1
            return 503, {"detail": "status store down", "instance": path}
        return self.inner.handle(method, path, query, headers, body)


@pytest.fixture(scope="module")
def probe(sandbox_server: SandboxProviders) -> Probe:
    sandbox_server.mount(MOXIE, MoxieEmulator())
    sandbox_server.mount(SLOW, MoxieEmulator(login_polls=3, crawl_polls=2))
    probe = Probe(MoxieEmulator())
    sandbox_server.mount(PROBE, probe)
    sandbox_server.mount(LATE, MoxieEmulator(late_answer_seconds=1.0))
    return probe


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(sandbox: SandboxProviders, probe: Probe, clock: FakeClock) -> Iterator[Any]:
    def build(
        prefix: str = MOXIE,
        apikey: str = DEFAULT_APIKEY,
        interval: float = 0.25,
        deadline: float = 5.0,
        read_timeout: float = 5,
    ) -> MoxieProvider:
        return MoxieProvider(
            sandbox.url(prefix),
            apikey,
            timeout=(2, read_timeout),
            status_interval=interval,
            decision_deadline=deadline,
            sleep=clock.sleep,
            clock=clock.monotonic,
        )

    yield build
    probe.failing_status = 0
    probe.seen.clear()


@pytest.fixture
def provider(make: Any) -> MoxieProvider:
    return make()


def person(mobile: str = "13800138000") -> Identity:
    return Identity(name=NAME, id_number=ID_NUMBER, mobile=mobile)


def logged_in(provider: MoxieProvider, mobile: str) -> tuple[Identity, CarrierStep]:
    identity = person(mobile)
    step = provider.login(identity, PASSWORD)
    assert step.outcome == "NEED_INPUT", step
    return identity, step


def status_reads(sandbox: SandboxProviders, prefix: str, task_id: str) -> int:
    return sandbox.requests_seen(f"{prefix}{TASKS}/{task_id}/status")


def status_body(phase_status: str, **extra: Any) -> dict[str, Any]:
    return {"task_id": "t", "phase": "LOGIN", "phase_status": phase_status, "description": "", **extra}


def assert_png(image: str) -> None:
    raw = base64.b64decode(image, validate=True)
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    offset, kinds = 8, []
    while offset < len(raw):
        (length,) = struct.unpack(">I", raw[offset : offset + 4])
        kind, data = raw[offset + 4 : offset + 8], raw[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", raw[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        kinds.append(kind)
        if kind == b"IDAT":
            zlib.decompress(data)
        offset += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


# -- the happy path ---------------------------------------------------------------------------


def test_login_waits_for_the_sms_code(
    provider: MoxieProvider, sandbox: SandboxProviders, clock: FakeClock
) -> None:
    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code) == ("NEED_INPUT", codes.NEED_SMS_CODE)
    assert step.guide_message == "请输入短信验证码"
    assert (step.raw_code, step.raw_message) == ("WAIT_CODE", "请输入短信验证码")
    assert step.auth_image is None
    assert set(step.state) == {"task_id", "user_id", "input_type"}
    # one LOGIN/DOING answer, one pause, then the decision
    assert status_reads(sandbox, MOXIE, step.state["task_id"]) == 2
    assert clock.sleeps == [0.25]


def test_create_task_request(make: Any, probe: Probe) -> None:
    first = make(PROBE).login(person(), PASSWORD)
    second = make(PROBE).login(person(), PASSWORD)

    creates = [seen for seen in probe.seen if seen[1] == TASKS]
    assert len(creates) == 2
    method, _, authorization, body = creates[0]
    assert (method, authorization) == ("POST", f"apikey {DEFAULT_APIKEY}")
    assert body == {
        "account": "13800138000",
        "password": PASSWORD,
        "user_id": first.state["user_id"],
        "origin": "carrier-auth-gateway",
        "real_name": NAME,
        "id_card": ID_NUMBER,
        "login_type": "PASSWORD",
    }
    # an opaque random id per task, nothing derived from the person
    assert re.fullmatch(r"[0-9a-f]{32}", first.state["user_id"])
    assert first.state["user_id"] != second.state["user_id"]
    assert all(authorization == f"apikey {DEFAULT_APIKEY}" for _, _, authorization, _ in probe.seen)


def test_right_code_starts_collection_then_success(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138000")

    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (collecting.outcome, collecting.guide_code) == ("COLLECTING", "")
    assert collecting.raw_code == "DOING"  # CRAWL/DOING: login done
    assert collecting.state == step.state

    done = provider.poll(collecting.state)
    assert (done.status, done.raw_code) == ("SUCCESS", "DONE_SUCC")
    assert done.state == step.state
    assert provider.poll(done.state).status == "SUCCESS"


def test_input_request_body(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138000")
    provider.submit(step.state, identity, PASSWORD, SMS_CODE)

    inputs = [seen for seen in probe.seen if seen[1].endswith("/input")]
    assert [(method, path, body) for method, path, _, body in inputs] == [
        ("POST", f"{TASKS}/{step.state['task_id']}/input", {"input": SMS_CODE})
    ]


@pytest.mark.parametrize("mobile", ["13800138028", "13912345678"])
def test_other_mobiles_succeed(provider: MoxieProvider, mobile: str) -> None:
    identity, step = logged_in(provider, mobile)
    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert collecting.outcome == "COLLECTING"
    assert provider.poll(collecting.state).status == "SUCCESS"


def test_wrong_code_asks_again(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138000")

    wrong = provider.submit(step.state, identity, PASSWORD, WRONG_CODE)
    assert (wrong.outcome, wrong.guide_code) == ("NEED_INPUT", codes.WRONG_SMS_CODE)
    assert wrong.guide_message == codes.guide_message(codes.WRONG_SMS_CODE)
    assert (wrong.raw_code, wrong.raw_message) == ("WAIT_CODE", "短信验证码错误，请重新输入")

    assert provider.submit(wrong.state, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


# -- login failures (DONE_FAIL descriptions -> guide codes) ---------------------------------------

FAILURE_GUIDES = {
    "13800138002": codes.WRONG_PASSWORD,
    "13800138005": codes.SIMPLE_PASSWORD,
    "13800138010": codes.SMS_TOO_FREQUENT,
    "13800138011": "",  # unknown -> 103
    "13800138013": codes.PASSWORD_LOCKED,
    "13800138016": codes.CARRIER_UPGRADING,
    "13800138017": codes.PASSWORD_DISABLED,
    "13800138018": codes.PASSWORD_NOT_ACTIVATED,
    "13800138019": codes.NOT_REAL_NAME_REGISTERED,
    "13800138020": codes.ACCOUNT_ABNORMAL,
    "13800138021": codes.LOGGED_IN_ELSEWHERE,
    "13800138022": codes.SMS_SEND_FAILED,
    "13800138023": codes.REGION_UNSUPPORTED,
    "13800138024": codes.REGION_UPGRADING,
    "13800138025": codes.CARRIER_BUSY,
}


def test_every_failure_scenario_has_a_guide() -> None:
    assert set(FAILURE_GUIDES) == set(LOGIN_FAILURES)


@pytest.mark.parametrize(("mobile", "guide"), sorted(FAILURE_GUIDES.items()))
def test_login_failure(provider: MoxieProvider, mobile: str, guide: str) -> None:
    step = provider.login(person(mobile), PASSWORD)

    assert (step.outcome, step.guide_code) == ("FAILED", guide)
    assert step.guide_message == codes.guide_message(guide)
    assert (step.raw_code, step.raw_message) == ("DONE_FAIL", LOGIN_FAILURES[mobile])
    assert step.state["task_id"]


def test_unknown_failure_is_a_system_error_with_the_raw_text(provider: MoxieProvider) -> None:
    step = provider.login(person("13800138011"), PASSWORD)
    assert (step.outcome, step.guide_code, step.guide_message) == ("FAILED", "", "")
    assert step.raw_message == "未知错误E999"


# -- multi-step scenarios -----------------------------------------------------------------------


def test_collection_fails_after_login(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138003")

    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert collecting.outcome == "COLLECTING"

    result = provider.poll(collecting.state)
    assert (result.status, result.raw_code, result.message) == ("FAILED", "DONE_FAIL", "数据采集失败")


def test_second_sms_code(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138004")

    second = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (second.outcome, second.guide_code) == ("NEED_INPUT", codes.NEED_SMS_CODE)
    assert second.guide_message == "请输入第二条短信验证码"

    collecting = provider.submit(second.state, identity, PASSWORD, SMS_CODE)
    assert collecting.outcome == "COLLECTING"
    assert provider.poll(collecting.state).status == "SUCCESS"


def test_cxxd_instruction_is_the_guide_message(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138007")

    assert step.guide_code == codes.NEED_SMS_CODE
    assert step.guide_message == "请用本机发送CXXD至10001获取短信验证码"
    assert provider.submit(step.state, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


def test_image_captcha_then_sms(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138014")
    assert (step.guide_code, step.guide_message) == (codes.NEED_IMAGE_CODE, "请输入图片验证码")
    assert step.auth_image
    assert_png(step.auth_image)

    sms = provider.submit(step.state, identity, PASSWORD, IMAGE_ANSWER)
    assert (sms.outcome, sms.guide_code, sms.auth_image) == ("NEED_INPUT", codes.NEED_SMS_CODE, None)

    collecting = provider.submit(sms.state, identity, PASSWORD, SMS_CODE)
    assert collecting.outcome == "COLLECTING"
    assert provider.poll(collecting.state).status == "SUCCESS"


def test_wrong_image_code_shows_a_new_image(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138014")

    wrong = provider.submit(step.state, identity, PASSWORD, "zz99")
    assert (wrong.outcome, wrong.guide_code) == ("NEED_INPUT", codes.WRONG_IMAGE_CODE)
    assert (wrong.guide_message, wrong.raw_message) == ("图片验证码错误", "图片验证码错误")
    assert wrong.auth_image and wrong.auth_image != step.auth_image
    assert_png(wrong.auth_image)

    assert provider.submit(wrong.state, identity, PASSWORD, IMAGE_ANSWER).guide_code == codes.NEED_SMS_CODE


def test_code_expired_after_input(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138015")

    failed = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (failed.outcome, failed.guide_code) == ("FAILED", codes.CODE_EXPIRED_RELOGIN)
    assert (failed.raw_code, failed.raw_message) == ("DONE_FAIL", "验证码失效，请重新登录")


def test_input_timeout(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138026")

    failed = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (failed.outcome, failed.guide_code) == ("FAILED", codes.INPUT_TIMEOUT)
    assert failed.guide_message == "等待用户输入验证码超时"
    assert failed.raw_code == "DONE_TIMEOUT"


def test_task_disappears_after_input(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138027")

    failed = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (failed.outcome, failed.guide_code) == ("FAILED", codes.CODE_EXPIRED_RELOGIN)
    assert (failed.raw_code, failed.raw_message) == ("404", "task not found")
    assert failed.state == step.state

    gone = provider.poll(step.state)
    assert (gone.status, gone.raw_code, gone.message) == ("FAILED", "404", "task not found")


# -- resend -------------------------------------------------------------------------------------


def test_resend_asks_for_the_new_code(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138000")

    resent = provider.resend(step.state, identity, PASSWORD)
    assert (resent.outcome, resent.guide_code) == ("NEED_INPUT", codes.NEED_SMS_CODE)
    assert resent.guide_message == "请输入短信验证码"
    assert resent.raw_message == "验证码已重新发送"
    calls = [(method, path, body) for method, path, _, body in probe.seen if path.endswith("/verifycode")]
    assert calls == [("POST", f"{TASKS}/{step.state['task_id']}/verifycode", {"type": "sms"})]

    assert provider.submit(resent.state, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


def test_resend_when_no_code_is_awaited_is_an_unknown_outcome(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138000")
    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)

    with pytest.raises(ProviderOutcomeUnknown, match="task is not waiting for an SMS code") as caught:
        provider.resend(collecting.state, identity, PASSWORD)
    assert caught.value.state == collecting.state
    reconciled = provider.reconcile(collecting.state)
    assert reconciled is not None and reconciled.outcome == "COLLECTING"


def verifycode_bodies(probe: Probe) -> list[Any]:
    return [body for method, path, _, body in probe.seen if method == "POST" and path.endswith("/verifycode")]


def test_the_step_state_remembers_the_input_type(provider: MoxieProvider) -> None:
    identity, step = logged_in(provider, "13800138014")
    assert step.state["input_type"] == "IMG"

    sms = provider.submit(step.state, identity, PASSWORD, IMAGE_ANSWER)
    assert sms.state["input_type"] == "SMS"
    assert step.state["input_type"] == "IMG"  # a new dict, not the caller's changed


def test_resend_while_an_image_is_awaited_refreshes_the_image(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138014")
    task = f"{TASKS}/{step.state['task_id']}/verifycode"

    refreshed = provider.resend(step.state, identity, PASSWORD)
    assert (refreshed.outcome, refreshed.guide_code) == ("NEED_INPUT", codes.NEED_IMAGE_CODE)
    assert (refreshed.guide_message, refreshed.raw_message) == ("请输入图片验证码", "图片验证码已刷新")
    assert refreshed.auth_image and refreshed.auth_image != step.auth_image
    assert_png(refreshed.auth_image)
    assert refreshed.state["input_type"] == "IMG"
    assert [(method, path, body) for method, path, _, body in probe.seen if path.endswith("/verifycode")] == [
        ("POST", task, {"type": "img"})
    ]

    sms = provider.submit(refreshed.state, identity, PASSWORD, IMAGE_ANSWER)
    assert sms.guide_code == codes.NEED_SMS_CODE
    resent = provider.resend(sms.state, identity, PASSWORD)  # now an SMS code is awaited
    assert (resent.guide_code, resent.raw_message) == (codes.NEED_SMS_CODE, "验证码已重新发送")
    assert verifycode_bodies(probe) == [{"type": "img"}, {"type": "sms"}]
    assert provider.submit(resent.state, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


def test_resend_after_a_wrong_image_code_refreshes_the_image(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138014")
    wrong = provider.submit(step.state, identity, PASSWORD, "zz99")
    assert wrong.guide_code == codes.WRONG_IMAGE_CODE

    refreshed = provider.resend(wrong.state, identity, PASSWORD)
    assert refreshed.guide_code == codes.NEED_IMAGE_CODE  # not 90028: the refresh is no wrong answer
    assert refreshed.auth_image not in (None, step.auth_image, wrong.auth_image)
    assert verifycode_bodies(probe) == [{"type": "img"}]


@pytest.mark.parametrize("state_extra", [{}, {"input_type": "SMS"}, {"input_type": "bogus"}])
def test_resend_without_an_image_awaited_asks_for_sms(
    make: Any, probe: Probe, state_extra: dict[str, Any]
) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138000")
    state = {"task_id": step.state["task_id"], "user_id": step.state["user_id"], **state_extra}

    resent = provider.resend(state, identity, PASSWORD)
    assert (resent.guide_code, resent.state["input_type"]) == (codes.NEED_SMS_CODE, "SMS")
    assert verifycode_bodies(probe) == [{"type": "sms"}]


def test_resend_of_the_wrong_kind_is_an_unknown_outcome_then_reconciled(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    identity, step = logged_in(provider, "13800138014")
    stale = {**step.state, "input_type": "SMS"}  # the state says SMS, the task waits for an image

    with pytest.raises(ProviderOutcomeUnknown, match="task is not waiting for an SMS code"):
        provider.resend(stale, identity, PASSWORD)
    reconciled = provider.reconcile(stale)
    assert reconciled is not None and (reconciled.guide_code, reconciled.state["input_type"]) == (
        codes.NEED_IMAGE_CODE,
        "IMG",
    )
    assert reconciled.auth_image == step.auth_image  # nothing changed upstream
    assert verifycode_bodies(probe) == [{"type": "sms"}]


# -- asynchronous waiting -----------------------------------------------------------------------


def test_deadline_before_the_decision_gives_working_then_check_decides(
    make: Any, sandbox: SandboxProviders, clock: FakeClock
) -> None:
    provider = make(SLOW, interval=1.0, deadline=1.5)

    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code, step.raw_code) == ("WORKING", "", "DOING")
    task_id = step.state["task_id"]
    assert status_reads(sandbox, SLOW, task_id) == 3  # at t=0, 1, 1.5: all LOGIN/DOING
    assert clock.sleeps == [1.0, 0.5]

    decided = provider.check(step.state)
    assert (decided.outcome, decided.guide_code) == ("NEED_INPUT", codes.NEED_SMS_CODE)
    assert decided.state == {**step.state, "input_type": "SMS"}
    assert status_reads(sandbox, SLOW, task_id) == 4


def test_check_with_no_time_reads_once(make: Any, sandbox: SandboxProviders, clock: FakeClock) -> None:
    step = make(SLOW, deadline=0).login(person(), PASSWORD)
    assert step.outcome == "WORKING"

    again = make(SLOW, deadline=0).check(step.state)
    assert again.outcome == "WORKING"
    assert status_reads(sandbox, SLOW, step.state["task_id"]) == 2
    assert clock.sleeps == []


def test_crawl_phase_means_collecting_and_poll_runs(make: Any) -> None:
    provider = make(SLOW)
    identity, step = logged_in(provider, "13800138000")

    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert (collecting.outcome, collecting.raw_code) == ("COLLECTING", "DOING")

    running = provider.poll(collecting.state)  # second CRAWL/DOING answer
    assert (running.status, running.raw_code) == ("RUNNING", "DOING")
    assert provider.poll(running.state).status == "SUCCESS"


def test_status_outage_after_create_is_an_unknown_outcome_naming_the_task(
    make: Any, probe: Probe, clock: FakeClock
) -> None:
    provider = make(PROBE, interval=1.0, deadline=2.0)
    probe.failing_status = 10

    with pytest.raises(ProviderOutcomeUnknown, match="HTTP 503") as caught:
        provider.login(person(), PASSWORD)

    state = caught.value.state
    assert state["task_id"]
    assert clock.sleeps == [1.0, 1.0]
    assert PASSWORD not in str(caught.value)

    # reconcile only reads: while the status is down it raises, the step retries it
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        provider.reconcile(state)

    probe.failing_status = 0
    reconciled = provider.reconcile(state)
    assert reconciled is not None and reconciled.outcome == "NEED_INPUT"
    assert [path for _, path, _, _ in probe.seen].count(TASKS) == 1  # one task, never a second


def test_brief_status_outage_is_ridden_out(make: Any, probe: Probe) -> None:
    provider = make(PROBE)
    probe.failing_status = 2

    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code) == ("NEED_INPUT", codes.NEED_SMS_CODE)


# -- HTTP errors --------------------------------------------------------------------------------


def test_provider_down_at_create_is_an_unknown_outcome_naming_no_task(provider: MoxieProvider) -> None:
    with pytest.raises(ProviderOutcomeUnknown, match="HTTP 503: service unavailable") as caught:
        provider.login(person("13800138009"), PASSWORD)
    assert PASSWORD not in str(caught.value)
    assert caught.value.state == {}
    assert provider.reconcile(caught.value.state) is None


def test_429_is_transient(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(MOXIE, {"detail": "too many requests"}, status=429)
    with pytest.raises(ProviderUnavailable, match="HTTP 429"):
        provider.login(person(), PASSWORD)


def test_bad_apikey_is_a_provider_error(make: Any) -> None:
    with pytest.raises(ProviderError, match="HTTP 401: invalid apikey") as caught:
        make(apikey="wrong-key").login(person(), PASSWORD)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_bad_apikey_on_status_is_a_provider_error(provider: MoxieProvider, make: Any) -> None:
    _, step = logged_in(provider, "13800138000")
    with pytest.raises(ProviderError, match="401"):
        make(apikey="wrong-key").check(step.state)


def test_unknown_task(provider: MoxieProvider) -> None:
    state = {"task_id": "0" * 32, "user_id": "u"}
    identity = person()

    for step in (
        provider.check(state),
        provider.submit(state, identity, PASSWORD, SMS_CODE),
        provider.resend(state, identity, PASSWORD),
    ):
        assert (step.outcome, step.guide_code) == ("FAILED", codes.CODE_EXPIRED_RELOGIN)
        assert (step.raw_code, step.raw_message) == ("404", "task not found")
        assert step.guide_message == "验证码失效，请重新登录"

    result = provider.poll(state)
    assert (result.status, result.raw_code) == ("FAILED", "404")


def test_state_without_task_id_is_an_error(provider: MoxieProvider) -> None:
    with pytest.raises(ProviderError, match="task_id"):
        provider.check({})


def test_recognised_4xx_on_create_is_a_guide(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(MOXIE, {"detail": "账号状态异常", "instance": TASKS}, status=400)

    step = provider.login(person(), PASSWORD)

    assert (step.outcome, step.guide_code) == ("FAILED", codes.ACCOUNT_ABNORMAL)
    assert (step.raw_code, step.raw_message) == ("400", "账号状态异常")
    assert step.state == {}


@pytest.mark.parametrize(("status", "detail"), [(400, "bad request"), (403, "服务密码错误")])
def test_other_4xx_on_create_is_an_error(
    provider: MoxieProvider, sandbox: SandboxProviders, status: int, detail: str
) -> None:
    sandbox.respond_next(MOXIE, {"detail": detail, "instance": TASKS}, status=status)
    with pytest.raises(ProviderError, match=f"HTTP {status}") as caught:
        provider.login(person(), PASSWORD)
    assert not isinstance(caught.value, ProviderUnavailable)


def test_secrets_quoted_by_the_upstream_are_blanked(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    sandbox.respond_next(MOXIE, {"detail": f"bad {PASSWORD} for {NAME} {ID_NUMBER}"}, status=500)
    with pytest.raises(ProviderOutcomeUnknown) as unavailable:
        provider.login(person(), PASSWORD)

    sandbox.respond_next(MOXIE, {"detail": f"{NAME}/{ID_NUMBER} 账号状态异常"}, status=400)
    step = provider.login(person(), PASSWORD)

    for text in (str(unavailable.value), step.raw_message):
        assert PASSWORD not in text and NAME not in text and ID_NUMBER not in text
        assert "***" in text
    assert step.guide_code == codes.ACCOUNT_ABNORMAL


def test_code_quoted_on_input_is_blanked(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    identity, step = logged_in(provider, "13800138000")
    sandbox.respond_next(MOXIE, {"detail": f"input {WRONG_CODE} rejected"}, status=400)
    with pytest.raises(ProviderError) as caught:
        provider.submit(step.state, identity, PASSWORD, WRONG_CODE)
    assert WRONG_CODE not in str(caught.value)


def test_poll_unavailable(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    identity, step = logged_in(provider, "13800138000")
    sandbox.fail_next(f"{MOXIE}{TASKS}/{step.state['task_id']}/status")
    with pytest.raises(ProviderUnavailable):
        provider.poll(step.state)


NOT_THE_PROTOCOL = [
    ("<html><body>系统维护中</body></html>", "text/html"),
    ('{"task_id": "ab', "application/json"),
    ('["task"]', "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), NOT_THE_PROTOCOL)
def test_create_answer_that_is_not_the_protocol_is_an_unknown_outcome(
    provider: MoxieProvider, sandbox: SandboxProviders, body: str, content_type: str
) -> None:
    sandbox.respond_next(MOXIE, body, content_type=content_type)
    with pytest.raises(ProviderOutcomeUnknown, match="not a JSON object") as caught:
        provider.login(person(), PASSWORD)
    assert caught.value.state == {}


def test_create_answer_without_task_id_is_an_unknown_outcome(
    provider: MoxieProvider, sandbox: SandboxProviders
) -> None:
    sandbox.respond_next(MOXIE, {"id": "x"}, status=201)
    with pytest.raises(ProviderOutcomeUnknown, match="task_id"):
        provider.login(person(), PASSWORD)


@pytest.mark.parametrize(("body", "content_type"), NOT_THE_PROTOCOL)
def test_status_answer_that_is_not_the_protocol_is_transient(
    provider: MoxieProvider, sandbox: SandboxProviders, body: str, content_type: str
) -> None:
    _, step = logged_in(provider, "13800138000")
    sandbox.respond_next(f"{MOXIE}{TASKS}/{step.state['task_id']}/status", body, content_type=content_type)
    with pytest.raises(ProviderUnavailable, match="not a JSON object"):
        provider.poll(step.state)


# -- unknown outcomes ---------------------------------------------------------------------------


def test_reconcile_reads_where_the_task_stands(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    _, step = logged_in(provider, "13800138000")
    inputs = sandbox.requests_seen(f"{MOXIE}{TASKS}/{step.state['task_id']}/input")

    reconciled = provider.reconcile(step.state)

    assert reconciled is not None and (reconciled.outcome, reconciled.guide_code) == ("NEED_INPUT", "90001")
    assert sandbox.requests_seen(f"{MOXIE}{TASKS}/{step.state['task_id']}/input") == inputs


def test_reconcile_without_a_task_asks_nothing(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    seen = sandbox.requests_seen(MOXIE)
    assert provider.reconcile({}) is None
    assert sandbox.requests_seen(MOXIE) == seen


def test_accepted_code_answered_late_is_reconciled_as_collecting(make: Any, sandbox: SandboxProviders) -> None:
    provider = make(LATE, read_timeout=0.3)
    identity, step = logged_in(provider, "13800138029")
    inputs = f"{LATE}{TASKS}/{step.state['task_id']}/input"

    with pytest.raises(ProviderOutcomeUnknown, match="ReadTimeout") as caught:
        provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    reconciled = provider.reconcile(step.state)

    assert caught.value.state == {}  # the task is the session's already
    assert reconciled is not None and reconciled.outcome == "COLLECTING"
    assert sandbox.requests_seen(inputs) == 1
    assert provider.poll(reconciled.state).status == "SUCCESS"


def test_input_out_of_turn_is_an_unknown_outcome(make: Any) -> None:
    provider = make(SLOW, deadline=0)  # answers WORKING while the emulator still says DOING
    identity = person()
    step = provider.login(identity, PASSWORD)
    assert step.outcome == "WORKING"

    with pytest.raises(ProviderOutcomeUnknown, match="task is not waiting for an input") as caught:
        provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert caught.value.state == step.state


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 502},
        {"body": "<html><body>系统维护中</body></html>", "content_type": "text/html"},
        {"body": '{"ok": tr', "content_type": "application/json"},
        {"drop": True},
    ],
)
def test_input_failure_after_sending_is_an_unknown_outcome(
    provider: MoxieProvider, sandbox: SandboxProviders, fault: dict[str, Any]
) -> None:
    identity, step = logged_in(provider, "13800138000")
    path = f"{MOXIE}{TASKS}/{step.state['task_id']}/input"
    if "status" in fault:
        sandbox.fail_next(path, status=fault["status"])
    elif "drop" in fault:
        sandbox.respond_next(path, {})  # the emulator never sees the code
        sandbox.drop_next(path)
    else:
        sandbox.respond_next(path, fault["body"], content_type=fault["content_type"])

    with pytest.raises(ProviderOutcomeUnknown):
        provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    reconciled = provider.reconcile(step.state)

    # the code never arrived: the task still waits for it, where it stood
    assert reconciled is not None and (reconciled.outcome, reconciled.guide_code) == ("NEED_INPUT", "90001")
    assert provider.submit(step.state, identity, PASSWORD, SMS_CODE).outcome == "COLLECTING"


def test_maintenance_page_at_create_is_an_unknown_outcome(make: Any) -> None:
    provider = make(SLOW)
    for _ in range(2):  # retries find it under maintenance too
        with pytest.raises(ProviderOutcomeUnknown, match="not a JSON object") as caught:
            provider.login(person("13800138030"), PASSWORD)
        assert caught.value.state == {}


# -- status answers the emulator never gives -------------------------------------------------


def scripted_check(provider: MoxieProvider, sandbox: SandboxProviders, body: Any) -> CarrierStep:
    sandbox.respond_next(MOXIE, body)
    return provider.check({"task_id": "scripted"})


@pytest.mark.parametrize(
    "body",
    [
        status_body("PAUSED"),
        status_body("WAIT_CODE", input={"type": "VOICE"}),
    ],
)
def test_status_answers_with_an_unknown_meaning_are_errors(
    provider: MoxieProvider, sandbox: SandboxProviders, body: Any
) -> None:
    with pytest.raises(ProviderError) as caught:
        scripted_check(provider, sandbox, body)
    assert not isinstance(caught.value, (ProviderUnavailable, ProviderOutcomeUnknown))


@pytest.mark.parametrize(
    "body",
    [
        status_body("WAIT_CODE", input={"type": "IMG", "value": ""}),
        {"phase": "LOGIN"},
        ["not", "an", "object"],
    ],
)
def test_status_answers_that_are_not_the_protocol_are_transient(
    make: Any, sandbox: SandboxProviders, body: Any
) -> None:
    with pytest.raises(ProviderUnavailable):
        scripted_check(make(deadline=0), sandbox, body)


def test_done_succ_during_login_is_collecting(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    step = scripted_check(provider, sandbox, status_body("DONE_SUCC", phase="DONE", finished=True))
    assert (step.outcome, step.raw_code) == ("COLLECTING", "DONE_SUCC")


def test_wait_code_without_instruction_uses_the_standard_message(
    provider: MoxieProvider, sandbox: SandboxProviders
) -> None:
    body = status_body("WAIT_CODE", description="验证码已发送至138****8000", input={"type": "sms"})
    step = scripted_check(provider, sandbox, body)
    assert (step.guide_code, step.guide_message) == (codes.NEED_SMS_CODE, "请输入短信验证码")
    assert step.raw_message == "验证码已发送至138****8000"


def test_poll_states(provider: MoxieProvider, sandbox: SandboxProviders) -> None:
    state = {"task_id": "scripted"}
    expected = [
        (status_body("DOING", phase="CRAWL"), "RUNNING"),
        (status_body("DONE_SUCC", finished=False), "RUNNING"),
        (status_body("DONE_SUCC", finished=True), "SUCCESS"),
        (status_body("DONE_FAIL", description="数据采集失败"), "FAILED"),
        (status_body("DONE_TIMEOUT"), "FAILED"),
    ]
    for body, status in expected:
        sandbox.respond_next(MOXIE, body)
        result = provider.poll(state)
        assert (result.status, result.raw_code) == (status, body["phase_status"])
    sandbox.respond_next(MOXIE, status_body("SOMETHING"))
    with pytest.raises(ProviderError):
        provider.poll(state)


# -- the emulator on its own ----------------------------------------------------------------------


def test_emulator_routes_and_errors() -> None:
    emulator = MoxieEmulator()
    auth = {"Authorization": f"apikey {DEFAULT_APIKEY}"}

    assert emulator.handle("GET", TASKS, {}, auth, None)[0] == 405
    assert emulator.handle("GET", f"{TASKS}/x/unknown", {}, auth, None)[0] == 404
    assert emulator.handle("POST", TASKS, {}, auth, {"account": "13800138000"}) == (
        400,
        {"detail": "password is required", "instance": TASKS},
    )
    assert emulator.handle("POST", TASKS, {}, {}, {}) == (401, {"detail": "invalid apikey", "instance": TASKS})

    status, body = emulator.handle(
        "POST", TASKS, {}, auth, {"account": "13800138000", "password": "p", "user_id": "u"}
    )
    assert status == 201
    task = f"{TASKS}/{body['task_id']}"
    # still LOGIN/DOING: an input is out of turn
    assert emulator.handle("POST", f"{task}/input", {}, auth, {"input": SMS_CODE})[0] == 400
    assert emulator.handle("GET", f"{task}/status", {}, auth, None)[1]["phase_status"] == "DOING"
    status, view = emulator.handle("GET", f"{task}/status", {}, auth, None)
    assert view == {
        "task_id": body["task_id"],
        "phase": "LOGIN",
        "phase_status": "WAIT_CODE",
        "description": "请输入短信验证码",
        "finished": False,
        "input": {"type": "SMS", "value": ""},
    }
    assert emulator.handle("POST", f"{task}/verifycode", {}, auth, {"type": "voice"})[0] == 400
    assert emulator.handle("POST", f"{task}/verifycode", {}, auth, {"type": "img"}) == (
        400,
        {"detail": "task is not waiting for an image code", "instance": f"{task}/verifycode"},
    )


def test_emulator_image_refresh() -> None:
    emulator = MoxieEmulator(login_polls=0)
    auth = {"Authorization": f"apikey {DEFAULT_APIKEY}"}
    _, body = emulator.handle("POST", TASKS, {}, auth, {"account": "13800138014", "password": "p", "user_id": "u"})
    task = f"{TASKS}/{body['task_id']}"
    first = emulator.handle("GET", f"{task}/status", {}, auth, None)[1]
    assert first["input"]["type"] == "IMG"

    assert emulator.handle("POST", f"{task}/verifycode", {}, auth, {"type": "sms"}) == (
        400,
        {"detail": "task is not waiting for an SMS code", "instance": f"{task}/verifycode"},
    )
    assert emulator.handle("POST", f"{task}/verifycode", {}, auth, {"type": "IMG"}) == (201, {})
    refreshed = emulator.handle("GET", f"{task}/status", {}, auth, None)[1]
    assert (refreshed["phase_status"], refreshed["description"]) == ("WAIT_CODE", "图片验证码已刷新")
    assert refreshed["input"]["type"] == "IMG" and refreshed["input"]["value"] != first["input"]["value"]
    assert_png(refreshed["input"]["value"])


def test_captcha_images_are_valid_pngs() -> None:
    assert_png(captcha_image())
    assert_png(base64.b64encode(tiny_png(3, 2, seed=7)).decode())
    assert captcha_image(1) != captcha_image(2)


# -- logs ---------------------------------------------------------------------------------------


def test_no_secret_in_logs(make: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    provider = make()

    identity, step = logged_in(provider, "13800138000")
    step = provider.submit(step.state, identity, PASSWORD, WRONG_CODE)
    step = provider.resend(step.state, identity, PASSWORD)
    collecting = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    provider.poll(collecting.state)

    identity, image_step = logged_in(provider, "13800138014")
    wrong = provider.submit(image_step.state, identity, PASSWORD, "ZZ99")
    sms = provider.submit(wrong.state, identity, PASSWORD, IMAGE_ANSWER)
    provider.submit(sms.state, identity, PASSWORD, SMS_CODE)
    provider.login(person("13800138002"), PASSWORD)
    with pytest.raises(ProviderOutcomeUnknown):
        provider.login(person("13800138009"), PASSWORD)

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "sandbox moxie create mobile=138****8000" in text
    assert "moxie task" in text
    # task ids are hex: drop long hex runs so a code can't hide inside one by chance
    without_ids = re.sub(r"[0-9a-f]{8,}", "", text)
    for secret in (PASSWORD, NAME, ID_NUMBER, SMS_CODE, WRONG_CODE, IMAGE_ANSWER, "ZZ99", "13800138000"):
        assert secret not in without_ids, secret
    for image in (image_step.auth_image, wrong.auth_image):
        assert image and image not in text
        assert image[:16] not in text
