"""Every function's ``lambda_handler`` driven in-process from every sample event of its
``events/<code dir>/`` folder, as ``sam local invoke -e`` would run it.

Each case runs one handler with exactly the environment template.yaml gives that function
(Globals plus its own ``Environment``, read from the template at test time) pointing at the
stack's resources created in moto from the template's own properties; upstream providers are
fakes behind the provider interface (``tests/fake_providers.py``) and nothing may touch the
network. The state machine is moto's: StartExecution / SendTaskSuccess are accepted and
recorded; what the machine's next step would write (its checkpoint) is played by the case.

After each case, whatever it asserted about the answer: the function made no network attempt,
read only the settings its template gives it (``config.READ_HOOKS``), called only AWS actions its
template policies grant, and printed none of the secrets the test sent (capsys: logs and metrics).

``CASES`` is keyed by the template's logical id. A function's cases: ``Case(<events file>,
<check>, <template parameters>)``; ``check(h)`` arranges (``seed`` / ``waiting`` / ... a session,
``h.providers.carrier("juxinli").login_step = CarrierStep(...)``, ``h.machine.then[...]``), runs
``h.invoke(h.event())`` (``h.api`` for API Gateway events: an ``Answer`` checked against
docs/openapi.json) and asserts. The state machine's Task functions get their Parameters as the
event (``events/login/begin.json`` ...).

When every case of a function has run (a module fixture, whatever the order), the function must
also have read every setting its template gives it: together with the per-case check, each
function is given exactly the settings it reads (a fake provider reads none of its own: what the
registry reads to build the real one counts).
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import importlib.util
import json
import logging
import os
import re
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS
from aws_lambda_powertools.utilities.parameters.secrets import SecretsProvider
from carrier_auth import aws, callback, codes, config, crypto, events, facade, h5, sessions
from carrier_auth.config import Settings
from carrier_auth.providers import registry
from carrier_auth.providers.base import (
    CarrierStep,
    CollectResult,
    Identity,
    IdentityResult,
    ProviderError,
    ProviderUnavailable,
)

from local.resources import create_resources
from local.template import (
    REGION,
    Resolver,
    function_environment,
    load_template,
    resources_of,
)
from tests.fake_providers import FakeProviders, NetworkGuard
from tests.lambda_context import LambdaContext
from tests.leaks import leaks
from tests.settings_audit import POWERTOOLS_PREFIX, declared, undeclared_reads, unread

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CONTRACT = ROOT / "docs" / "openapi.json"

# Names the sample events' URLs resolve to in these tests (public addresses, never contacted).
HOSTS = {
    "example.com": "93.184.215.14",
    "risk.example.com": "93.184.215.15",
    "app.example.com": "93.184.215.16",
}
CALLBACK_SECRET = "unit-tenant-callback-secret-5f0c"
# request body fields whose values must never be printed
SECRET_FIELDS = ("password", "auth_code", "identity_card", "name", "mobile_no", "token")
# template parameters the tests need other than their Default (as a deployment would set them)
FAST = {"FacadeWaitSeconds": "1"}  # the template's minimum: a facade that sees no checkpoint answers after 1 s


# ---------------------------------------------------------------------------------- template
@cache
def template() -> dict[str, Any]:
    return load_template()


def functions() -> dict[str, dict[str, Any]]:
    return resources_of(template(), "AWS::Serverless::Function")


def code_dir(logical: str) -> str:
    return Path(functions()[logical]["Properties"]["CodeUri"]).name


def timeout_of(logical: str) -> int:
    own = functions()[logical]["Properties"].get("Timeout")
    return int(own or template()["Globals"]["Function"].get("Timeout", 3))


def granted_actions(logical: str) -> list[str]:
    """The IAM actions of the function's inline policy statements (policy templates aside)."""
    actions: list[str] = []
    for policy in functions()[logical]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Effect") == "Allow":
                action = statement["Action"]
                actions += [action] if isinstance(action, str) else action
    return actions


@cache
def referenced_by_functions() -> frozenset[str]:
    """Logical ids the functions' properties name (Ref, GetAtt, ${...} in Sub)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "Ref" and isinstance(item, str):
                    found.add(item)
                elif key == "Fn::GetAtt":
                    found.add(item[0] if isinstance(item, list) else str(item).split(".")[0])
                elif key == "Fn::Sub":
                    text = item[0] if isinstance(item, list) else item
                    found.update(m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(functions())
    return frozenset(found)


# botocore service ids -> IAM action prefixes, where they differ
IAM_PREFIX = {"sfn": "states", "secrets-manager": "secretsmanager", "eventbridge": "events"}


# ---------------------------------------------------------------------------------- AWS clients
# One client per service for the whole module (building a botocore client costs tens of ms, and
# a new session reloads the endpoint data): moto serves every client made after it was imported,
# each test's backend afresh. The package gets these too (``aws.client`` / ``aws.table``, the same
# configuration as its own), and Powertools' secrets provider gets this secretsmanager client.
@cache
def client(service: str) -> Any:
    made = boto3.client(service, region_name=REGION, config=aws._CONFIG)
    if service == "stepfunctions":  # the state machine as the functions reach it: Machine
        for event, method in (("before-parameter-build", "params"), ("before-call", "before"), ("after-call", "after")):
            made.meta.events.register(f"{event}.sfn", partial(_machine_hook, method))
    if service == "sqs":
        made.meta.events.register("before-parameter-build.sqs.ChangeMessageVisibility", _visibility_hook)
    return made


def _machine_hook(method: str, **kwargs: Any) -> Any:
    harness = _current()
    return None if harness is _Nobody else getattr(harness.machine, method)(**kwargs)


def _visibility_hook(params: dict[str, Any], **_: Any) -> None:
    harness = _current()
    if harness is not _Nobody:
        harness.visibility.append(dict(params))


@cache
def dynamodb() -> Any:
    return boto3.resource("dynamodb", region_name=REGION, config=aws._CONFIG)


def _package_client(service: str) -> Any:
    return client(service)


def _package_table(name: str) -> Any:
    return dynamodb().Table(name)


# conftest's moto_aws calls aws.reset() (``cache_clear`` of both) around each test
_package_client.cache_clear = _package_table.cache_clear = lambda: None  # type: ignore[attr-defined]

_HARNESS: list[Harness] = []  # the test's harness, while it runs


class _Nobody:
    """Where the clients' hooks go outside a test: nothing is recorded."""

    _recording = False


def _current() -> Any:
    """The running test's harness while its handler runs (the function's own calls), else nobody."""
    return _HARNESS[-1] if _HARNESS and _HARNESS[-1]._recording else _Nobody


# ---------------------------------------------------------------------------------- the stack in moto
class MotoStack:
    """template.yaml's data resources created in moto (in-process), with the names and ARNs
    Ref / GetAtt resolve to (``resolver``), like the embedded stack (local/stack.py) does."""

    def __init__(self, parameters: dict[str, str]) -> None:
        self.resolver = Resolver(template(), dict(parameters))
        # moto makes a key pair for each KMS key (tens of ms): only the ones a function uses
        made = create_resources(template(), self.resolver, client, wanted_key=referenced_by_functions().__contains__)
        self.tables, self.queues = made.tables, made.queues  # logical id -> name / url
        self.state_machine_arn = made.state_machine_arn

    def environment(self, logical: str) -> dict[str, str]:
        """The function's variables as deployed: Globals merged with its own, resolved here."""
        return function_environment(template(), self.resolver, logical)

    def add_tenant(self, key_id: str, **value: Any) -> None:
        """A tenant (docs/tenants.md): the secret named TenantSecretPrefix + API key id."""
        body = {"name": "unit-tenant", "display_name": "某某借款", "callback_secret": CALLBACK_SECRET, **value}
        client("secretsmanager").create_secret(
            Name=self.resolver.parameters["TenantSecretPrefix"] + key_id, SecretString=json.dumps(body)
        )

    def messages(self, logical: str) -> list[dict[str, Any]]:
        """Every message waiting on the queue (received, so not visible again)."""
        sqs = client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queues[logical], MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return found
            found += got

    def executions(self) -> list[dict[str, Any]]:
        sfn = client("stepfunctions")
        found = sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return [sfn.describe_execution(executionArn=e["executionArn"]) for e in found]

    def scan(self, logical: str = "SessionsTable") -> list[dict[str, Any]]:
        return dynamodb().Table(self.tables[logical]).scan()["Items"]


# ---------------------------------------------------------------------------------- AWS recorders
class _Http:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = {}


class Machine:
    """The state machine as the functions reach it (the Step Functions client's hooks): moto
    accepts the calls; every call's parameters are recorded in ``calls``; ``then[operation]``
    plays what the machine does next once moto accepted it (the next step's checkpoint), and
    ``refuse[operation]`` answers an error code instead of moto."""

    def __init__(self, harness: Harness) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.then: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.refuse: dict[str, str] = {}
        self._harness = harness

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [params for op, params in self.calls if op == operation]

    def params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.name, dict(params)))
        context["recorded_params"] = dict(params)

    def before(self, model: Any, **_: Any) -> tuple[_Http, dict[str, Any]] | None:
        code = self.refuse.get(model.name)
        if code is None:
            return None
        return _Http(400), {"Error": {"Code": code, "Message": "refused by the test"}, "ResponseMetadata": {}}

    def after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        step = self.then.get(model.name)
        if step is not None and http_response.status_code < 300:
            with self._harness.as_the_machine():
                step(context["recorded_params"])


@dataclass
class Post:
    url: str
    address: str | None
    raw: bytes
    headers: dict[str, str]


