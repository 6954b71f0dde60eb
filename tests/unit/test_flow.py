"""The carrier steps of flow.py without the stack: its entry points as the ASL's Tasks invoke them,
with moto for DynamoDB / KMS / Secrets Manager and the sandbox providers over real HTTP.

The subject: a state-changing upstream call (login, submit, resend) happens at most once per
step input, however often the step is invoked for it, and an ambiguous failure is settled by
asking the provider where the task stands (docs/upstream-calls.md).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from carrier_auth import codes, crypto, flow, sessions
from carrier_auth.providers.base import ProviderUnavailable
from local.sandbox import SMS_CODE, SandboxProviders
from local.sandbox.moxie import DEFAULT_APIKEY, MoxieEmulator

ORG = "SANDBOX"
JUXINLI_SECRET = "sandbox-juxinli-secret"
PASSWORD = "pw-778899"
TIMEOUT = "0.5"  # UPSTREAM_TIMEOUT_SECONDS: the read timeout of every adapter
LATE = 1.0  # how late a delayed answer comes: past the read timeout

APPLICATION = f"/juxinli/orgApi/rest/v2/applications/{ORG}"
COLLECT = "/juxinli/orgApi/rest/v2/messages/collect/req"
REPORT_TOKEN = "/juxinli/api/v2/access_report_token"
JOB_STATUS = "/juxinli/api/v2/job/access_jobs_status_by_token"
MOXIE = "/moxie"


@pytest.fixture(scope="module")
def providers(sandbox_server: SandboxProviders) -> SandboxProviders:
    sandbox_server.mount(MOXIE, MoxieEmulator())
    return sandbox_server


@pytest.fixture
def env(
    providers: SandboxProviders,
    sessions_table: str,
    kms_key_id: str,
    make_secret: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SandboxProviders]:
    """The carrier function's settings, pointing at moto and the sandbox."""
    monkeypatch.setenv("CARRIER_PROVIDER", "juxinli")
    monkeypatch.setenv("CARRIER_PROVIDER_FALLBACK", "moxie")
    monkeypatch.setenv("JUXINLI_BASE_URL", providers.juxinli_base_url)
    monkeypatch.setenv("JUXINLI_ORG", ORG)
    monkeypatch.setenv("JUXINLI_SECRET", make_secret(json.dumps({"client_secret": JUXINLI_SECRET})))
    monkeypatch.setenv("MOXIE_BASE_URL", providers.url(MOXIE))
    monkeypatch.setenv("MOXIE_SECRET", make_secret(json.dumps({"apikey": DEFAULT_APIKEY})))
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", TIMEOUT)
    yield providers
    providers.clear_faults()


def new_task(mobile: str = "13800138000", provider: str | None = None, legacy: bool = False) -> str:
    """A session as the start facade writes it (``legacy``: as it did before ``secrets_enc``)."""
    task_id = str(uuid.uuid4())
    person = {"name": "张三", "id_number": "11010519491231002X", "mobile": mobile}
    item: dict[str, Any] = {
        "task_id": task_id,
        "identity_verdict": "accepted",  # the pre-check passed: begin goes straight to the login
    }
    if legacy:
        item["identity_enc"] = crypto.encrypt(task_id, json.dumps(person, ensure_ascii=False))
        item["password_enc"] = crypto.encrypt(task_id, PASSWORD)
    else:
        item["secrets_enc"] = crypto.encrypt(task_id, json.dumps({**person, "password": PASSWORD}, ensure_ascii=False))
    if provider:
        item["provider"] = provider
    sessions.create(item)
    return task_id


def step(task_id: str, action: str, entered: str = "", code: str | None = None, token: str = "") -> dict:
    """What a Task state sends: ``login`` is the Begin state, ``submit`` / ``resend`` the
    CarrierInput state with the app's input; ``entered`` stands for ``$$.State.EnteredTime``
    (one per entry, the same for each of its retries), ``token`` for ``$$.Task.Token``."""
    entry = {"login": flow.login, "submit": flow.send_input, "resend": flow.send_input}.get(action)
    entry = entry or getattr(flow, action)  # check_login, failover, ...
    event: dict[str, Any] = {"task_id": task_id}
    if entered:
        event["entered"] = entered
    if action in ("submit", "resend"):
        event["input"] = {"action": action}
    if code is not None:
        event["input"]["code_enc"] = crypto.encrypt(task_id, code)
    if token:
        event["task_token"] = token
    return entry(event)


def session(task_id: str) -> dict[str, Any]:
    item = sessions.get(task_id)
    assert item is not None
    return item


def waiting(task_id: str) -> None:
    """Log in (NEED_INPUT): the Begin step parks its token with the prompt."""
    assert step(task_id, "login", "login-1", token="token") == {"outcome": "NEED_INPUT"}
    assert session(task_id)["status"] == sessions.WAITING_INPUT


