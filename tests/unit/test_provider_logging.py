"""The upstream calls' structured logs and metrics (providers/http.py and the adapters).

Every call logs one Powertools line ``upstream call`` (INFO, WARNING when it failed) through a
child of the function's service logger, and writes ``UpstreamCall`` / ``UpstreamLatency`` (and
``UpstreamFailed``) EMF lines with the dimension Provider. Both go to stdout, where capsys reads
them: the service logger's handler is pointed at capsys's stdout for each test. Nothing a user
typed or a provider credential may appear there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from carrier_auth.providers import http
from carrier_auth.providers.base import Identity, ProviderError, ProviderOutcomeUnknown, ProviderUnavailable
from carrier_auth.providers.juxinli import JuxinliProvider
from carrier_auth.providers.moxie import MoxieProvider
from carrier_auth.providers.three_factor import ThreeFactorProvider
from carrier_auth.providers.yuxin import YuxinProvider
from local.sandbox import SMS_CODE, SandboxProviders
from local.sandbox.juxinli import QUERY_PASSWORD
from local.sandbox.moxie import DEFAULT_APIKEY, MoxieEmulator
from local.sandbox.yuxin import DEFAULT_AES_KEY, DEFAULT_TOKEN, YuxinEmulator
from tests.leaks import leaks

from .test_http import RawServer, answer, never_answer, refused_url, serve  # noqa: F401 - serve is a fixture

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ROOT / "layers" / "common" / "carrier_auth" / "providers"
NAMESPACE = "CarrierAuth"
SERVICE = "carrier-auth"
KEYS = {"provider", "operation", "method", "http_status", "latency_ms", "outcome"}
TIMEOUT = (2, 0.5)

NAME = "张三"
ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"
PASSWORD = "pw-778899"
JUXINLI_SECRET = "sandbox-juxinli-secret"
THREE_FACTOR_TOKEN = "sandbox-three-factor-token"
MOXIE = "/moxie-logs"
MOXIE_SLOW = "/moxie-logs-slow"  # three status reads before the login is decided
YUXIN = "/yuxin-logs"
# every value a request of these tests carries that must never reach the output
SECRETS = {
    NAME, ID_NUMBER, MOBILE, PASSWORD, SMS_CODE, QUERY_PASSWORD, JUXINLI_SECRET, THREE_FACTOR_TOKEN,
    DEFAULT_APIKEY, DEFAULT_TOKEN, DEFAULT_AES_KEY, "do-not-print-me",
}  # fmt: skip


def person(mobile: str = MOBILE) -> Identity:
    return Identity(name=NAME, id_number=ID_NUMBER, mobile=mobile)


@dataclass
class Output:
    """What one stretch of a test wrote: the log lines, the EMF documents and the raw text."""

    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("message") == "upstream call"]

    def metric(self, name: str) -> list[tuple[dict[str, str], float]]:
        """(dimensions, value) of every ``name`` document."""
        found = []
        for doc in self.metrics:
            (directive,) = doc["_aws"]["CloudWatchMetrics"]
            if [m["Name"] for m in directive["Metrics"]] == [name]:
                assert directive["Namespace"] == NAMESPACE
                (dimensions,) = directive["Dimensions"]
                value = doc[name]
                found.append(({d: doc[d] for d in dimensions}, value[0] if isinstance(value, list) else value))
        return found

    def units(self, name: str) -> set[str]:
        declared = [m for doc in self.metrics for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
        return {m["Unit"] for m in declared if m["Name"] == name}


def parse(text: str) -> Output:
    output = Output(text=text)
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        (output.metrics if "_aws" in doc else output.logs).append(doc)
    return output


class CurrentStdout:
    """Whatever ``sys.stdout`` is when a line is written: capsys's during the test (a stream
    taken during fixture setup is not the one the test's capsys reads)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Output]]:
    """``captured()``: everything written since the last call. The function's own logger (the
    parent of the providers' child loggers) writes to capsys's stdout; metrics have a namespace,
    as template.yaml's Globals give them."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", SERVICE)  # the metrics' service dimension
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler = Logger(service=http.logger.service).registered_handler
    previous, handler.stream = handler.stream, CurrentStdout()  # not setStream: it flushes the old one

    def read() -> Output:
        out, err = capsys.readouterr()
        return parse(out + err)

    read()
    try:
        yield read
    finally:
        handler.stream = previous


def assert_no_secret(output: Output) -> None:
    assert leaks(output.text, SECRETS) == []


def assert_counted(output: Output, provider: str) -> None:
    """Each call's metrics: one UpstreamCall and one UpstreamLatency (its latency_ms) by Provider,
    and an UpstreamFailed for each call that did not end ok."""
    calls = output.calls
    dims = {"Provider": provider, "service": SERVICE}
    assert output.metric("UpstreamCall") == [(dims, 1)] * len(calls)
    assert output.metric("UpstreamLatency") == [(dims, line["latency_ms"]) for line in calls]
    assert output.units("UpstreamLatency") == {"Milliseconds"}
    failed = [line for line in calls if line["outcome"] != "ok"]
    assert output.metric("UpstreamFailed") == [(dims, 1)] * len(failed)


# ---------------------------------------------------------------- providers/http.py
def test_one_info_line_per_call(serve: Callable[[Any], RawServer], captured: Callable[[], Output]) -> None:
    server = serve(answer(200, b'{"success": true}'))

    http.post_json(
        server.url, {"code": "123456"}, provider="juxinli", operation="submit", changes_state=True, timeout=TIMEOUT
    )
    http.get_json(server.url, params={"client_secret": "do-not-print-me"}, timeout=TIMEOUT, provider="juxinli",
                  operation="status")  # fmt: skip

    output = captured()
    first, second = output.calls
    assert len(server.requests) == 2
    for line, (method, operation) in zip(output.calls, [("POST", "submit"), ("GET", "status")], strict=True):
        assert line["level"] == "INFO"
        assert KEYS <= line.keys()
        assert (line["provider"], line["operation"], line["method"]) == ("juxinli", operation, method)
        assert (line["http_status"], line["outcome"]) == (200, "ok")
        assert isinstance(line["latency_ms"], float) and 0 < line["latency_ms"] < 2000
        assert line["latency_ms"] == round(line["latency_ms"], 1)
        assert "attempt" not in line and "error_type" not in line
        assert line["service"] == http.logger.service
    assert_counted(output, "juxinli")
    assert output.metric("UpstreamFailed") == []
    assert server.url.split("//")[1] not in output.text  # no URL, host or path
    assert_no_secret(output)


FAILURES: list[tuple[str, Any, bool, type[ProviderError], str, int | None, str]] = [
    # (id, server behaviour or None for refused, changes_state, raised, outcome, http_status, error_type)
    ("refused", None, True, ProviderUnavailable, "unavailable", None, "ConnectionError"),
    ("429", answer(429, b'{"message": "slow down"}'), True, ProviderUnavailable, "unavailable", 429, "HTTPStatus"),
    ("503 change", answer(503, b"down", "text/plain"), True, ProviderOutcomeUnknown, "outcome_unknown", 503,
     "HTTPStatus"),
    ("503 read", answer(503, b"down", "text/plain"), False, ProviderUnavailable, "unavailable", 503, "HTTPStatus"),
    ("HTML 200", answer(200, b"<html>maintenance</html>", "text/html"), True, ProviderOutcomeUnknown,
     "outcome_unknown", 200, "InvalidBody"),
    ("400", answer(400, b'{"message": "123456 is wrong"}'), True, ProviderError, "protocol_error", 400, "HTTPStatus"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "behaviour", "changes_state", "raised", "outcome", "status", "error_type"),
    FAILURES,
    ids=[f[0] for f in FAILURES],
)
def test_a_failed_call_logs_a_warning_and_counts_a_failure(
    serve: Callable[[Any], RawServer],
    captured: Callable[[], Output],
    name: str,
    behaviour: Any,
    changes_state: bool,
    raised: type[ProviderError],
    outcome: str,
    status: int | None,
    error_type: str,
) -> None:
    url = refused_url() if behaviour is None else serve(behaviour).url

    with pytest.raises(raised) as caught:
        http.post_json(
            f"{url}?client_secret=do-not-print-me", {"code": "123456", "password": PASSWORD}, provider="moxie",
            operation="login", changes_state=changes_state, timeout=TIMEOUT,
        )  # fmt: skip

    assert type(caught.value) is raised
    output = captured()
    (line,) = output.calls
    assert line["level"] == "WARNING"
    assert (line["outcome"], line.get("http_status"), line["error_type"]) == (outcome, status, error_type)
    assert isinstance(line["latency_ms"], float)
    assert_counted(output, "moxie")
    assert len(output.metric("UpstreamFailed")) == 1
    assert_no_secret(output)


def test_a_read_timeout_is_measured(serve: Callable[[Any], RawServer], captured: Callable[[], Output]) -> None:
    holder: list[RawServer] = []
    holder.append(serve(never_answer(holder)))

    with pytest.raises(ProviderUnavailable):
        http.get_json(holder[0].url, timeout=(2, 0.3), provider="yuxin", operation="verify")

    (line,) = captured().calls
    assert (line["outcome"], line["error_type"], line["level"]) == ("unavailable", "ReadTimeout", "WARNING")
    assert "http_status" not in line  # no answer: Powertools leaves null keys out
    assert line["latency_ms"] >= 300


def test_the_handler_keys_come_along(serve: Callable[[Any], RawServer], captured: Callable[[], Output]) -> None:
    """The providers' loggers are children of the function's: its appended keys (task_id) show."""
    server = serve(answer(200, b"{}"))
    service = Logger(service=http.logger.service)
    service.append_keys(task_id="task-0042")
    try:
        http.get_json(server.url, timeout=TIMEOUT, provider="three_factor", operation="verify")
    finally:
        service.remove_keys(["task_id"])

    (line,) = captured().calls
    assert line["task_id"] == "task-0042"


# ---------------------------------------------------------------- the adapters
@pytest.fixture(scope="module")
def mounted(sandbox_server: SandboxProviders) -> SandboxProviders:
    sandbox_server.mount(MOXIE, MoxieEmulator())
    sandbox_server.mount(MOXIE_SLOW, MoxieEmulator(login_polls=3))
    sandbox_server.mount(YUXIN, YuxinEmulator())
    return sandbox_server


@pytest.fixture
def upstreams(mounted: SandboxProviders, sandbox: SandboxProviders) -> SandboxProviders:
    return sandbox


def operations(output: Output, provider: str) -> list[str]:
    assert {line["provider"] for line in output.calls} <= {provider}
    return [line["operation"] for line in output.calls]


def test_juxinli_names_its_calls(upstreams: SandboxProviders, captured: Callable[[], Output]) -> None:
    juxinli = JuxinliProvider(upstreams.juxinli_base_url, "SANDBOX", JUXINLI_SECRET, timeout=(2, 5))

    step = juxinli.login(person(), PASSWORD)
    step = juxinli.resend(step.state, person(), PASSWORD)
    step = juxinli.submit(step.state, person(), PASSWORD, SMS_CODE)
    assert step.outcome == "COLLECTING"
    juxinli.poll(step.state)
    query = person("13800138008")  # asks for the query password first
    step = juxinli.login(query, PASSWORD)
    step = juxinli.submit(step.state, query, PASSWORD, QUERY_PASSWORD)
    upstreams.fail_next("/juxinli/orgApi/rest/v2/applications")
    with pytest.raises(ProviderOutcomeUnknown):
        juxinli.login(person(), PASSWORD)

    output = captured()
    assert operations(output, "juxinli") == [
        "apply", "login", "resend", "submit", "report_token", "status", "apply", "login", "submit", "apply",
    ]  # fmt: skip
    assert [line["outcome"] for line in output.calls][-1] == "outcome_unknown"
    assert_counted(output, "juxinli")
    assert_no_secret(output)


def test_juxinli_continuations_are_their_own_calls(upstreams: SandboxProviders, captured: Callable[[], Output]) -> None:
    juxinli = JuxinliProvider(upstreams.juxinli_base_url, "SANDBOX", JUXINLI_SECRET, timeout=(2, 5))
    mobile = "13800138012"  # the accepted code continues with a second website (finish: false)

    step = juxinli.login(person(mobile), PASSWORD)
    assert juxinli.submit(step.state, person(mobile), PASSWORD, SMS_CODE).outcome == "COLLECTING"

    assert operations(captured(), "juxinli") == ["apply", "login", "submit", "continue"]


def test_moxie_counts_the_status_reads_of_a_wait(upstreams: SandboxProviders, captured: Callable[[], Output]) -> None:
    moxie = MoxieProvider(upstreams.url(MOXIE_SLOW), DEFAULT_APIKEY, timeout=(2, 5), status_interval=0,
                          decision_deadline=5, sleep=lambda _seconds: None)  # fmt: skip

    step = moxie.login(person(), PASSWORD)
    assert step.outcome == "NEED_INPUT"

    output = captured()
    calls = output.calls
    assert operations(output, "moxie") == ["login"] + ["status"] * (len(calls) - 1)
    assert len(calls) >= 3
    assert "attempt" not in calls[0]
    assert [line["attempt"] for line in calls[1:]] == list(range(1, len(calls)))
    assert (calls[0]["method"], calls[0]["http_status"]) == ("POST", 201)
    assert_counted(output, "moxie")
    assert_no_secret(output)


def test_moxie_names_its_calls_and_logs_no_secret(
    upstreams: SandboxProviders, captured: Callable[[], Output]
) -> None:
    moxie = MoxieProvider(upstreams.url(MOXIE), DEFAULT_APIKEY, timeout=(2, 5), status_interval=0,
                          sleep=lambda _seconds: None)  # fmt: skip

    step = moxie.login(person(), PASSWORD)
    step = moxie.submit(step.state, person(), PASSWORD, "654321")  # a wrong code
    step = moxie.resend(step.state, person(), PASSWORD)
    step = moxie.submit(step.state, person(), PASSWORD, SMS_CODE)
    assert step.outcome == "COLLECTING"
    moxie.poll(step.state)

    output = captured()
    assert [op for op in operations(output, "moxie") if op != "status"] == ["login", "submit", "resend", "submit"]
    assert operations(output, "moxie")[-1] == "status"
    adapter_lines = [line for line in output.logs if line.get("message", "").startswith("moxie task")]
    assert adapter_lines and all(line["upstream_task_id"] == step.state["task_id"] for line in adapter_lines)
    assert_counted(output, "moxie")
    assert leaks(output.text, SECRETS | {"654321"}) == []


def test_moxie_4xx_answers_are_protocol_errors(upstreams: SandboxProviders, captured: Callable[[], Output]) -> None:
    """A 4xx Moxie reads (here our apikey refused) is still "any other status" in http's table."""
    moxie = MoxieProvider(upstreams.url(MOXIE), "not-the-apikey", timeout=(2, 5))

    with pytest.raises(ProviderError):
        moxie.login(person(), PASSWORD)

    output = captured()
    (line,) = output.calls
    assert (line["level"], line["outcome"], line["http_status"]) == ("WARNING", "protocol_error", 401)
    assert len(output.metric("UpstreamFailed")) == 1