class CallbackEndpoint:
    """The app's callback endpoint at the one network boundary of ``callback.deliver``
    (``callback._post``): records each POST, answers ``status`` (and ``retry_after``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.posts: list[Post] = []
        self.status = 200
        self.retry_after: str | None = None

        def post(url: str, address: str | None, raw: bytes, headers: dict[str, str], timeout: float) -> Any:
            self.posts.append(Post(url, address, raw, dict(headers)))
            return self.status, self.retry_after

        monkeypatch.setattr(callback, "_post", post)


# ---------------------------------------------------------------------------------- the harness
class CurrentStdout:
    """Whatever ``sys.stdout`` is when a line is written: capsys's during the test."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@dataclass
class Answer:
    """An API Gateway proxy answer: status, the body (JSON parsed, or the text), headers (lower case)."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str:
        return self.body["code"]

    @property
    def data(self) -> dict[str, Any]:
        return self.body["data"]


@dataclass
class Case:
    """One run of a function's handler: ``event`` (a file of its events folder) and ``check``,
    which arranges, invokes (``h.invoke`` / ``h.api``) and asserts. ``parameters``: template
    parameters other than their Default, as a deployment would give them."""

    event: str
    check: Callable[[Harness], None]
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.check.__name__


class Harness:
    def __init__(
        self, logical: str, case: Case, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        self.logical, self.case = logical, case
        self.capsys = capsys
        self.stack = MotoStack(case.parameters)
        # every variable any function of the template gets: the test's own setup and asserts run
        # with these (seeding a session encrypts and hashes); the handler runs with its own only
        self.full_env: dict[str, str] = {}
        for fn in functions():
            self.full_env.update(self.stack.environment(fn))
        self.env = self.stack.environment(logical)
        self.env.setdefault("POWERTOOLS_METRICS_NAMESPACE", "CarrierAuth")
        self._managed = set(self.full_env) | set(Settings.variables().values())
        self._managed |= {k for k in os.environ if k.startswith(("CARRIER_AUTH_", POWERTOOLS_PREFIX))}
        self._apply(self.full_env)
        monkeypatch.setattr(aws, "client", _package_client)
        monkeypatch.setattr(aws, "table", _package_table)
        monkeypatch.setitem(DEFAULT_PROVIDERS, "secrets", SecretsProvider(boto3_client=client("secretsmanager")))
        facade._idempotency.cache_clear()
        self.providers = FakeProviders().install(monkeypatch)
        self.network = NetworkGuard(HOSTS).install(monkeypatch)
        self.machine = Machine(self)
        self.visibility: list[dict[str, Any]] = []  # every ChangeMessageVisibility sent (its parameters)
        self.endpoint = CallbackEndpoint(monkeypatch)
        # what the handler does, recorded only while it runs (not the machine's steps played here)
        self.reads: set[str] = set()
        self.aws_calls: list[str] = []
        self._recording = False
        monkeypatch.setattr(config, "READ_HOOKS", [self._read])
        self._record_aws_calls(monkeypatch)
        self.secrets: set[str] = {CALLBACK_SECRET}
        self._module: ModuleType | None = None
        for service in self._services():  # their handlers write to capsys's stdout
            existed = getattr(logging.getLogger(service), "init", False)  # Powertools' "preconfigured" mark
            handler = Logger(service=service).registered_handler
            if existed:  # not setStream: it flushes the old one
                monkeypatch.setattr(handler, "stream", CurrentStdout())
            else:  # made here: its stream was this test's capsys, stale after it
                handler.stream = CurrentStdout()  # type: ignore[attr-defined]
        capsys.readouterr()
        self.printed = ""  # everything printed since the harness was made

    def _services(self) -> set[str]:
        """The service loggers the package's child loggers log through. A module's child logger
        takes its service from POWERTOOLS_SERVICE_NAME when it is imported: in Lambda the
        function's (carrier-auth), in a test session whatever was set when pytest imported it
        (``service_undefined``). Each needs its parent initialised, or appending keys fails
        (Powertools' OrphanedChildLoggerError)."""
        services = {self.env.get("POWERTOOLS_SERVICE_NAME", "service_undefined")}
        for name, module in list(sys.modules.items()):
            if name == "carrier_auth" or name.startswith("carrier_auth."):
                services |= {v.service for v in vars(module).values() if isinstance(v, Logger) and v.child}
        return services

    # -------------------------------------------------------------- environment and recording
    def _apply(self, env: dict[str, str]) -> None:
        for name in self._managed | set(env):
            os.environ.pop(name, None)
        os.environ.update(env)

    def _read(self, name: str) -> None:
        if self._recording:
            self.reads.add(name)

    def _record_aws_calls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        harness = self

        def call(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if harness._recording:
                _before, service, operation = event_name.split(".")[:3]
                harness.aws_calls.append(f"{IAM_PREFIX.get(service, service)}:{operation}")
            return original(stubber, event_name, request, **kwargs)

        monkeypatch.setattr(BotocoreStubber, "__call__", call)

    class _Machine:
        def __init__(self, harness: Harness) -> None:
            self.harness = harness

        def __enter__(self) -> None:
            self.was, self.harness._recording = self.harness._recording, False

        def __exit__(self, *exc: object) -> None:
            self.harness._recording = self.was

    def as_the_machine(self) -> Harness._Machine:
        """Work the state machine does (not the function under test): not recorded."""
        return Harness._Machine(self)

    # -------------------------------------------------------------- the handler
    @property
    def module(self) -> ModuleType:
        if self._module is None:
            path = ROOT / "functions" / code_dir(self.logical) / "app.py"
            spec = importlib.util.spec_from_file_location(
                f"handler_events_{code_dir(self.logical)}_{uuid.uuid4().hex}", path
            )
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            self._apply(self.env)
            try:
                spec.loader.exec_module(module)
            finally:
                self._apply(self.full_env)
            self._module = module
        return self._module

    def event(self, name: str | None = None) -> dict[str, Any]:
        """A sample event of the function's folder (the case's own by default); the secret
        values of its body are added to what must never be printed."""
        event = json.loads((EVENTS / code_dir(self.logical) / (name or self.case.event)).read_text(encoding="utf-8"))
        if isinstance(event.get("body"), str):
            self._secrets_of(json.loads(event["body"]))
        return event

    def _secrets_of(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in SECRET_FIELDS and isinstance(item, str) and item:
                    self.secrets.add(item)
                self._secrets_of(item)

    def invoke(self, event: dict[str, Any]) -> Any:
        """``lambda_handler(event, context)`` with the function's environment only."""
        module = self.module
        context = LambdaContext(self.logical, deadline=time.monotonic() + timeout_of(self.logical))
        self._apply(self.env)
        carrier = {k: v for k, v in os.environ.items() if k in self._managed or k.startswith(POWERTOOLS_PREFIX)}
        assert carrier == self.env, "the handler must run with exactly its template environment"
        self._recording = True
        try:
            result = module.lambda_handler(copy.deepcopy(event), context)
        finally:
            self._recording = False
            self._apply(self.full_env)
        return result

    def api(self, event: dict[str, Any]) -> Answer:
        """``invoke`` for an API Gateway event: the answer, checked against docs/openapi.json."""
        result = self.invoke(event)
        headers = {k.lower(): v[-1] for k, v in (result.get("multiValueHeaders") or {}).items()}
        headers.update({k.lower(): v for k, v in (result.get("headers") or {}).items()})
        assert result.get("isBase64Encoded") is False
        body: Any = result["body"]
        if headers.get("content-type", "").startswith("application/json"):
            body = json.loads(body)
        answer = Answer(result["statusCode"], body, headers)
        conforms(event, answer)
        return answer

    def _drain(self) -> str:
        out, err = self.capsys.readouterr()
        self.printed += out + err
        return self.printed

    def logs(self) -> list[dict[str, Any]]:
        """The structured log lines printed so far (Powertools JSON; metrics aside)."""
        lines = [json.loads(line) for line in self._drain().splitlines() if line.startswith("{")]
        return [line for line in lines if "_aws" not in line]

    def verify(self) -> None:
        """What every case must hold, whatever it asserted."""
        assert self.network.attempts == [], "no connection may leave a unit test"
        given = {name for name in self.env if not name.startswith(POWERTOOLS_PREFIX)}
        assert undeclared_reads({self.logical: given}, {self.logical: self.reads}) == {}, (
            "the handler read settings template.yaml does not give it"
        )
        granted = granted_actions(self.logical)
        ungranted = sorted({c for c in self.aws_calls if not any(fnmatch.fnmatchcase(c, a) for a in granted)})
        assert ungranted == [], f"AWS calls template.yaml's policies do not grant {self.logical}"
        assert leaks(self._drain(), self.secrets) == [], "a secret the test sent was printed"


@cache
def contract() -> dict[str, Any]:
    return json.loads(CONTRACT.read_text(encoding="utf-8"))


def conforms(event: dict[str, Any], answer: Answer) -> None:
    """The answer's status is documented for the route, with its content type and schema."""
    from jsonschema import Draft202012Validator

    # the page's actions share one API Gateway resource; the contract documents each on its own
    resource = event["resource"].replace("{action}", (event.get("pathParameters") or {}).get("action", "{action}"))
    operation = contract()["paths"][resource][event["httpMethod"].lower()]
    documented = operation["responses"]
    assert str(answer.status) in documented, f"{answer.status} is not documented for {event['resource']}"
    content = documented[str(answer.status)].get("content", {})
    media = answer.headers.get("content-type", "").split(";")[0]
    assert media in content, f"{media} is not documented for {answer.status}"
    schema = {**content[media].get("schema", {}), "components": contract()["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(answer.body), key=str)
    assert errors == [], [e.message for e in errors]


# ---------------------------------------------------------------------------------- session fixtures
def body_of(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["body"])


def key_id(event: dict[str, Any]) -> str:
    return event["requestContext"]["identity"]["apiKeyId"]


def person_of(event: dict[str, Any], name: str = "张三") -> Identity:
    body = body_of(event)
    return Identity(name=body.get("name", name), id_number=body["identity_card"], mobile=body["mobile_no"])


def seed(
    task_id: str,
    status: str,
    answer: dict[str, Any],
    tenant: str = "k7x9q2w4e6",
    user_id: str = "u-1001",
    person: Identity | None = None,
    **values: Any,
) -> dict[str, Any]:
    """A session as the facades and steps leave it: bound to its tenant, user and person (masks
    and keyed hashes), the person and password KMS-encrypted, at ``status`` answering ``answer``."""
    person = person or Identity("张三", "11010519491231002X", "13800138000")
    secret = json.dumps({**person.__dict__, "password": "sandbox-pass"}, ensure_ascii=False)
    item = {
        "task_id": task_id,
        "tenant": tenant,
        "user_id": user_id,
        **facade.masked_person(person),
        "callback_url": "https://example.com/carrier/callback",
        "secrets_enc": crypto.encrypt(task_id, secret),
    }
    sessions.create(item, status=status)
    return sessions.update(task_id, {"answer": answer, **values})


def waiting(task_id: str, trace_id: str, **values: Any) -> dict[str, Any]:
    """A task whose login asked for the SMS code: its step's token parked on ``trace_id``."""
    sent = int(time.time()) - int(template()["Parameters"]["ResendIntervalSeconds"]["Default"]) - 1  # a resend may come
    ans = sessions.answer(codes.IN_PROGRESS, codes.NEED_SMS_CODE)
    defaults = {
        "trace_id": trace_id,
        "task_token": "tok-login",
        "input_guide": codes.NEED_SMS_CODE,
        "code_sent_at": sent,
    }
    return seed(task_id, sessions.WAITING_INPUT, ans, **{**defaults, **values})


def finished(task_id: str, status: str = sessions.SUCCESS, **values: Any) -> dict[str, Any]:
    defaults = {
        "result_message": codes.CALLBACK_MESSAGES["success" if status == sessions.SUCCESS else "defeat"],
        "event_id": "0e9d8c7b-6a59-4483-9271-605f4e3d2c1b",
        "finished_at": "2026-11-23T03:10:00Z",
        "published_at": "2026-11-23T03:10:01Z",
        "provider": "juxinli",
    }
    return seed(task_id, status, sessions.answer(codes.SUBMITTED), **{**defaults, **values})


def collecting(task_id: str, **values: Any) -> dict[str, Any]:
    state = {"provider": "juxinli", "provider_state": {"token": "jx-report-token"}, "polls": 0}
    return seed(task_id, sessions.COLLECTING, sessions.answer(codes.SUBMITTED), **{**state, **values})


def checkpoint(status: str, guide_code: str = "", task_id: str = "", **values: Any) -> Callable[[dict[str, Any]], None]:
    """What the machine's next step writes (flow's checkpoint: a fresh trace_id, seq + 1) once the
    call was accepted: for ``task_id``, or the task a StartExecution names."""

    def step(params: dict[str, Any]) -> None:
        ans = sessions.answer(codes.IN_PROGRESS, guide_code) if guide_code else sessions.answer(codes.SUBMITTED)
        sessions.checkpoint(task_id or params["name"], status, ans, values)

    return step


def received_from(stack: MotoStack, logical: str, event: dict[str, Any]) -> dict[str, Any]:
    """The sample SQS event as this stack's queue would deliver it: each record's body sent to and
    received from the queue, so its receipt handle and source ARN are real here; the message id and
    attributes (the receive count) stay the sample's."""
    sqs = client("sqs")
    url = stack.queues[logical]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    event = copy.deepcopy(event)
    for record in event["Records"]:
        sqs.send_message(QueueUrl=url, MessageBody=record["body"])
        (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        record.update(receiptHandle=message["ReceiptHandle"], eventSourceARN=arn, awsRegion=REGION)
    return event


def decrypt(task_id: str, ciphertext: str) -> str:
    return crypto.decrypt(task_id, ciphertext)


# ================================================================================== the cases
# ---------------------------------------------------------------------------------- StartFunction
def start_answers_the_first_checkpoint(h: Harness) -> None:
    """valid.json: the session is created, the execution started; the Begin step asks for the SMS
    code and the facade answers that checkpoint (104 / 90001) with the number's carrier."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    h.machine.then["StartExecution"] = checkpoint(
        sessions.WAITING_INPUT, codes.NEED_SMS_CODE, task_token="tok-login", input_guide=codes.NEED_SMS_CODE
    )
    answer = h.api(event)

    assert (answer.status, answer.code, answer.data["guide_code"]) == (200, codes.IN_PROGRESS, codes.NEED_SMS_CODE)
    task_id = answer.data["task_id"]
    item = sessions.get(task_id)
    assert item is not None and item["status"] == sessions.WAITING_INPUT
    assert answer.body["trace_id"] == item["trace_id"]  # the one the next call sends
    body = body_of(event)
    assert (answer.data["isp"], answer.data["region"]) == ("中国移动", "北京市")
    assert (item["tenant"], item["user_id"], item["callback_url"]) == (
        key_id(event),
        body["userId"],
        body["callback_set"]["callback_url"],
    )
    assert (item["mobile_masked"], item["id_masked"]) == ("138****8000", "1101**********002X")
    assert json.loads(decrypt(task_id, item["secrets_enc"]))["password"] == body["password"]
    assert decrypt(task_id, item["callback_token_enc"]) == body["callback_set"]["token"]
    assert not leaks(json.dumps(item, ensure_ascii=False, default=str), {body["password"], body["identity_card"]})
    (execution,) = h.stack.executions()
    assert execution["name"] == task_id
    settings = json.loads(execution["input"])["settings"]
    assert settings["input_timeout"] == int(h.env["INPUT_TIMEOUT_SECONDS"])
    (started,) = [line for line in h.logs() if line["message"] == "task started"]
    assert (started["task_id"], started["mobile"]) == (task_id, "138****8000")
    assert h.providers.calls == []  # the facade never talks to a provider


def start_answers_still_processing_without_a_checkpoint(h: Harness) -> None:
    """valid.json with no step answering within FacadeWaitSeconds: 104 with an empty guide code."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["guide_code"]) == (200, codes.IN_PROGRESS, "")
    assert answer.body["message"] == facade.STILL_PROCESSING
    assert sessions.get(answer.data["task_id"])["status"] == sessions.PENDING
    assert [e["name"] for e in h.stack.executions()] == [answer.data["task_id"]]


def start_answers_103_when_the_workflow_cannot_start(h: Harness) -> None:
    """valid.json while StartExecution fails: 500 / 103, and the session says so (ERROR)."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    h.machine.refuse["StartExecution"] = "StateMachineDoesNotExist"
    answer = h.api(event)
    assert (answer.status, answer.code) == (500, codes.SYSTEM_ERROR)
    (item,) = h.stack.scan()
    assert item["status"] == sessions.ERROR and item["answer"]["code"] == codes.SYSTEM_ERROR


def start_refuses_a_key_without_tenant(h: Harness) -> None:
    """valid.json from an API key whose tenant has no secret: 403, nothing created."""
    answer = h.api(h.event())
    assert (answer.status, answer.code, answer.body["message"]) == (403, codes.SYSTEM_ERROR, facade.UNKNOWN_TENANT)
    assert h.stack.scan() == [] and h.machine.calls == []


def start_refuses_a_body_without_mobile(h: Harness) -> None:
    """missing_field.json: 400 / 103 naming the field; nothing is created or started."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (400, codes.SYSTEM_ERROR, "缺少必填字段: mobile_no")
    assert h.stack.scan() == [] and h.machine.calls == []


# ---------------------------------------------------------------------------------- SubmitCodeFunction
def _submit_task(h: Harness, event: dict[str, Any], **values: Any) -> tuple[str, str]:
    body = body_of(event)
    waiting(
        body["task_id"],
        body["traceId"],
        person=person_of(event),
        tenant=key_id(event),
        user_id=body["userId"],
        **values,
    )
    return body["task_id"], body["traceId"]


def submit_hands_the_code_to_the_waiting_step(h: Harness) -> None:
    """valid.json: the parked token is claimed and resumed with the encrypted code; the step
    answers 105 and the facade renders it."""
    event = h.event()
    task_id, trace_id = _submit_task(h, event)
    h.machine.then["SendTaskSuccess"] = checkpoint(sessions.COLLECTING, task_id=task_id, polls=0)
    answer = h.api(event)

    assert (answer.status, answer.code, answer.data["task_id"]) == (200, codes.SUBMITTED, task_id)
    item = sessions.get(task_id)
    assert item["status"] == sessions.COLLECTING and "task_token" not in item
    assert answer.body["trace_id"] == item["trace_id"] != trace_id
    (sent,) = h.machine.named("SendTaskSuccess")
    assert sent["taskToken"] == "tok-login"
    output = json.loads(sent["output"])
    assert output["outcome"] == "INPUT" and output["input"]["action"] == "submit"
    assert decrypt(task_id, output["input"]["code_enc"]) == body_of(event)["auth_code"]
    assert len(h.stack.scan("IdempotencyTable")) == 1


def submit_replay_answers_the_first_answer(h: Harness) -> None:
    """valid.json twice (a client retry): the same answer, the machine signalled once."""
    event = h.event()
    task_id, _trace_id = _submit_task(h, event)
    h.machine.then["SendTaskSuccess"] = checkpoint(sessions.COLLECTING, task_id=task_id, polls=0)
    first, again = h.api(event), h.api(event)
    assert first.code == codes.SUBMITTED and again.body == first.body
    assert len(h.machine.named("SendTaskSuccess")) == 1


def submit_with_a_stale_trace_is_409(h: Harness) -> None:
    """valid.json after the task moved on to another checkpoint: 409, the task keeps waiting."""
    event = h.event()
    task_id = body_of(event)["task_id"]
    waiting(task_id, "a-newer-trace-id", person=person_of(event))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (409, codes.SYSTEM_ERROR, facade.STALE_TRACE)
    assert answer.body["trace_id"] == "a-newer-trace-id"
    assert sessions.get(task_id)["task_token"] == "tok-login" and h.machine.calls == []


def submit_after_the_input_timeout_answers_90032(h: Harness) -> None:
    """valid.json when the step's token already timed out: 104 / 90032."""
    event = h.event()
    _submit_task(h, event)
    h.machine.refuse["SendTaskSuccess"] = "TaskTimedOut"
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["guide_code"]) == (200, codes.IN_PROGRESS, codes.INPUT_TIMEOUT)


def submit_for_another_tenants_task_is_404(h: Harness) -> None:
    """valid.json for a task another API key started: exactly an unknown task."""
    event = h.event()
    body = body_of(event)
    waiting(body["task_id"], body["traceId"], person=person_of(event), tenant="another-key-id")
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["task_id"]) == (404, codes.SYSTEM_ERROR, body["task_id"])
    assert answer.body["message"] == facade.NOT_FOUND and h.machine.calls == []


def submit_for_another_person_is_403(h: Harness) -> None:
    """valid.json for a task started for another phone number: 403, nothing is signalled."""
    event = h.event()
    body = body_of(event)
    waiting(body["task_id"], body["traceId"], person=Identity("张三", body["identity_card"], "13900139000"))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (403, codes.SYSTEM_ERROR, facade.MISMATCH)
    assert h.machine.calls == []


# ---------------------------------------------------------------------------------- ResendFunction
def resend_asks_the_waiting_step_for_a_new_code(h: Harness) -> None:
    """valid.json: the token is resumed with a resend; the step's new prompt is answered."""
    event = h.event()
    task_id, trace_id = _submit_task(h, event)
    h.machine.then["SendTaskSuccess"] = checkpoint(
        sessions.WAITING_INPUT, codes.NEED_SMS_CODE, task_id, task_token="tok-resent", code_sent_at=int(time.time())
    )
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["guide_code"]) == (200, codes.IN_PROGRESS, codes.NEED_SMS_CODE)
    (sent,) = h.machine.named("SendTaskSuccess")
    assert (sent["taskToken"], json.loads(sent["output"])) == (
        "tok-login",
        {"outcome": "INPUT", "input": {"action": "resend"}},
    )
    item = sessions.get(task_id)
    assert item["resends"] == 1 and answer.body["trace_id"] == item["trace_id"] != trace_id


def resend_too_soon_is_refused_by_our_limit(h: Harness) -> None:
    """valid.json within ResendIntervalSeconds of the last code: 104 / 90029 on the same
    trace_id; nothing reaches the machine."""
    event = h.event()
    task_id, trace_id = _submit_task(h, event, code_sent_at=int(time.time()))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["guide_code"]) == (200, codes.IN_PROGRESS, codes.SMS_TOO_FREQUENT)
    assert answer.body["trace_id"] == trace_id
    assert h.machine.calls == [] and sessions.get(task_id)["status"] == sessions.WAITING_INPUT


def resend_beyond_the_limit_is_refused(h: Harness) -> None:
    """valid.json after ResendLimit resends: 104 / 90029 as well."""
    event = h.event()
    _submit_task(h, event, resends=int(h.env["RESEND_LIMIT"]))
    answer = h.api(event)
    assert (answer.code, answer.data["guide_code"]) == (codes.IN_PROGRESS, codes.SMS_TOO_FREQUENT)
    assert h.machine.calls == []


# ---------------------------------------------------------------------------------- StatusFunction
def status_of_a_finished_task_names_the_result(h: Harness) -> None:
    """valid.json for a task that ended SUCCESS: its 105 answer with data.result."""
    event = h.event()
    task_id = event["pathParameters"]["task_id"]
    item = finished(task_id)
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["task_id"]) == (200, codes.SUBMITTED, task_id)
    assert answer.data["result"] == sessions.SUCCESS and answer.body["trace_id"] == item["trace_id"]


def status_of_a_waiting_task_is_its_prompt(h: Harness) -> None:
    event = h.event()
    task_id = event["pathParameters"]["task_id"]
    waiting(task_id, "trace-of-the-prompt")
    answer = h.api(event)
    assert (answer.code, answer.data["guide_code"], answer.body["trace_id"]) == (
        codes.IN_PROGRESS,
        codes.NEED_SMS_CODE,
        "trace-of-the-prompt",
    )
    assert "result" not in answer.data


def status_of_an_unknown_task_is_404(h: Harness) -> None:
    event = h.event()
    finished(event["pathParameters"]["task_id"], tenant="another-key-id")  # another tenant's: unknown here
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (404, codes.SYSTEM_ERROR, facade.NOT_FOUND)


# ---------------------------------------------------------------------------------- RedeliverCallbackFunction
def redeliver_publishes_the_same_event_again(h: Harness) -> None:
    """finished.json: 202, and CarrierAuthFinished with the task's event id reaches the callback
    queue through the stack's bus and rule."""
    event = h.event()
    task_id = event["pathParameters"]["task_id"]
    item = finished(task_id)
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (202, codes.SUBMITTED, facade.REDELIVERED)
    assert answer.data == {"task_id": task_id, "event_id": item["event_id"]}
    (message,) = h.stack.messages("CallbackQueue")
    published = json.loads(message["Body"])
    assert (published["source"], published["detail-type"]) == (events.SOURCE, events.FINISHED)
    assert published["detail"] == events.finished_detail(item)
    assert "callback_redelivered_at" in sessions.get(task_id)


def redeliver_before_the_end_is_409(h: Harness) -> None:
    event = h.event()
    task_id = event["pathParameters"]["task_id"]
    collecting(task_id)
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (409, codes.SYSTEM_ERROR, facade.NO_CALLBACK)
    assert h.stack.messages("CallbackQueue") == []


# ---------------------------------------------------------------------------------- OpenApiFunction
def openapi_serves_the_contract_with_its_own_address(h: Harness) -> None:
    """document.json: docs/openapi.json, with this API's URL (domain and stage) as its server."""
    event = h.event()
    answer = h.api(event)
    assert answer.status == 200
    served = dict(answer.body)
    ctx = event["requestContext"]
    assert served.pop("servers") == [{"url": f"https://{ctx['domainName']}/{ctx['stage']}"}]
    assert served == contract()


def openapi_names_the_configured_base_url(h: Harness) -> None:
    """document.json with the H5BaseUrl parameter set: that is the server."""
    answer = h.api(h.event())
    assert answer.body["servers"] == [{"url": "https://auth.example.com/carrier"}]


# ---------------------------------------------------------------------------------- H5LinkFunction
def h5_link_creates_a_session_waiting_for_its_user(h: Harness) -> None:
    """create.json: an AWAITING_USER session (no execution), a single-use link whose token only
    the answer carries (the session keeps its SHA-256), the prefilled number encrypted and masked."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (200, codes.IN_PROGRESS, h5.WAITING_FOR_USER)
    task_id = answer.data["task_id"]
    ctx = event["requestContext"]
    match = re.fullmatch(
        rf"https://{re.escape(ctx['domainName'])}/{ctx['stage']}/h5/{task_id}#t=([A-Za-z0-9_-]+)", answer.data["h5_url"]
    )
    assert match, answer.data["h5_url"]
    token = match.group(1)
    h.secrets.add(token)
    item = sessions.get(task_id)
    assert item["status"] == sessions.AWAITING_USER
    assert item["h5_link_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert answer.data["expires_at"] == str(item["h5_link_expires_at"] * 1000)
    body = body_of(event)
    assert item["prefill"] == {"name": None, "identity_card": None, "mobile_no": "138****8000"}
    assert json.loads(decrypt(task_id, item["prefill_enc"])) == {"mobile_no": body["mobile_no"]}
    assert decrypt(task_id, item["callback_token_enc"]) == body["callback_set"]["token"]
    assert (item["return_url"], item["tenant_name"]) == (body["return_url"], "某某借款")
    assert h.stack.executions() == [] and h.machine.calls == []


def h5_link_refuses_a_private_callback_url(h: Harness) -> None:
    """create.json whose callback host resolves to a private address: 400, nothing created."""
    event = h.event()
    h.stack.add_tenant(key_id(event))
    h.network.hosts["risk.example.com"] = "10.0.0.7"
    answer = h.api(event)
    assert (answer.status, answer.code) == (400, codes.SYSTEM_ERROR)
    assert answer.body["message"].startswith("callback_set.callback_url 不可用")
    assert h.stack.scan() == []


# ---------------------------------------------------------------------------------- H5PageFunction
def h5_page_serves_the_page(h: Harness) -> None:
    """page.json: the HTML with its base path and the page's security headers; no AWS call."""
    event = h.event()
    answer = h.api(event)
    assert (answer.status, answer.headers["content-type"]) == (200, "text/html; charset=utf-8")
    base = f"/{event['requestContext']['stage']}/h5/{event['pathParameters']['task_id']}"
    assert f'<meta name="h5-base" content="{base}">' in answer.body
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    assert h.aws_calls == []


COOKIE_RE = re.compile(r"carrier_auth_h5=([^;\s]+)")


def _page_task(h: Harness, event: dict[str, Any], **values: Any) -> str:
    task_id = event["pathParameters"]["task_id"]
    cookie = COOKIE_RE.search(event["headers"]["Cookie"]).group(1)
    h.secrets.add(cookie)
    page = {
        "h5_link_hash": hashlib.sha256(b"link-token-used-earlier").hexdigest(),
        "h5_link_used_at": int(time.time()) - 60,
        "h5_cookie_hash": hashlib.sha256(cookie.encode()).hexdigest(),
        "h5_cookie_expires_at": int(time.time()) + h5.PAGE_SESSION_SECONDS,
        "return_url": "https://app.example.com/carrier/return",
        "tenant_name": "某某借款",
        "prefill": {"name": "张*", "identity_card": None, "mobile_no": "138****8000"},
    }
    waiting(task_id, "trace-of-the-prompt", **{**page, **values})
    return task_id


def h5_state_shows_the_sms_step(h: Harness) -> None:
    """state.json (the page's cookie): the task waits for the SMS code: step "sms", the resend
    countdown from the template's limits, the provider's name from CarrierProvider."""
    event = h.event()
    _page_task(h, event, resends=2)
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["trace_id"]) == (200, codes.IN_PROGRESS, "trace-of-the-prompt")
    data = answer.data
    assert (data["step"], data["guide_code"]) == ("sms", codes.NEED_SMS_CODE)
    assert data["resend"] == {"wait_seconds": 0, "left": int(h.env["RESEND_LIMIT"]) - 2}
    assert data["provider_name"] == h5.PROVIDER_NAMES[h.env["CARRIER_PROVIDER"]]
    assert data["agreement"] == {"version": h5.AGREEMENT_VERSION, "retention_days": int(h.env["SESSION_TTL_DAYS"])}
    assert data["next_action"] == codes.USER_NEXT_ACTIONS[codes.NEED_SMS_CODE]
    assert answer.headers["cache-control"] == "no-store" and "strict-transport-security" in answer.headers


