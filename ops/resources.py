"""Which table, state machine, queues and bus the tools act on, and the clients to reach them.

- ``local()``: the embedded stack (``make run``): moto at ``CARRIER_AUTH_MOTO_URL`` (default
  http://127.0.0.1:5000) with fixed test credentials, and the names ``local/stack.py`` gives the
  template's resources (``{STACK}-{logical id}``, STACK from ``local/template.py``).
- ``deployed(stack)``: a CloudFormation stack in the account and region of the usual AWS
  credentials: its resources' physical ids (``ListStackResources``) by logical id, and the
  stack's Outputs (``DescribeStacks``) for any the listing leaves without one.

``Resources.bound()`` points ``carrier_auth`` (its settings and cached clients) at the same
resources for a block, so the tools write sessions with the flow's own functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from . import NotFound, OpsError, UsageError

DEFAULT_MOTO_URL = "http://127.0.0.1:5000"

# template.yaml's logical ids of what the tools use
SESSIONS_TABLE = "SessionsTable"
STATE_MACHINE = "CarrierAuthStateMachine"
CALLBACK_QUEUE = "CallbackQueue"
CALLBACK_DLQ = "CallbackDeadLetterQueue"
EVENT_BUS = "EventBus"
LOGICAL_IDS = (SESSIONS_TABLE, STATE_MACHINE, CALLBACK_QUEUE, CALLBACK_DLQ, EVENT_BUS)
# template.yaml's Outputs -> the logical id whose physical id they hold
OUTPUTS = {"SessionsTableName": SESSIONS_TABLE, "StateMachineArn": STATE_MACHINE,
           "CallbackDeadLetterQueueUrl": CALLBACK_DLQ, "EventBusName": EVENT_BUS}

TASK_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")  # an execution name's characters and length

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=20)
_LOCAL_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=20)


class Resources:
    """The stack the tools act on: where it is, its resources' names and clients for them."""

    def __init__(
        self,
        where: str,
        session: boto3.Session,
        sessions_table: str,
        state_machine_arn: str,
        callback_queue_url: str,
        callback_dlq_url: str,
        event_bus: str | Callable[[], str],
        endpoint_url: str | None = None,
        local: bool = False,
    ) -> None:
        self.where = where
        self.session = session
        self.sessions_table = sessions_table
        self.state_machine_arn = state_machine_arn
        self.callback_queue_url = callback_queue_url
        self.callback_dlq_url = callback_dlq_url
        self._event_bus = event_bus
        self.endpoint_url = endpoint_url
        self.local = local
        self._clients: dict[str, Any] = {}

    @property
    def event_bus_name(self) -> str:
        if callable(self._event_bus):
            self._event_bus = self._event_bus()
        return self._event_bus

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=_LOCAL_CONFIG if self.local else _CONFIG
            )
        return self._clients[service]

    def table(self) -> Any:
        return self.session.resource(
            "dynamodb", endpoint_url=self.endpoint_url, config=_LOCAL_CONFIG if self.local else _CONFIG
        ).Table(self.sessions_table)

    def execution_arn(self, task_id: str) -> str:
        """The task's execution: the facade names it after the task id."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{task_id}"

    @contextmanager
    def bound(self, event_bus: bool = False) -> Iterator[None]:
        """``carrier_auth`` (settings read from the environment, cached clients from boto3's
        default session) pointed at these resources for the block; everything restored after.
        ``event_bus``: resolve the bus too (only publishing needs it)."""
        from carrier_auth import aws

        values = {"SESSIONS_TABLE": self.sessions_table, "STATE_MACHINE_ARN": self.state_machine_arn}
        if event_bus:
            values["EVENT_BUS_NAME"] = self.event_bus_name
        if self.endpoint_url:
            values["AWS_ENDPOINT_URL"] = self.endpoint_url
        saved = {name: os.environ.get(name) for name in values}
        saved_session = boto3.DEFAULT_SESSION
        os.environ.update(values)
        boto3.DEFAULT_SESSION = self.session
        aws.reset()
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            boto3.DEFAULT_SESSION = saved_session
            aws.reset()


def check_task_id(task_id: str) -> str:
    if not TASK_ID.match(task_id or ""):
        raise UsageError(f"not a task id: {task_id!r} (letters, digits, - and _, at most 80)")
    return task_id


def local(moto_url: str | None = None) -> Resources:
    """The embedded stack behind ``moto_url`` (CARRIER_AUTH_MOTO_URL, http://127.0.0.1:5000)."""
    url = (moto_url or os.environ.get("CARRIER_AUTH_MOTO_URL") or DEFAULT_MOTO_URL).rstrip("/")
    try:
        from local.template import REGION, STACK, TEMPLATE, Resolver, arn, load_template
    except ImportError as exc:
        raise OpsError(f"--local needs this repository's development environment ({exc}): "
                       "run from the repository root with its virtualenv (make venv)") from None

    def name(logical: str) -> str:
        return f"{STACK}-{logical}"  # how local/stack.py names the template's resources

    def event_bus() -> str:  # the template's own Name (a !Sub of the stack name)
        template = load_template(TEMPLATE)
        return str(Resolver(template, {}).resolve(template["Resources"][EVENT_BUS]["Properties"]["Name"]))

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    sqs = session.client("sqs", endpoint_url=url, config=_LOCAL_CONFIG)
    queues = {}
    for logical in (CALLBACK_QUEUE, CALLBACK_DLQ):
        try:
            queues[logical] = sqs.get_queue_url(QueueName=name(logical))["QueueUrl"]
        except EndpointConnectionError:
            raise OpsError(f"no embedded stack answers at {url}: start it with `make run` "
                           "(or point CARRIER_AUTH_MOTO_URL / --moto-url at its moto)") from None
        except ClientError as exc:
            if "NonExistentQueue" in _code(exc) or "QueueDoesNotExist" in _code(exc):
                raise NotFound(f"{url} answers but has no {name(logical)} queue: is it the embedded stack "
                               "(make run)?") from None
            raise
    return Resources(
        where=f"local embedded stack, moto at {url}",
        session=session,
        sessions_table=name(SESSIONS_TABLE),
        state_machine_arn=arn("states", f"stateMachine:{name(STATE_MACHINE)}"),
        callback_queue_url=queues[CALLBACK_QUEUE],
        callback_dlq_url=queues[CALLBACK_DLQ],
        event_bus=event_bus,
        endpoint_url=url,
        local=True,
    )


def deployed(stack: str, region: str | None = None, profile: str | None = None) -> Resources:
    """A deployed stack's resources, by their logical ids (CloudFormation ListStackResources)."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except BotoCoreError as exc:  # e.g. an unknown profile
        raise UsageError(str(exc)) from None
    if not session.region_name:
        raise UsageError("no AWS region: pass --region or set AWS_REGION")
    cfn = session.client("cloudformation", config=_CONFIG)
    physical: dict[str, str] = {}
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                physical[resource["LogicalResourceId"]] = resource.get("PhysicalResourceId", "")
    except NoCredentialsError:
        raise OpsError("no AWS credentials: configure a profile (--profile) or the AWS_* variables") from None
    except ClientError as exc:
        if _code(exc) == "ValidationError" and "does not exist" in str(exc):
            raise NotFound(f"no stack {stack} in {session.region_name}") from None
        raise
    if any(not physical.get(logical) for logical in LOGICAL_IDS):  # the template's Outputs name some too
        for output in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", []):
            logical = OUTPUTS.get(output["OutputKey"])
            if logical and not physical.get(logical):
                physical[logical] = output.get("OutputValue", "")
    missing = [logical for logical in LOGICAL_IDS if logical != EVENT_BUS and not physical.get(logical)]
    if missing:
        raise NotFound(f"stack {stack} has no {', '.join(missing)}: is it a Carrier Auth Gateway stack?")

    def event_bus() -> str:  # only ending a 105'd task (abort) publishes
        raise NotFound(f"stack {stack} has no {EVENT_BUS} (nor an EventBusName output)")
    return Resources(
        where=f"stack {stack} ({session.region_name})",
        session=session,
        sessions_table=physical[SESSIONS_TABLE],
        state_machine_arn=physical[STATE_MACHINE],
        callback_queue_url=physical[CALLBACK_QUEUE],
        callback_dlq_url=physical[CALLBACK_DLQ],
        event_bus=physical.get(EVENT_BUS) or event_bus,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