def test_identity_providers_name_their_calls(upstreams: SandboxProviders, captured: Callable[[], Output]) -> None:
    yuxin = YuxinProvider(upstreams.url(YUXIN), DEFAULT_TOKEN, DEFAULT_AES_KEY, timeout=(2, 5))
    assert yuxin.verify(person()).verdict == "consistent"
    output = captured()
    assert operations(output, "yuxin") == ["verify"]
    assert_counted(output, "yuxin")
    assert_no_secret(output)

    three_factor = ThreeFactorProvider(upstreams.three_factor_base_url, THREE_FACTOR_TOKEN, timeout=(2, 5))
    assert three_factor.verify(person()).verdict == "consistent"
    upstreams.fail_next("/three-factor", 503)
    with pytest.raises(ProviderUnavailable):
        three_factor.verify(person())
    output = captured()
    assert operations(output, "three_factor") == ["verify", "verify"]
    assert [line["outcome"] for line in output.calls] == ["ok", "unavailable"]
    assert_counted(output, "three_factor")
    assert_no_secret(output)


def test_provider_names_are_the_registry_names() -> None:
    registry = (PROVIDERS / "registry.py").read_text()
    for provider in (JuxinliProvider, MoxieProvider, YuxinProvider, ThreeFactorProvider):
        assert f'name == "{provider.name}"' in registry