def h5_state_without_a_valid_cookie_is_401(h: Harness) -> None:
    """state.json after the page's cookie expired: 401, the page says to start again."""
    event = h.event()
    _page_task(h, event, h5_cookie_expires_at=int(time.time()) - 1)
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (401, codes.SYSTEM_ERROR, h5.PAGE_EXPIRED)
    assert answer.data == {"reason": "expired"}


def h5_start_starts_the_task_the_user_consented_to(h: Harness) -> None:
    """start.json (the page's cookie, its CSRF header): the person and password become the task's
    secrets, the execution starts and the page shows the Begin step's prompt."""
    event = h.event()
    task_id = event["pathParameters"]["task_id"]
    cookie = COOKIE_RE.search(event["headers"]["Cookie"]).group(1)
    h.secrets.add(cookie)
    with h.as_the_machine():
        sessions.create({
            "task_id": task_id, "tenant": "k7x9q2w4e6", "tenant_name": "某某借款", "user_id": "u-1001",
            "callback_url": "https://example.com/carrier/callback", "return_url": "https://app.example.com/carrier/return",
            "h5_link_hash": hashlib.sha256(b"link-token-used-earlier").hexdigest(),
            "h5_link_used_at": int(time.time()) - 60,
            "h5_cookie_hash": hashlib.sha256(cookie.encode()).hexdigest(),
            "h5_cookie_expires_at": int(time.time()) + h5.PAGE_SESSION_SECONDS,
            "answer": sessions.answer(codes.IN_PROGRESS, message=h5.WAITING_FOR_USER),
        }, status=sessions.AWAITING_USER)
    h.machine.then["StartExecution"] = checkpoint(
        sessions.WAITING_INPUT, codes.NEED_SMS_CODE, task_token="tok-login", input_guide=codes.NEED_SMS_CODE
    )
    answer = h.api(event)
    assert (answer.status, answer.code, answer.data["step"]) == (200, codes.IN_PROGRESS, "sms")
    item = sessions.get(task_id)
    assert item["status"] == sessions.WAITING_INPUT and item["consent"]["version"] == h5.AGREEMENT_VERSION
    assert json.loads(decrypt(task_id, item["secrets_enc"]))["password"] == body_of(event)["password"]
    (execution,) = h.stack.executions()
    assert execution["name"] == task_id


