"""One embedded stack for the integration suite: the real ASL in moto's interpreter, our
handlers in local execution environments, sandbox providers over real HTTP, everything it
prints captured."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.stack import EmbeddedStack

from ..leaks import found_in, stack_sources
from ..settings_audit import declared, recorded, undeclared_reads

ID_NUMBER = "11010519491231002X"
NAME = "张三"
SMS_CODE = "123456"


class Api:
    """The app's side of the contract, as the first tenant unless given another one's
    ``api_key``. The secrets every Api of the stack used are remembered for the leak scan."""

    def __init__(self, stack: EmbeddedStack, api_key: str | None = None) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.http.headers["x-api-key"] = api_key or stack.tenants[0].api_key
        self.secrets: set[str] = stack.app_secrets

    def post(self, path: str, body: Any, timeout: float = 60, **kw: Any) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False).encode()
        return self.http.post(self.stack.api_url + path, data=data, timeout=timeout, **kw)

    def start_body(self, mobile: str, **over: Any) -> dict[str, Any]:
        password = f"Pw-{uuid.uuid4().hex[:10]}"
        token = f"cbtok-{uuid.uuid4().hex}"
        self.secrets.update({password, token})
        body = {
            "userId": f"user-{uuid.uuid4().hex[:8]}",
            "mobile_no": mobile,
            "identity_card": ID_NUMBER,
            "name": NAME,
            "password": password,
            "submitTime": int(time.time() * 1000),
            "callback_set": {"callback_url": self.stack.receiver.url, "token": token},
        }
        body.update(over)
        self.secrets.add(str(body["identity_card"]))
        return body

    def start(self, mobile: str = "13800138000", **over: Any) -> tuple[dict, dict]:
        body = self.start_body(mobile, **over)
        resp = self.post("/carrier/auth", body)
        assert resp.status_code == 200, resp.text
        return body, resp.json()

    def task_body(self, start_body: dict, answer: dict, **over: Any) -> dict[str, Any]:
        body = {
            "userId": start_body["userId"],
            "traceId": answer["trace_id"],
            "task_id": answer["data"]["task_id"],
            "mobile_no": start_body["mobile_no"],
            "identity_card": start_body["identity_card"],
            "submitTime": int(time.time() * 1000),
            "callback_set": start_body["callback_set"],
        }
        body.update(over)
        return body

    def submit(self, start_body: dict, answer: dict, code: str = SMS_CODE, **over: Any) -> requests.Response:
        self.secrets.add(code)
        return self.post("/carrier/auth/code", self.task_body(start_body, answer, auth_code=code, **over))

    def resend(self, start_body: dict, answer: dict, **over: Any) -> requests.Response:
        return self.post("/carrier/auth/resend", self.task_body(start_body, answer, **over))

    def status(self, task_id: str) -> requests.Response:
        return self.http.get(f"{self.stack.api_url}/carrier/auth/{task_id}", timeout=30)

    def session(self, task_id: str) -> dict:
        return self.stack.table().get_item(Key={"task_id": task_id}, ConsistentRead=True)["Item"]

    def wait_session(self, task_id: str, predicate, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            item = self.session(task_id)
            if predicate(item):
                return item
            assert time.monotonic() < deadline, f"session never matched: {item.get('status')}"
            time.sleep(0.05)

    def execution(self, task_id: str) -> dict:
        arn = self.stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{task_id}"
        return self.stack.client("stepfunctions").describe_execution(executionArn=arn)

    def wait_execution_done(self, task_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while (desc := self.execution(task_id))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still running"
            time.sleep(0.05)
        return desc

    def history(self, task_id: str) -> list[dict]:
        arn = self.execution(task_id)["executionArn"]
        sfn = self.stack.client("stepfunctions")
        events, token = [], None
        while True:
            page = sfn.get_execution_history(executionArn=arn, **({"nextToken": token} if token else {}))
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events


@pytest.fixture(scope="session")
def log_capture() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="session")
def stack(log_capture: io.StringIO, tmp_path_factory) -> EmbeddedStack:
    s = EmbeddedStack(
        api_port=0,
        moto_port=0,
        poll_interval=0,
        input_timeout=300,
        # tests that check the resend interval set it themselves; late upstream answers come soon
        parameters={"ResendIntervalSeconds": "0", "UpstreamTimeoutSeconds": "2"},
        log_stream=log_capture,
        # two cores cannot cold-start hundreds of environments at once within the functions'
        # Timeouts: a burst (test_concurrency) queues for these, as with reserved concurrency
        max_environments=12,
        settings_log=tmp_path_factory.mktemp("settings-read"),
    )
    s.start()
    # an audit trail of every event on the gateway's bus, for the leak scan
    sqs, events = s.client("sqs"), s.client("events")
    url = sqs.create_queue(QueueName="audit-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="audit-all", EventBusName=s.event_bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="audit-all", EventBusName=s.event_bus_name, Targets=[{"Id": "audit", "Arn": arn}])
    s.audit_queue_url = url
    s.app_secrets = {SMS_CODE, ID_NUMBER}
    yield s
    s.stop()


@pytest.fixture(scope="session")
def api(stack: EmbeddedStack) -> Api:
    return Api(stack)


def _whole_suite(request: pytest.FixtureRequest) -> bool:
    """The integration suite ran, not one file of it (other suites' tests do not count)."""
    return sum(1 for item in request.session.items if item.nodeid.startswith("tests/integration/")) >= 100


@pytest.fixture(scope="session", autouse=True)
def no_plaintext_secrets(
    stack: EmbeddedStack, log_capture: io.StringIO, request: pytest.FixtureRequest
) -> Iterator[None]:
    """At the end of the session, whatever order the tests ran in (a fixture, not a file that
    sorts last): nothing the stack stored, sent or printed holds a plaintext password, SMS code,
    callback token, full id number or name the suite's apps used."""
    yield
    secrets = stack.app_secrets | {NAME}
    sources = stack_sources(stack, log_capture, {**stack.queues, "audit": stack.audit_queue_url})
    assert found_in(sources, secrets) == {}
    if _whole_suite(request):  # the scan had something to read
        assert any(name.startswith("execution ") for name in sources), "the suite ran no executions"
        assert len(sources["everything the stack printed"]) > 10_000
        assert "CarrierAuthFinished" in sources["queue audit"], "the audit queue should have seen the finished events"


@pytest.fixture(scope="session", autouse=True)
def settings_as_the_template_gives(stack: EmbeddedStack, request: pytest.FixtureRequest) -> Iterator[None]:
    """At the end of the session: no function read a setting that template.yaml does not give
    it (it would have run on the code's default, whatever the deployment says). Every
    environment of every function recorded what it read (local/worker.py)."""
    yield
    reads = recorded(stack.settings_log)
    assert undeclared_reads(declared(stack.template), reads) == {}
    if _whole_suite(request):  # most functions ran
        assert len(reads) >= 15, sorted(reads)


BUSY = {"PENDING", "PROCESSING", "COLLECTING"}


@pytest.fixture(autouse=True)
def _quiet_stack(stack: EmbeddedStack) -> None:
    """Start each test when earlier tests' tasks have stopped talking upstream and their
    callbacks are delivered: counters and injected faults then belong to this test alone."""
    sqs = stack.client("sqs")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [i for i in stack.table().scan(ProjectionExpression="#s", ExpressionAttributeNames={"#s": "status"})["Items"]
                if i["status"] in BUSY]
        attrs = sqs.get_queue_attributes(
            QueueUrl=stack.queues["CallbackQueue"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if not busy and not any(int(v) for v in attrs.values()):
            return
        time.sleep(0.05)