def step_park(task_id: str) -> None:
    """A later waiting step's token parked (UpstreamBusy's, after a 90035)."""
    flow._park(session(task_id), "token")


class Seen:
    """Counts of sandbox requests to exactly these paths since it was made."""

    def __init__(self, sandbox: SandboxProviders, *paths: str) -> None:
        self._sandbox = sandbox
        self._before = {path: sandbox.requests_seen(path, exact=True) for path in paths}

    def __getitem__(self, path: str) -> int:
        return self._sandbox.requests_seen(path, exact=True) - self._before[path]


# ---------------------------------------------------------------- the record of the call
@pytest.mark.parametrize("legacy", [False, True], ids=["secrets_enc", "identity_enc+password_enc"])
def test_login_records_the_call_with_its_outcome(env: SandboxProviders, legacy: bool) -> None:
    task_id = new_task(legacy=legacy)

    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}

    item = session(task_id)
    assert item["upstream_call"] == {"key": "login@t-1", "outcome": "NEED_INPUT"}
    assert item["pending"]["guide_code"] == codes.NEED_SMS_CODE
    seen = Seen(env, APPLICATION, COLLECT)
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}  # invoked again: nothing sent
    assert (seen[APPLICATION], seen[COLLECT]) == (0, 0)


def test_step_invoked_again_after_it_finished_calls_nothing(env: SandboxProviders) -> None:
    task_id = new_task()
    waiting(task_id)
    assert step(task_id, "submit", "s-1", code="000000") == {"outcome": "NEED_INPUT"}
    seen = Seen(env, APPLICATION, COLLECT)

    # e.g. Lambda.ServiceException after the function ran: the ASL retries the same entry
    assert step(task_id, "submit", "s-1", code="000000") == {"outcome": "NEED_INPUT"}

    assert (seen[APPLICATION], seen[COLLECT]) == (0, 0)
    assert session(task_id)["wrong_codes"] == 1  # counted once


def test_connect_error_forgets_the_call_so_the_retry_calls(
    env: SandboxProviders, monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped = SandboxProviders().start()
    monkeypatch.setenv("JUXINLI_BASE_URL", stopped.juxinli_base_url)
    stopped.stop()
    task_id = new_task()

    with pytest.raises(ProviderUnavailable):
        step(task_id, "login", "t-1")
    assert "upstream_call" not in session(task_id)

    monkeypatch.setenv("JUXINLI_BASE_URL", env.juxinli_base_url)
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}


# ---------------------------------------------------------------- an input whose outcome is unknown
def test_code_accepted_but_answered_late_is_105(env: SandboxProviders) -> None:
    task_id = new_task()
    waiting(task_id)
    seen = Seen(env, COLLECT)
    env.delay_next(COLLECT, LATE)  # the emulator takes the code, the answer comes after the timeout

    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}

    item = session(task_id)
    assert (item["status"], item["answer"]["code"]) == (sessions.COLLECTING, codes.SUBMITTED)
    assert item["upstream_call"] == {"key": "submit@s-1", "outcome": "COLLECTING"}
    assert seen[COLLECT] == 1


def test_retried_submit_after_an_ambiguous_failure_never_sends_the_code_twice(env: SandboxProviders) -> None:
    task_id = new_task()
    waiting(task_id)
    seen = Seen(env, COLLECT)
    env.delay_next(COLLECT, LATE)
    env.fail_next(REPORT_TOKEN, status=503)  # and reconciling cannot read at first

    with pytest.raises(ProviderUnavailable):
        step(task_id, "submit", "s-1", code=SMS_CODE)
    assert session(task_id)["upstream_call"] == {"key": "submit@s-1"}  # still unsettled

    # the ASL retries ProviderUnavailable: the step reconciles instead of submitting again
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    assert seen[COLLECT] == 1
    assert session(task_id)["answer"]["code"] == codes.SUBMITTED


def test_unsettled_call_found_on_entry_is_reconciled(env: SandboxProviders) -> None:
    """The function died after the call (its record is there, its outcome not): no second call."""
    task_id = new_task()
    waiting(task_id)
    sessions.update(task_id, {"upstream_call": {"key": "submit@s-1"}})
    seen = Seen(env, COLLECT)

    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "NEED_INPUT"}

    assert seen[COLLECT] == 0
    item = session(task_id)
    assert item["pending"]["guide_code"] == codes.CARRIER_BUSY  # no effect seen: keep waiting
    assert item["upstream_call"] == {"key": "submit@s-1", "outcome": "NEED_INPUT"}


@pytest.mark.parametrize(
    "fault",
    [
        {"body": "<html><body>系统维护中</body></html>", "content_type": "text/html"},
        {"body": '{"success": true, "data": {"proc', "content_type": "application/json"},
        {"status": 502},
    ],
)
def test_input_with_no_visible_effect_keeps_waiting_with_90035(env: SandboxProviders, fault: dict[str, Any]) -> None:
    task_id = new_task()
    waiting(task_id)
    if "status" in fault:
        env.fail_next(COLLECT, status=fault["status"])
    else:
        env.respond_next(COLLECT, fault["body"], content_type=fault["content_type"])

    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "NEED_INPUT"}
    assert session(task_id)["pending"]["guide_code"] == codes.CARRIER_BUSY
    step_park(task_id)

    assert step(task_id, "submit", "s-2", code=SMS_CODE) == {"outcome": "COLLECTING"}