def h5_resend_asks_the_waiting_step_for_a_new_code(h: Harness) -> None:
    """resend.json (the page's 重新获取): the parked token is resumed with a resend, once (the
    idempotency record), and the page shows the new prompt."""
    event = h.event()
    task_id = _page_task(h, event)
    h.machine.then["SendTaskSuccess"] = checkpoint(
        sessions.WAITING_INPUT, codes.NEED_SMS_CODE, task_id, task_token="tok-resent", code_sent_at=int(time.time())
    )
    answer = h.api(event)
    assert (answer.status, answer.data["step"], answer.data["guide_code"]) == (200, "sms", codes.NEED_SMS_CODE)
    (sent,) = h.machine.named("SendTaskSuccess")
    assert json.loads(sent["output"]) == {"outcome": "INPUT", "input": {"action": "resend"}}
    assert sessions.get(task_id)["resends"] == 1
    assert h.stack.scan("IdempotencyTable")  # a replay of this request answers the same


# ---------------------------------------------------------------------------------- identity checks
def _identity_consistent(h: Harness, provider: str) -> None:
    event = h.event()
    fake = h.providers.identity(provider)
    fake.result = IdentityResult("consistent", provider, isp="移动", raw_code="0", raw_message="一致", request_id="r-1")
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (200, codes.IN_PROGRESS, "信息一致")
    assert {k: answer.data[k] for k in ("verdict", "provider", "cached", "guide_code", "request_id")} == {
        "verdict": "consistent",
        "provider": provider,
        "cached": False,
        "guide_code": "",
        "request_id": "r-1",
    }
    assert fake.calls == [person_of(event)]
    (cached,) = h.stack.scan("IdentityCacheTable")
    assert cached["cache_key"].startswith(f"{key_id(event)}#{provider}#")  # the tenant's, keyed hash only


