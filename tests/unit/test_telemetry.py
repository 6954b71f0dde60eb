"""carrier_auth.telemetry and where the funnel is counted: the EMF lines themselves (namespace,
dimensions, values, as CloudWatch reads them from stdout), the province of a region, and that
a task's steps - including the retries the ASL and Lambda make - count each funnel step once.

The flow is driven as in test_flow.py: its step entry points with moto and the sandbox
providers; the start through ``facade.launch`` with moto's Step Functions (no execution runs).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from carrier_auth import codes, crypto, facade, flow, numbers, sessions, telemetry
from carrier_auth.providers.base import Identity
from local.sandbox import SMS_CODE, SandboxProviders
from tests.unit.conftest import REGION

NAMESPACE = "CarrierAuth"
SERVICE = "carrier-auth"
ORG = "SANDBOX"
PERSON = {"name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}


@pytest.fixture
def namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """What template.yaml's Globals give every function."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents written to stdout since the last call."""
    docs = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


def metric(doc: dict[str, Any]) -> tuple[str, dict[str, str], float]:
    """(name, dimensions, value) of a one-metric EMF document."""
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    (name,) = [m["Name"] for m in directive["Metrics"]]
    (dimension_set,) = directive["Dimensions"]
    value = doc[name]
    return name, {d: doc[d] for d in dimension_set}, value[0] if isinstance(value, list) else value


def counts(docs: list[dict[str, Any]]) -> Counter[str]:
    return Counter(metric(d)[0] for d in docs)


# ---------------------------------------------------------------- the EMF line
def test_funnel_step_is_one_emf_line_with_carrier_and_province(
    namespace: None, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry.funnel("FunnelStarted", {"isp": "中国移动", "region": "江苏省常州市"})

    (doc,) = emitted(capsys)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Metrics"] == [{"Name": "FunnelStarted", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["Carrier", "Province", "service"]
    assert metric(doc) == ("FunnelStarted", {"Carrier": "中国移动", "Province": "江苏", "service": SERVICE}, 1)


def test_unknown_carrier_and_province_are_named(namespace: None, capsys: pytest.CaptureFixture[str]) -> None:
    telemetry.funnel("FunnelSubmitted", {})

    (doc,) = emitted(capsys)
    assert metric(doc)[1] == {"Carrier": telemetry.UNKNOWN, "Province": telemetry.UNKNOWN, "service": SERVICE}


def test_guide_code_and_upstream_metrics(namespace: None, capsys: pytest.CaptureFixture[str]) -> None:
    telemetry.guide_code(codes.NEED_SMS_CODE)
    telemetry.emit("UpstreamLatency", 412.5, "Milliseconds", Provider="juxinli")

    guide, latency = emitted(capsys)
    assert metric(guide) == ("GuideCodeAnswered", {"GuideCode": "90001", "service": SERVICE}, 1)
    assert metric(latency) == ("UpstreamLatency", {"Provider": "juxinli", "service": SERVICE}, 412.5)
    assert latency["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "UpstreamLatency", "Unit": "Milliseconds"}]


def test_without_a_namespace_nothing_is_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    telemetry.funnel("FunnelStarted", {"isp": "中国移动"})
    assert capsys.readouterr().out == ""


def test_a_bad_metric_never_raises(namespace: None, capsys: pytest.CaptureFixture[str]) -> None:
    telemetry.emit("UpstreamLatency", 1, "Fortnights", Provider="moxie")
    assert emitted(capsys) == []


# ---------------------------------------------------------------- province
@pytest.mark.parametrize(
    ("region", "province"),
    [
        ("江苏省常州市", "江苏"),
        ("北京市", "北京"),
        ("内蒙古自治区呼和浩特市", "内蒙古"),
        ("黑龙江省哈尔滨市", "黑龙江"),
        ("广西壮族自治区南宁市", "广西"),
        ("新疆维吾尔自治区乌鲁木齐市", "新疆"),
        ("", telemetry.UNKNOWN),
        (None, telemetry.UNKNOWN),
        ("香港", telemetry.UNKNOWN),
    ],
)
def test_province_of_a_region(region: str | None, province: str) -> None:
    assert telemetry.province(region) == province


@pytest.mark.parametrize("mobile", ["13800138000", "13961234567", "18912345678", "15601234567"])
def test_province_agrees_with_numbers(mobile: str) -> None:
    info = numbers.describe(mobile)
    assert telemetry.province(info.region) == (info.province or telemetry.UNKNOWN)


# ---------------------------------------------------------------- the flow counts each step once
@pytest.fixture
def env(
    sandbox: SandboxProviders,
    sessions_table: str,
    kms_key_id: str,
    make_secret: Any,
    namespace: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SandboxProviders]:
    """The carrier function's settings, pointing at moto and the sandbox (Juxinli)."""
    monkeypatch.setenv("CARRIER_PROVIDER", "juxinli")
    monkeypatch.setenv("JUXINLI_BASE_URL", sandbox.juxinli_base_url)
    monkeypatch.setenv("JUXINLI_ORG", ORG)
    monkeypatch.setenv("JUXINLI_SECRET", make_secret(json.dumps({"client_secret": "sandbox-juxinli-secret"})))
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", "2")
    yield sandbox


def new_task() -> str:
    """A started session of a 中国移动 number from 江苏 (as the start facade writes it)."""
    task_id = str(uuid.uuid4())
    secrets = json.dumps({**PERSON, "password": "pw-778899"}, ensure_ascii=False)
    sessions.create(
        {
            "task_id": task_id,
            "identity_verdict": "accepted",
            "secrets_enc": crypto.encrypt(task_id, secrets),
            "isp": "中国移动",
            "region": "江苏省常州市",
        }
    )
    return task_id


def step(task_id: str, action: str, entered: str, code: str | None = None) -> dict:
    """A waiting Task state's invocation (see test_flow.step); ``entered`` is the same for each
    retry of one entry."""
    event: dict[str, Any] = {"task_id": task_id}
    event |= {"entered": entered, "task_token": f"token-{uuid.uuid4().hex}"}
    if action != "login":
        event["input"] = {"action": action}
    if code is not None:
        event["input"]["code_enc"] = crypto.encrypt(task_id, code)
    return (flow.login if action == "login" else flow.send_input)(event)


def collecting(task_id: str) -> None:
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}
    assert step(task_id, "submit", "s-1", code=SMS_CODE) == {"outcome": "COLLECTING"}


def test_happy_flow_counts_each_funnel_step_once(env: SandboxProviders, capsys: pytest.CaptureFixture[str]) -> None:
    task_id = new_task()
    emitted(capsys)

    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}  # asks for the SMS code
    assert step(task_id, "login", "t-1") == {"outcome": "NEED_INPUT"}  # the ASL retries the same entry
    assert step(task_id, "submit", "s-1", code="000000") == {"outcome": "NEED_INPUT"}  # a wrong code
    assert step(task_id, "resend", "r-1") == {"outcome": "NEED_INPUT"}  # a new SMS: asked again
    assert step(task_id, "submit", "s-2", code=SMS_CODE) == {"outcome": "COLLECTING"}  # 105
    assert step(task_id, "submit", "s-2", code=SMS_CODE) == {"outcome": "COLLECTING"}  # retried
    assert flow.finish(task_id, codes.CALLBACK_SUCCESS, "ok") is True
    assert flow.finish(task_id, codes.CALLBACK_SUCCESS, "ok") is False  # published already
    flow.end_with_error(task_id, "execution FAILED")  # the reconcile function, late: nothing new

    docs = emitted(capsys)
    funnel = [metric(d) for d in docs if metric(d)[0] in telemetry.FUNNEL]
    assert sorted(name for name, _, _ in funnel) == ["FunnelSmsRequested", "FunnelSubmitted", "FunnelSucceeded"]
    for _name, dims, value in funnel:
        assert (dims, value) == ({"Carrier": "中国移动", "Province": "江苏", "service": SERVICE}, 1)
    answered = Counter(metric(d)[1]["GuideCode"] for d in docs if metric(d)[0] == telemetry.GUIDE_CODE_ANSWERED)
    assert answered == {codes.NEED_SMS_CODE: 2, codes.WRONG_SMS_CODE: 1}  # every answer, the SMS ask both times
    item = sessions.get(task_id)
    assert item is not None and item["status"] == sessions.SUCCESS