def test_code_accepted_while_we_gave_up_is_105_at_the_next_input(env: SandboxProviders) -> None:
    """The ASL gave up reconciling (UpstreamBusy: 90035); the user sends the code again: the
    provider says the task is elsewhere, and where it stands is collecting."""
    task_id = new_task()
    waiting(task_id)
    seen = Seen(env, COLLECT)
    env.delay_next(COLLECT, LATE)
    env.fail_next(REPORT_TOKEN, status=503)
    with pytest.raises(ProviderUnavailable):
        step(task_id, "submit", "s-1", code=SMS_CODE)
    assert flow.answer_busy({"task_id": task_id}) == {"outcome": "NEED_INPUT"}
    step_park(task_id)

    assert step(task_id, "submit", "s-2", code=SMS_CODE) == {"outcome": "COLLECTING"}
    assert seen[COLLECT] == 2  # the code once, and the out-of-turn refusal of the repeat
    assert session(task_id)["answer"]["code"] == codes.SUBMITTED


def test_resend_with_an_unknown_outcome_keeps_waiting(env: SandboxProviders) -> None:
    task_id = new_task()
    waiting(task_id)
    seen = Seen(env, COLLECT)
    env.drop_next(COLLECT)  # the resend is taken, the connection lost

    assert step(task_id, "resend", "r-1") == {"outcome": "NEED_INPUT"}
    assert step(task_id, "resend", "r-1") == {"outcome": "NEED_INPUT"}  # a retry asks nothing again
    assert seen[COLLECT] == 1
    assert session(task_id)["pending"]["guide_code"] == codes.CARRIER_BUSY


# ---------------------------------------------------------------- a login whose outcome is unknown
def test_login_with_no_visible_effect_is_retried_afresh(env: SandboxProviders) -> None:
    task_id = new_task()
    seen = Seen(env, APPLICATION, COLLECT)
    env.respond_next(COLLECT, "<html>维护</html>", content_type="text/html")

    with pytest.raises(ProviderUnavailable, match="no effect of the login"):
        step(task_id, "login", "t-1")
    item = session(task_id)
    assert "upstream_call" not in item and item["provider_state"] == {}

    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}  # the ASL's retry
    assert (seen[APPLICATION], seen[COLLECT]) == (2, 2)  # a new application, never the old token


def test_moxie_task_created_but_answered_late_is_abandoned_for_a_fresh_login(env: SandboxProviders) -> None:
    """The create's answer (the task id) never arrived: nothing names that task, so the login is
    retried afresh - the rare case where the user may get a second SMS."""
    task_id = new_task(provider="moxie")
    creates = f"{MOXIE}/carrier/v3/tasks"
    seen = Seen(env, creates)
    env.delay_next(creates, LATE)

    with pytest.raises(ProviderUnavailable, match="no effect of the login"):
        step(task_id, "login", "t-1")
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}
    assert seen[creates] == 2


def test_moxie_code_accepted_but_answered_late_is_105(env: SandboxProviders) -> None:
    task_id = new_task(provider="moxie")
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}
    step_park(task_id)
    task = session(task_id)["provider_state"]["task_id"]
    inputs = f"{MOXIE}/carrier/v3/tasks/{task}/input"
    seen = Seen(env, inputs)
    env.delay_next(inputs, LATE)

    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    assert seen[inputs] == 1


# ---------------------------------------------------------------- reads
def test_poll_that_is_not_the_protocol_is_a_counted_poll(env: SandboxProviders, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_COLLECT_POLLS", "2")
    task_id = new_task()
    waiting(task_id)
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    env.respond_next(JOB_STATUS, "<html>维护</html>", content_type="text/html", count=2)

    assert flow.collect_poll(task_id, 1) is None  # poll again after the interval
    assert flow.collect_poll(task_id, 2) == codes.CALLBACK_DEFEAT  # the bound holds without answers
    assert session(task_id)["polls"] == 2


def test_poll_of_a_task_no_longer_collecting_answers_what_it_became(env: SandboxProviders) -> None:
    task_id = new_task()
    waiting(task_id)
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}
    flow.finish(task_id, codes.CALLBACK_SUCCESS, "ok")
    seen = Seen(env, JOB_STATUS)

    assert flow.collect_poll(task_id, 3) == codes.CALLBACK_SUCCESS
    assert flow.collect_poll(str(uuid.uuid4()), 1) == codes.CALLBACK_DEFEAT  # gone (TTL)
    assert seen[JOB_STATUS] == 0