def _identity_cached(h: Harness, provider: str) -> None:
    event = h.event()
    first, again = h.api(event), h.api(event)
    assert (first.data["cached"], again.data["cached"]) == (False, True)
    assert again.data["verdict"] == first.data["verdict"] == "consistent"
    assert len(h.providers.identity(provider).calls) == 1


def _identity_unavailable(h: Harness, provider: str) -> None:
    event = h.event()
    h.providers.identity(provider).result = ProviderUnavailable("upstream timed out")
    answer = h.api(event)
    assert (answer.status, answer.code, answer.body["message"]) == (
        503,
        codes.SYSTEM_ERROR,
        "身份核验服务暂不可用，请稍后再试",
    )
    assert h.stack.scan("IdentityCacheTable") == []


def three_factor_consistent(h: Harness) -> None:
    """api.json: the provider says consistent; answered and cached under the tenant."""
    _identity_consistent(h, "three_factor")


def three_factor_second_check_is_cached(h: Harness) -> None:
    _identity_cached(h, "three_factor")


def three_factor_inconsistent_answers_90026(h: Harness) -> None:
    event = h.event()
    h.providers.identity("three_factor").result = IdentityResult(
        "inconsistent", "three_factor", codes.IDENTITY_MISMATCH, raw_code="-4"
    )
    answer = h.api(event)
    assert (answer.code, answer.data["verdict"], answer.data["guide_code"]) == (
        codes.IN_PROGRESS,
        "inconsistent",
        codes.IDENTITY_MISMATCH,
    )
    assert answer.body["message"] == codes.guide_message(codes.IDENTITY_MISMATCH)


def three_factor_unavailable_is_503(h: Harness) -> None:
    _identity_unavailable(h, "three_factor")


def realname_consistent(h: Harness) -> None:
    """api.json against 驭信: consistent, cached."""
    _identity_consistent(h, "yuxin")


def realname_second_check_is_cached(h: Harness) -> None:
    _identity_cached(h, "yuxin")


def realname_unknown_is_not_cached(h: Harness) -> None:
    event = h.event()
    h.providers.identity("yuxin").result = IdentityResult("unknown", "yuxin", raw_code="10002")
    answer = h.api(event)
    assert (answer.status, answer.data["verdict"], answer.body["message"]) == (
        200,
        "unknown",
        "无法确认（无记录或上游暂不支持）",
    )
    assert h.stack.scan("IdentityCacheTable") == []


def realname_unavailable_is_503(h: Harness) -> None:
    _identity_unavailable(h, "yuxin")


# ---------------------------------------------------------------------------------- CollectFunction
def _collect(h: Harness, seeded: bool = True) -> tuple[dict[str, Any], str, str]:
    event = received_from(h.stack, "CollectQueue", h.event())
    record = event["Records"][0]
    message = json.loads(record["body"])
    h.secrets.add(message["task_token"])
    if seeded:
        collecting(message["task_id"])
    return event, message["task_id"], message["task_token"]