def test_defeat_is_counted_by_the_write_that_decided_it(
    env: SandboxProviders, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = new_task()
    collecting(task_id)
    stale = sessions.get(task_id)  # what a late second finisher read: still COLLECTING
    emitted(capsys)

    assert flow.finish(task_id, codes.CALLBACK_DEFEAT, "defeat") is True
    flow.end_with_error(task_id, "execution TIMED_OUT")  # publishes only if it never did
    monkeypatch.setattr(flow, "_session", lambda _task_id: stale)
    with pytest.raises(ClientError):  # the conditional update refuses the second decision
        flow.finish(task_id, codes.CALLBACK_SUCCESS, "ok")

    assert counts(emitted(capsys)) == {"FunnelDefeated": 1}


def test_a_refused_checkpoint_counts_nothing(env: SandboxProviders, capsys: pytest.CaptureFixture[str]) -> None:
    task_id = new_task()
    sessions.update(task_id, {"status": sessions.FAILED})
    emitted(capsys)

    with pytest.raises(ClientError):
        sessions.checkpoint(task_id, sessions.WAITING_INPUT, sessions.answer(codes.IN_PROGRESS, codes.NEED_SMS_CODE))

    assert emitted(capsys) == []


# ---------------------------------------------------------------- the start
@pytest.fixture
def start_env(
    sessions_table: str, kms_key_id: str, pii_hash_secret: str, namespace: None, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The start facade's settings: a state machine in moto (nothing runs it), a short wait."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    arn = sfn.create_state_machine(
        name=f"unit-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/unit-test",
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("FACADE_WAIT_SECONDS", "1")
    Logger(service=facade.logger.service)  # the function's own logger: the facade's is its child
    return arn


def test_a_started_task_is_counted_once_by_its_number(start_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    person = Identity(**PERSON)
    info = numbers.describe(person.mobile)
    # a hosted-page session, started twice (two requests of its page): one execution, one count
    task_id = str(uuid.uuid4())
    sessions.create({"task_id": task_id, "tenant": "k"}, status=sessions.AWAITING_USER)
    emitted(capsys)

    facade.launch("k", "u-1", person, "pw", {}, task_id=task_id)
    facade.launch("k", "u-1", person, "pw", {}, task_id=task_id)

    (doc,) = [d for d in emitted(capsys) if metric(d)[0] == "FunnelStarted"]
    assert metric(doc)[1] == {
        "Carrier": info.isp or telemetry.UNKNOWN,
        "Province": info.province or telemetry.UNKNOWN,
        "service": SERVICE,
    }
    executions = boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=start_env)
    assert len(executions["executions"]) == 1