# ---------------------------------------------------------------- the wiring
def test_providers_log_only_through_powertools() -> None:
    sources = sorted(PROVIDERS.glob("*.py"))
    assert len(sources) >= 8
    for path in sources:
        source = path.read_text()
        assert "getLogger" not in source, path.name
        assert "import logging" not in source, path.name
        if "logger." in source:
            assert "logger = Logger(child=True)" in source, path.name


LAMBDA = textwrap.dedent(
    """
    import json, logging, sys

    from carrier_auth.providers import http  # imported before the handler's logger exists
    from aws_lambda_powertools import Logger

    logging.getLogger().setLevel(logging.WARNING)  # the Lambda runtime's root logger
    logger = Logger()  # the function's own (handlers.py, functions/*/app.py)
    logger.append_keys(task_id="task-0042")
    print(json.dumps({"child": http.logger.name}))
    http.get_json(sys.argv[1], timeout=(2, 2), provider="juxinli", operation="status")
    try:
        http.get_json(sys.argv[2], timeout=(2, 2), provider="juxinli", operation="status")
    except http.ProviderUnavailable:
        pass
    """
)


def test_in_a_function_the_lines_join_the_service_logger(serve: Callable[[Any], RawServer]) -> None:
    """As deployed (template.yaml Globals): the child hangs under ``carrier-auth``, INFO lines
    survive a root logger at WARNING, and carry the handler's keys."""
    server = serve(answer(200, b"{}"))
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith("POWERTOOLS_") and key not in ("LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL")
    }  # fmt: skip
    env.update(
        POWERTOOLS_SERVICE_NAME=SERVICE,
        POWERTOOLS_LOG_LEVEL="INFO",
        POWERTOOLS_METRICS_NAMESPACE=NAMESPACE,
        PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
    )
    run = subprocess.run(
        [sys.executable, "-c", LAMBDA, server.url, refused_url()],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    output = parse(run.stdout)
    assert output.logs[0] == {"child": "carrier-auth.carrier_auth.providers.http"}
    ok, failed = output.calls
    assert (ok["level"], ok["service"], ok["task_id"], ok["outcome"]) == ("INFO", SERVICE, "task-0042", "ok")
    assert (failed["level"], failed["outcome"], failed["task_id"]) == ("WARNING", "unavailable", "task-0042")
    assert_counted(output, "juxinli")
    assert len(output.metric("UpstreamFailed")) == 1
    assert run.stderr == ""