def collect_completes_a_decided_collection(h: Harness) -> None:
    """sqs.json: the provider says SUCCESS: the Collect state is completed (SendTaskSuccess),
    the poll count recorded, the message deleted (no batch item failure)."""
    event, task_id, token = _collect(h)
    h.providers.carrier("juxinli").poll_result = CollectResult("SUCCESS", raw_code="done")
    assert h.invoke(event) == {"batchItemFailures": []}
    assert h.machine.calls == [
        ("SendTaskSuccess", {"taskToken": token, "output": json.dumps({"outcome": codes.CALLBACK_SUCCESS})})
    ]
    assert h.providers.carrier("juxinli").calls == [("poll", ({"token": "jx-report-token"},))]
    receives = int(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
    assert sessions.get(task_id)["polls"] == receives


def collect_leaves_a_running_collection_for_the_next_poll(h: Harness) -> None:
    """sqs.json while the provider still collects: the record fails (kept), its visibility
    becomes PollIntervalSeconds, the machine is not told anything."""
    event, _task_id, _token = _collect(h)
    record = event["Records"][0]
    assert h.invoke(event) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert h.visibility == [
        {
            "QueueUrl": h.stack.queues["CollectQueue"],
            "ReceiptHandle": record["receiptHandle"],
            "VisibilityTimeout": int(h.env["POLL_INTERVAL_SECONDS"]),
        }
    ]
    assert h.machine.calls == [] and h.providers.carrier("juxinli").operations == ["poll"]


def collect_ends_a_collection_at_the_poll_bound(h: Harness) -> None:
    """sqs.json (its 3rd receive) with MaxCollectPolls 3, still running: DEFEAT."""
    event, _task_id, token = _collect(h)
    assert h.invoke(event) == {"batchItemFailures": []}
    assert h.machine.calls == [
        ("SendTaskSuccess", {"taskToken": token, "output": json.dumps({"outcome": codes.CALLBACK_DEFEAT})})
    ]


def collect_fails_the_state_on_a_definite_provider_error(h: Harness) -> None:
    """sqs.json when the provider refuses our credentials: SendTaskFailure naming the error."""
    event, _task_id, token = _collect(h)
    h.providers.carrier("juxinli").poll_result = ProviderError("credentials refused")
    assert h.invoke(event) == {"batchItemFailures": []}
    (failed,) = h.machine.named("SendTaskFailure")
    assert (failed["taskToken"], failed["error"]) == (token, "ProviderError")
    assert "credentials" not in failed.get("cause", "")


def collect_for_an_expired_session_is_defeat(h: Harness) -> None:
    event, _task_id, _token = _collect(h, seeded=False)
    assert h.invoke(event) == {"batchItemFailures": []}
    assert json.loads(h.machine.named("SendTaskSuccess")[0]["output"]) == {"outcome": codes.CALLBACK_DEFEAT}
    assert h.providers.calls == []


def collect_asks_the_tasks_own_provider(h: Harness) -> None:
    """sqs.json for a task on Moxie (after a failover): Moxie is polled, its answer decides."""
    event, task_id, token = _collect(h, seeded=False)
    collecting(task_id, provider="moxie", provider_state={"task_id": "mx-1"})
    h.providers.carrier("moxie").poll_result = CollectResult("SUCCESS")
    assert h.invoke(event) == {"batchItemFailures": []}
    assert h.providers.calls == [("moxie", "poll")]
    assert h.machine.calls == [
        ("SendTaskSuccess", {"taskToken": token, "output": json.dumps({"outcome": codes.CALLBACK_SUCCESS})})
    ]


# ---------------------------------------------------------------------------------- CallbackFunction
def _callback(h: Harness) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    event = received_from(h.stack, "CallbackQueue", h.event())
    detail = json.loads(event["Records"][0]["body"])["detail"]
    h.stack.add_tenant("k7x9q2w4e6")
    item = finished(detail["task_id"], event_id=detail["event_id"], finished_at=detail["finished_at"])
    token = "cb-token-demo"
    sessions.update(detail["task_id"], {"callback_token_enc": crypto.encrypt(detail["task_id"], token)})
    h.secrets.add(token)
    return event, detail, item


def callback_delivers_the_signed_result(h: Harness) -> None:
    """sqs.json: one signed POST to the task's callback URL (at the address the guard vetted),
    both signatures by the tenant's secret; the session records the delivery."""
    event, detail, item = _callback(h)
    assert h.invoke(event) == {"batchItemFailures": []}
    (post,) = h.endpoint.posts
    assert (post.url, post.address) == (item["callback_url"], HOSTS["example.com"])
    sent = json.loads(post.raw)
    assert (sent["task_id"], sent["event_id"], sent["success"], sent["error_code"]) == (
        detail["task_id"],
        detail["event_id"],
        True,
        codes.CALLBACK_SUCCESS,
    )
    assert sent["callback_set"] == {"callback_url": item["callback_url"], "token": "cb-token-demo"}
    assert sent["userId"] == item["user_id"] and sent["error_message"] == detail["error_message"]
    assert callback.verify(CALLBACK_SECRET, post.raw, post.headers[callback.SIGNATURE_HEADER])
    assert callback.verify_standard(callback.standard_secret(CALLBACK_SECRET), post.raw, post.headers)
    assert post.headers[callback.STANDARD_ID_HEADER] == detail["event_id"]
    stored = sessions.get(detail["task_id"])
    assert (stored["callback_status"], stored["callback_http_status"]) == ("DELIVERED", 200)
    assert h.visibility == []


def callback_gone_ends_the_retries(h: Harness) -> None:
    """sqs.json, the endpoint answers 410: not failed (deleted), the session says GONE."""
    event, detail, _item = _callback(h)
    h.endpoint.status = 410
    assert h.invoke(event) == {"batchItemFailures": []}
    stored = sessions.get(detail["task_id"])
    assert (stored["callback_status"], stored["callback_http_status"]) == ("GONE", 410)
    assert h.visibility == []


def callback_503_backs_off_as_retry_after_asks(h: Harness) -> None:
    """sqs.json, the endpoint answers 503 with Retry-After 120: the record's next attempt in 120 s.
    Its only record failed, so Powertools fails the whole batch (the invocation raises)."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    event, detail, _item = _callback(h)
    h.endpoint.status, h.endpoint.retry_after = 503, "120"
    with pytest.raises(BatchProcessingError):
        h.invoke(event)
    record = event["Records"][0]
    assert h.visibility == [
        {
            "QueueUrl": h.stack.queues["CallbackQueue"],
            "ReceiptHandle": record["receiptHandle"],
            "VisibilityTimeout": 120,
        }
    ]
    assert "callback_status" not in sessions.get(detail["task_id"])


# ---------------------------------------------------------------------------------- ReconcileFunction
def reconcile_ends_a_collecting_task_with_defeat(h: Harness) -> None:
    """execution_failed.json for a task that answered 105: DEFEAT, and its CarrierAuthFinished
    reaches the callback queue (系统错误)."""
    event = h.event()
    task_id = event["detail"]["name"]
    collecting(task_id)
    assert h.invoke(event) == {"task_id": task_id, "status": event["detail"]["status"]}
    item = sessions.get(task_id)
    assert item["status"] == sessions.DEFEAT and item["result_message"] == codes.CALLBACK_MESSAGES["error"]
    (message,) = h.stack.messages("CallbackQueue")
    assert json.loads(message["Body"])["detail"] == events.finished_detail(item)
    assert "published_at" in item


def reconcile_answers_103_before_105(h: Harness) -> None:
    """execution_failed.json for a task waiting for its code: 103, the token dropped, no callback."""
    event = h.event()
    task_id = event["detail"]["name"]
    waiting(task_id, "trace-of-the-prompt")
    h.invoke(event)
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["code"], item["error"]) == (
        sessions.ERROR,
        codes.SYSTEM_ERROR,
        "execution FAILED",
    )
    assert "task_token" not in item and h.stack.messages("CallbackQueue") == []


def reconcile_leaves_a_final_task_alone(h: Harness) -> None:
    event = h.event()
    task_id = event["detail"]["name"]
    before = seed(task_id, sessions.FAILED, sessions.answer(codes.IN_PROGRESS, codes.WRONG_PASSWORD))
    h.invoke(event)
    assert sessions.get(task_id) == before and h.stack.messages("CallbackQueue") == []


# ---------------------------------------------------------------------------------- the state machine's steps
# Each Task's function with its Parameters as the event; the fakes answer what the upstream would.
SMS_PROMPT = CarrierStep("NEED_INPUT", codes.NEED_SMS_CODE, state={"token": "jx-token"})


def _step_task(h: Harness, status: str = sessions.PENDING, **values: Any) -> tuple[dict[str, Any], str]:
    event = h.event()
    if "task_token" in event:
        h.secrets.add(event["task_token"])
    task_id = event["task_id"]
    with h.as_the_machine():
        seed(task_id, status, sessions.answer(codes.IN_PROGRESS), **values)
    return event, task_id


def login_checks_the_person_then_parks_its_token_for_the_code(h: Harness) -> None:
    """begin.json: both identity checks agree (IdentityPolicy fallback: the primary decides), the
    login asks for the SMS code: the step's own token is parked with the prompt and heartbeated."""
    event, task_id = _step_task(h)
    h.providers.carrier("juxinli").login_step = SMS_PROMPT
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    (person, password) = h.providers.carrier("juxinli").calls[0][1]
    assert (person.id_number, password) == ("11010519491231002X", "sandbox-pass")
    assert [c.id_number for c in h.providers.identity("three_factor").calls] == ["11010519491231002X"]
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["guide_code"], item["task_token"]) == (
        sessions.WAITING_INPUT, codes.NEED_SMS_CODE, event["task_token"])
    assert item["identity_verdict"] == "accepted" and item["upstream_call"]["key"] == f"login@{event['entered']}"
    assert h.machine.calls == [("SendTaskHeartbeat", {"taskToken": event["task_token"]})]


def login_ends_a_task_whose_person_does_not_match(h: Harness) -> None:
    """begin.json, three-factor says inconsistent: 90026, no login upstream, the task completed."""
    event, task_id = _step_task(h)
    h.providers.identity("three_factor").result = IdentityResult(
        "inconsistent", "three_factor", codes.IDENTITY_MISMATCH, raw_code="-4")
    assert h.invoke(event) == {"outcome": "FAILED"}
    assert h.providers.carrier("juxinli").calls == []
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["guide_code"]) == (sessions.FAILED, codes.IDENTITY_MISMATCH)
    assert h.machine.calls == [("SendTaskSuccess", {"taskToken": event["task_token"], "output": '{"outcome": "FAILED"}'})]


def login_unavailable_is_the_asl_retry(h: Harness) -> None:
    """begin.json, the provider never answered: ProviderUnavailable (the ASL retries, then fails
    over) and the call's key is forgotten, so the retry logs in again."""
    event, task_id = _step_task(h, identity_verdict="accepted")
    h.providers.carrier("juxinli").login_step = ProviderUnavailable("connect timeout")
    with pytest.raises(ProviderUnavailable):
        h.invoke(event)
    assert "upstream_call" not in sessions.get(task_id) and h.machine.calls == []


def login_working_asks_the_machine_to_check_later(h: Harness) -> None:
    """begin.json on Moxie, still logging in: WORKING (CheckWait, then CarrierCheck), counted."""
    event, task_id = _step_task(h, identity_verdict="accepted", provider="moxie")
    h.providers.carrier("moxie").login_step = CarrierStep("WORKING", state={"task_id": "mx-1"})
    assert h.invoke(event) == {"outcome": "WORKING"}
    assert sessions.get(task_id)["checks"] == 1
    assert json.loads(h.machine.named("SendTaskSuccess")[0]["output"]) == {"outcome": "WORKING"}


def login_refused_password_is_counted_as_a_wrong_input(h: Harness) -> None:
    """begin.json, the service password is refused: 90006 asked again, one wrong input counted."""
    event, task_id = _step_task(h, identity_verdict="accepted")
    h.providers.carrier("juxinli").login_step = CarrierStep("NEED_INPUT", codes.WRONG_QUERY_PASSWORD)
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    item = sessions.get(task_id)
    assert (item["wrong_codes"], item["answer"]["guide_code"]) == (1, codes.WRONG_QUERY_PASSWORD)


def send_input_asks_the_provider_for_a_new_code(h: Harness) -> None:
    """resend.json: the app asked for a new code: one resend upstream, the new token parked."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="juxinli", provider_state={"token": "jx-token"})
    h.providers.carrier("juxinli").resend_step = SMS_PROMPT
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    assert h.providers.carrier("juxinli").operations == ["resend"]
    assert sessions.get(task_id)["task_token"] == event["task_token"]
    assert h.machine.calls == [("SendTaskHeartbeat", {"taskToken": event["task_token"]})]


def send_input_submits_the_code_and_completes_its_task(h: Harness) -> None:
    """resend.json with a code instead (the submit facade's input): COLLECTING, 105."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="juxinli", provider_state={"token": "jx-token"})
    event["input"] = {"action": "submit", "code_enc": crypto.encrypt(task_id, "246810")}
    h.secrets.add("246810")
    assert h.invoke(event) == {"outcome": "COLLECTING"}
    (_state, _person, password, code) = h.providers.carrier("juxinli").calls[0][1]
    assert (password, code) == ("sandbox-pass", "246810")
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["code"]) == (sessions.COLLECTING, codes.SUBMITTED)
    assert json.loads(h.machine.named("SendTaskSuccess")[0]["output"]) == {"outcome": "COLLECTING"}


def send_input_ends_after_too_many_wrong_codes(h: Harness) -> None:
    """resend.json with a code, the provider says wrong code once more than WrongCodeLimit: 90030."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="juxinli", wrong_codes=1)
    event["input"] = {"action": "submit", "code_enc": crypto.encrypt(task_id, "135790")}
    h.secrets.add("135790")
    h.providers.carrier("juxinli").submit_step = CarrierStep("NEED_INPUT", codes.WRONG_SMS_CODE)
    assert h.invoke(event) == {"outcome": "FAILED"}
    assert sessions.get(task_id)["answer"]["guide_code"] == codes.TOO_MANY_WRONG_CODES


def check_login_sees_the_asynchronous_login_decided(h: Harness) -> None:
    """check.json: Moxie's login went through: COLLECTING, the step completes its own task."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="moxie", provider_state={"task_id": "mx-1"}, checks=1)
    h.providers.carrier("moxie").check_step = CarrierStep("COLLECTING")
    assert h.invoke(event) == {"outcome": "COLLECTING"}
    assert h.providers.carrier("moxie").calls == [("check", ({"task_id": "mx-1"},))]
    assert sessions.get(task_id)["status"] == sessions.COLLECTING


def check_login_gives_up_after_max_login_checks(h: Harness) -> None:
    """check.json, still working at the bound: 90035, the task ends."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="moxie", checks=60)
    h.providers.carrier("moxie").check_step = CarrierStep("WORKING")
    assert h.invoke(event) == {"outcome": "FAILED"}
    assert sessions.get(task_id)["answer"]["guide_code"] == codes.CARRIER_BUSY


def answer_busy_keeps_the_task_waiting_with_90035(h: Harness) -> None:
    """busy.json: no upstream call; 90035 is the answer and the step's token waits for the app."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="juxinli")
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["guide_code"], item["task_token"]) == (
        sessions.WAITING_INPUT, codes.CARRIER_BUSY, event["task_token"])
    assert h.providers.calls == [] and h.machine.calls == [("SendTaskHeartbeat", {"taskToken": event["task_token"]})]


def failover_hands_the_task_to_the_next_provider(h: Harness) -> None:
    """failover.json with CarrierProviderFallback moxie: RETRY (Begin again, on Moxie)."""
    event, task_id = _step_task(h, provider="juxinli", provider_state={"token": "jx-token"})
    assert h.invoke(event) == {"outcome": "RETRY"}
    item = sessions.get(task_id)
    assert (item["provider"], item["providers_tried"], item["provider_state"]) == ("moxie", ["juxinli", "moxie"], {})


def failover_without_a_next_provider_answers_90035(h: Harness) -> None:
    event, task_id = _step_task(h, provider="juxinli")
    assert h.invoke(event) == {"outcome": "FAILED"}
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["guide_code"]) == (sessions.FAILED, codes.CARRIER_BUSY)


def publish_result_marks_success_and_publishes_once(h: Harness) -> None:
    """success.json: SUCCESS, and CarrierAuthFinished reaches the callback queue; invoked again
    (the ASL's retry) it publishes nothing new."""
    event, task_id = _step_task(h, sessions.COLLECTING, provider="juxinli")
    assert h.invoke(event) == {"result": codes.CALLBACK_SUCCESS}
    item = sessions.get(task_id)
    assert item["status"] == sessions.SUCCESS and "published_at" in item
    (message,) = h.stack.messages("CallbackQueue")
    assert json.loads(message["Body"])["detail"] == events.finished_detail(item)
    assert h.invoke(event) == {"result": codes.CALLBACK_SUCCESS}
    assert h.stack.messages("CallbackQueue") == []


def input_timeout_answers_90032(h: Harness) -> None:
    """timeout.json: no input in time: 90032, the parked token forgotten."""
    event, task_id = _step_task(h, sessions.WAITING_INPUT, task_token="tok-waiting")
    assert h.invoke(event) == {}
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["guide_code"]) == (sessions.TIMED_OUT, codes.INPUT_TIMEOUT)
    assert "task_token" not in item


def system_error_answers_103_before_105(h: Harness) -> None:
    """error.json for a task still logging in: 103, the error's name kept for support."""
    event, task_id = _step_task(h, sessions.PROCESSING)
    assert h.invoke(event) == {}
    item = sessions.get(task_id)
    assert (item["status"], item["answer"]["code"], item["error"]) == (sessions.ERROR, codes.SYSTEM_ERROR, "ProviderError")
    assert h.stack.messages("CallbackQueue") == []


def system_error_after_105_is_a_defeat_callback(h: Harness) -> None:
    """error.json for a collecting task: DEFEAT (系统错误) by callback."""
    event, task_id = _step_task(h, sessions.COLLECTING, provider="juxinli")
    assert h.invoke(event) == {}
    item = sessions.get(task_id)
    assert (item["status"], item["result_message"]) == (sessions.DEFEAT, codes.CALLBACK_MESSAGES["error"])
    assert len(h.stack.messages("CallbackQueue")) == 1


def login_asks_the_next_identity_provider_when_the_first_fails(h: Harness) -> None:
    """begin.json, three-factor unavailable: 驭信 answers instead (IdentityPolicy fallback); it
    agrees, the login goes on."""
    event, task_id = _step_task(h)
    h.providers.identity("three_factor").result = ProviderUnavailable("three-factor timed out")
    h.providers.carrier("juxinli").login_step = SMS_PROMPT
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    assert [c.id_number for c in h.providers.identity("yuxin").calls] == ["11010519491231002X"]
    assert sessions.get(task_id)["identity_verdict"] == "accepted"


def login_goes_on_when_the_identity_cannot_be_told(h: Harness) -> None:
    """begin.json, three-factor answers "unknown": IdentityUnknownRule continue - the login goes on."""
    event, task_id = _step_task(h)
    h.providers.identity("three_factor").result = IdentityResult("unknown", "three_factor", raw_code="2")
    h.providers.carrier("juxinli").login_step = SMS_PROMPT
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    assert sessions.get(task_id)["identity_verdict"] == "accepted"
    assert h.providers.carrier("juxinli").operations == ["login"]


def send_input_on_moxie_may_still_be_working(h: Harness) -> None:
    """resend.json with a code on Moxie, which takes the code and logs in asynchronously: WORKING."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="moxie", provider_state={"task_id": "mx-1"})
    event["input"] = {"action": "submit", "code_enc": crypto.encrypt(task_id, "975310")}
    h.secrets.add("975310")
    h.providers.carrier("moxie").submit_step = CarrierStep("WORKING")
    assert h.invoke(event) == {"outcome": "WORKING"}
    assert h.providers.carrier("moxie").operations == ["submit"]


def check_login_counts_a_wrong_code_the_provider_reports(h: Harness) -> None:
    """check.json, Moxie's login refused the code: 90007 asked again, one wrong code counted."""
    event, task_id = _step_task(h, sessions.PROCESSING, provider="moxie", checks=1)
    h.providers.carrier("moxie").check_step = CarrierStep("NEED_INPUT", codes.WRONG_SMS_CODE)
    assert h.invoke(event) == {"outcome": "NEED_INPUT"}
    item = sessions.get(task_id)
    assert (item["wrong_codes"], item["answer"]["guide_code"], item["task_token"]) == (
        1, codes.WRONG_SMS_CODE, event["task_token"])


# ================================================================================== the table
CASES: dict[str, list[Case]] = {
    "StartFunction": [
        Case("valid.json", start_answers_the_first_checkpoint),
        Case("valid.json", start_answers_still_processing_without_a_checkpoint, FAST),
        Case("valid.json", start_answers_103_when_the_workflow_cannot_start),
        Case("valid.json", start_refuses_a_key_without_tenant),
        Case("missing_field.json", start_refuses_a_body_without_mobile),
    ],
    "SubmitCodeFunction": [
        Case("valid.json", submit_hands_the_code_to_the_waiting_step),
        Case("valid.json", submit_replay_answers_the_first_answer),
        Case("valid.json", submit_with_a_stale_trace_is_409),
        Case("valid.json", submit_after_the_input_timeout_answers_90032),
        Case("valid.json", submit_for_another_tenants_task_is_404),
        Case("valid.json", submit_for_another_person_is_403),
    ],
    "ResendFunction": [
        Case("valid.json", resend_asks_the_waiting_step_for_a_new_code),
        Case("valid.json", resend_too_soon_is_refused_by_our_limit),
        Case("valid.json", resend_beyond_the_limit_is_refused),
    ],
    "StatusFunction": [
        Case("valid.json", status_of_a_finished_task_names_the_result),
        Case("valid.json", status_of_a_waiting_task_is_its_prompt),
        Case("valid.json", status_of_an_unknown_task_is_404),
    ],
    "RedeliverCallbackFunction": [
        Case("finished.json", redeliver_publishes_the_same_event_again),
        Case("finished.json", redeliver_before_the_end_is_409),
    ],
    "OpenApiFunction": [
        Case("document.json", openapi_serves_the_contract_with_its_own_address),
        Case("document.json", openapi_names_the_configured_base_url, {"H5BaseUrl": "https://auth.example.com/carrier"}),
    ],
    "H5LinkFunction": [
        Case("create.json", h5_link_creates_a_session_waiting_for_its_user),
        Case("create.json", h5_link_refuses_a_private_callback_url),
    ],
    "H5PageFunction": [
        Case("page.json", h5_page_serves_the_page),
        Case("state.json", h5_state_shows_the_sms_step),
        Case("state.json", h5_state_without_a_valid_cookie_is_401),
        Case("start.json", h5_start_starts_the_task_the_user_consented_to),
        Case("resend.json", h5_resend_asks_the_waiting_step_for_a_new_code),
    ],
    "ThreeFactorFunction": [
        Case("api.json", three_factor_consistent),
        Case("api.json", three_factor_second_check_is_cached),
        Case("api.json", three_factor_inconsistent_answers_90026),
        Case("api.json", three_factor_unavailable_is_503),
    ],
    "RealnameFunction": [
        Case("api.json", realname_consistent),
        Case("api.json", realname_second_check_is_cached),
        Case("api.json", realname_unknown_is_not_cached),
        Case("api.json", realname_unavailable_is_503),
    ],
    "CollectFunction": [
        Case("sqs.json", collect_completes_a_decided_collection),
        Case("sqs.json", collect_leaves_a_running_collection_for_the_next_poll),
        Case("sqs.json", collect_ends_a_collection_at_the_poll_bound, {"MaxCollectPolls": "3"}),
        Case("sqs.json", collect_fails_the_state_on_a_definite_provider_error),
        Case("sqs.json", collect_for_an_expired_session_is_defeat),
        Case("sqs.json", collect_asks_the_tasks_own_provider),
    ],
    "CallbackFunction": [
        Case("sqs.json", callback_delivers_the_signed_result),
        Case("sqs.json", callback_gone_ends_the_retries),
        Case("sqs.json", callback_503_backs_off_as_retry_after_asks),
    ],
    "ReconcileFunction": [
        Case("execution_failed.json", reconcile_ends_a_collecting_task_with_defeat),
        Case("execution_failed.json", reconcile_answers_103_before_105),
        Case("execution_failed.json", reconcile_leaves_a_final_task_alone),
    ],
    "LoginFunction": [
        Case("begin.json", login_checks_the_person_then_parks_its_token_for_the_code),
        Case("begin.json", login_ends_a_task_whose_person_does_not_match),
        Case("begin.json", login_unavailable_is_the_asl_retry),
        Case("begin.json", login_working_asks_the_machine_to_check_later),
        Case("begin.json", login_refused_password_is_counted_as_a_wrong_input),
        Case("begin.json", login_asks_the_next_identity_provider_when_the_first_fails),
        Case("begin.json", login_goes_on_when_the_identity_cannot_be_told),
    ],
    "SendInputFunction": [
        Case("resend.json", send_input_asks_the_provider_for_a_new_code),
        Case("resend.json", send_input_submits_the_code_and_completes_its_task),
        Case("resend.json", send_input_ends_after_too_many_wrong_codes, {"WrongCodeLimit": "2"}),
        Case("resend.json", send_input_on_moxie_may_still_be_working),
    ],
    "CheckLoginFunction": [
        Case("check.json", check_login_sees_the_asynchronous_login_decided),
        Case("check.json", check_login_gives_up_after_max_login_checks),
        Case("check.json", check_login_counts_a_wrong_code_the_provider_reports),
    ],
    "AnswerBusyFunction": [Case("busy.json", answer_busy_keeps_the_task_waiting_with_90035)],
    "FailoverFunction": [
        Case("failover.json", failover_hands_the_task_to_the_next_provider, {"CarrierProviderFallback": "moxie"}),
        Case("failover.json", failover_without_a_next_provider_answers_90035),
    ],
    "PublishResultFunction": [Case("success.json", publish_result_marks_success_and_publishes_once)],
    "InputTimeoutFunction": [Case("timeout.json", input_timeout_answers_90032)],
    "SystemErrorFunction": [
        Case("error.json", system_error_answers_103_before_105),
        Case("error.json", system_error_after_105_is_a_defeat_callback),
    ],
}


# ================================================================================== the tests
@pytest.fixture
def harness(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[str, Case], Harness]]:
    saved = dict(os.environ)

    def make(logical: str, case: Case) -> Harness:
        _HARNESS.append(Harness(logical, case, monkeypatch, capsys))
        return _HARNESS[-1]

    try:
        yield make
    finally:
        _HARNESS.clear()
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize(
    ("logical", "case"),
    [(logical, case) for logical, cases in CASES.items() for case in cases],
    ids=[
        f"{logical}-{case.event.removesuffix('.json')}-{case.name}"
        for logical, cases in CASES.items()
        for case in cases
    ],
)
def test_handler_answers_its_event(harness: Callable[[str, Case], Harness], logical: str, case: Case) -> None:
    h = harness(logical, case)
    case.check(h)
    h.verify()
    _READ[logical] |= h.reads | set().union(*(provider_variables(*built) for built in h.providers.built))
    _RAN[logical].add(case.name)


# What each function's cases read, all told (a fake provider reads none of its settings: what the
# registry reads to build the real one is added); checked once every case of a function ran.
_READ: dict[str, set[str]] = defaultdict(set)
_RAN: dict[str, set[str]] = defaultdict(set)


# the registry's own factories (the fakes replace them in each case)
REAL_BUILDERS = {"carrier": registry.carrier_provider, "identity": registry.identity_provider}


@cache
def provider_variables(kind: str, name: str) -> frozenset[str]:
    """The settings ``registry`` reads to build the real ``kind`` provider ``name`` (its secret's
    value stubbed: no AWS; the adapter is built, never called)."""
    reads: set[str] = set()
    creds = {"client_secret": "s", "apikey": "k", "token": "t", "aes_key": "0123456789abcdef"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config, "READ_HOOKS", [reads.add])
        mp.setattr(registry, "_secret", lambda _name: creds)
        (REAL_BUILDERS[kind])(name)
    return frozenset(reads)


@pytest.fixture(scope="module", autouse=True)
def each_function_is_given_only_what_it_reads() -> Iterator[None]:
    """At the end of the module, whatever order the cases ran in: a function whose every case ran
    read every setting template.yaml gives it (each case already checked it read nothing else)."""
    yield
    complete = [fn for fn, cases in CASES.items() if _RAN[fn] == {case.name for case in cases}]
    given = {fn: names for fn, names in declared(template()).items() if fn in complete}
    missing = unread(given, {fn: _READ[fn] for fn in complete})
    assert missing == {}, f"given but never read: {missing}"


def test_every_template_function_is_driven() -> None:
    assert set(functions()) == set(CASES)


def test_every_event_file_of_a_driven_function_is_used() -> None:
    for logical, cases in CASES.items():
        files = {p.name for p in (EVENTS / code_dir(logical)).glob("*.json")}
        assert files == {case.event for case in cases}, logical


def test_the_harness_sees_what_a_handler_prints(
    harness: Callable[[str, Case], Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leak scan is worth something: a secret a handler logs is found."""
    h = harness("StatusFunction", CASES["StatusFunction"][0])
    event = h.event()
    finished(event["pathParameters"]["task_id"])
    status = facade.status

    def leaky(task_id: str, tenant: str) -> tuple[int, dict]:
        facade.logger.info("a line with 11010519491231002X in it")
        return status(task_id, tenant)

    monkeypatch.setattr(facade, "status", leaky)
    h.secrets.add("11010519491231002X")
    assert h.api(event).status == 200
    with pytest.raises(AssertionError, match="a secret the test sent was printed"):
        h.verify()


def test_the_network_guard_refuses_and_records(harness: Callable[[str, Case], Harness]) -> None:
    """What the guard does to a real adapter's HTTP (requests) or any socket: refused, recorded."""
    import socket

    import requests

    h = harness("OpenApiFunction", CASES["OpenApiFunction"][0])
    with pytest.raises(requests.ConnectionError):
        requests.get("https://www.juxinli.com/orgApi/rest/v2/applications/x", timeout=1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("upstream.invalid", 443)
    assert len(h.network.attempts) == 2
    with pytest.raises(AssertionError, match="no connection may leave a unit test"):
        h.verify()
