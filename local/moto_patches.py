"""What the embedded stack changes in moto, each in one place, by patching (never by editing
moto): behaviour the AWS services have and moto lacks, and moto's hot paths made cheap enough
for hundreds of concurrent flows in one process.

- ``patch_execution_status_events``: Step Functions' "Execution Status Change" events.
- ``serialise_moto_dynamodb``: DynamoDB's per-request atomicity (conditional writes, reads
  that never see half an update).
- ``cache_asl_programs``: parse a state machine's definition once, not once per execution.
- ``fast_dynamodb_responses``: item operations' answers as JSON directly.
- ``lock_moto_routers``: moto builds a service's request router on first use, unguarded.
- ``cache_moto_modules``: moto lists its own package directory on every request.
- ``reuse_interpreter_clients``: the interpreter creates a boto3 client for every task it runs.
- ``warm_moto``: load the service models and routers before the first burst of requests.
- ``early_task_token_outcomes``: a waitForTaskToken task with HeartbeatSeconds completes when
  its token was returned during the invocation itself, as in AWS.

``install()`` applies them all; each is idempotent.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from .template import ACCOUNT, REGION

log = logging.getLogger("carrier_auth.local")


def install() -> None:
    patch_execution_status_events()
    serialise_moto_dynamodb()
    cache_asl_programs()
    fast_dynamodb_responses()
    lock_moto_routers()
    early_task_token_outcomes()
    cache_moto_modules()
    reuse_interpreter_clients()
    warm_moto()


def _patched(function: Any) -> bool:
    return getattr(function, "_carrier_auth_patch", False)


def _mark(function: Callable) -> Callable:
    function._carrier_auth_patch = True  # type: ignore[attr-defined]
    return function


# ---------------------------------------------------------------- Step Functions
def patch_execution_status_events() -> None:
    """EventBridge gets "Step Functions Execution Status Change" events from the service;
    moto does not emit them, so we do it where moto records an execution's end."""
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend import execution as execution_module

    base = execution_module.BaseExecutionWorkerCommunication
    if _patched(base.terminated):
        return
    original = base.terminated

    def terminated(self):  # noqa: ANN001
        original(self)
        execution = self.execution
        status = execution.exec_status.value if execution.exec_status else "UNKNOWN"
        detail = {
            "executionArn": execution.exec_arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": status,
            "startDate": int(execution.start_date.timestamp() * 1000),
            "stopDate": int(time.time() * 1000),
            "input": None,
            "output": None,
        }
        try:
            events_backends[ACCOUNT][REGION].put_events(
                [
                    {
                        "Source": "aws.states",
                        "DetailType": "Step Functions Execution Status Change",
                        "Detail": json.dumps(detail),
                        "Resources": [execution.exec_arn],
                        "EventBusName": "default",
                    }
                ]
            )
        except Exception:  # the emulation must never break the interpreter
            log.exception("could not emit the execution status event")

    base.terminated = _mark(terminated)


PROGRAMS_KEPT = 16  # parsed definitions (a test may update the state machine a few times)


def cache_asl_programs() -> None:
    """moto's interpreter parses the definition (ANTLR, pure Python) again for every execution:
    about half a CPU second for ours, in the process that serves every AWS request. The parsed
    program holds no execution state (that lives in the execution's Environment), so one
    program per definition serves every execution, as the service compiles a definition once.

    The one lazily set attribute, each component's ``heap_key`` (where Retry keeps its attempt
    counters in the execution's heap), is fixed before the program is shared, so concurrent
    executions never race to set it."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    original = ExecutionWorker._get_evaluation_entrypoint
    if _patched(original):
        return
    programs: OrderedDict[str, Any] = OrderedDict()
    lock = threading.Lock()

    def _get_evaluation_entrypoint(self):  # noqa: ANN001, ANN202
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = programs.get(definition)
            if program is None:
                program = original(self)
                _settle_heap_keys(program)
                programs[definition] = program
                while len(programs) > PROGRAMS_KEPT:
                    programs.popitem(last=False)
            else:
                programs.move_to_end(definition)
            return program

    ExecutionWorker._get_evaluation_entrypoint = _mark(_get_evaluation_entrypoint)


def _settle_heap_keys(program: Any) -> None:
    """Give every component of ``program`` its heap key now (they are set on first use)."""
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    seen: set[int] = set()
    todo = [program]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, (list, tuple, set, frozenset)):
            todo.extend(node)
        elif isinstance(node, dict):
            todo.extend(node.values())
        elif isinstance(node, Component):
            if isinstance(node, EvalComponent):
                node.heap_key  # noqa: B018 - the property sets it
            todo.extend(vars(node).values())


# ---------------------------------------------------------------- moto's request routing
def lock_moto_routers() -> None:
    """moto builds a service's request router (a werkzeug Map of every operation: a third of a
    CPU second for Lambda) on the first request of each protocol, without a lock, so a burst of
    first requests builds it once per request. One lock: built once, then read without it."""
    from moto.core.routing import ServiceOperationRouter

    original = ServiceOperationRouter._get_router
    if _patched(original):
        return
    lock = threading.Lock()

    def _get_router(self, protocol: str):  # noqa: ANN001, ANN202
        router = self._routers.get(protocol)
        if router is not None:
            return router
        with lock:
            return original(self, protocol)

    ServiceOperationRouter._get_router = _mark(_get_router)


def cache_moto_modules() -> None:
    """moto's server finds a request's backend by listing its package directory (and a stat of
    each of its 300 entries) for every request, inside the lock that serialises all request
    dispatch. The directory does not change while the process runs: list it once."""
    from moto import backends

    if _patched(backends.list_of_moto_modules):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    backends.list_of_moto_modules = _mark(list_of_moto_modules)


def reuse_interpreter_clients() -> None:
    """The interpreter creates a new boto3 client (tens of milliseconds of CPU, and a new
    connection: a new server thread) for every Task state it runs. Its clients are all alike
    (per region and service, fixed test credentials, no retries) and botocore clients are
    safe to share between threads: one client per service, with a connection pool large
    enough for every execution at once."""
    import sys

    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if _patched(original):
        return
    clients: dict[tuple[str, str, str | None], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # as moto's: the state's credentials are not used either way
        endpoint = None if botocore_stubber.enabled else f"http://localhost:{moto_server_port()}"
        key = (region, service, endpoint)
        client = clients.get(key)
        if client is None:
            with lock:
                client = clients.get(key)
                if client is None:
                    client = clients[key] = boto3.session.Session().client(
                        aws_access_key_id="ak",
                        region_name=region,
                        service_name=service,
                        aws_secret_access_key="sk",
                        config=Config(
                            parameter_validation=False,
                            retries={"max_attempts": 0, "total_max_attempts": 1},
                            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                            max_pool_connections=1024,
                        ),
                        **({"endpoint_url": endpoint} if endpoint else {}),
                    )
        return client

    boto_client.boto_client_for = _mark(boto_client_for)
    # the modules that imported it already hold the original
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client.boto_client_for


WARM_SERVICES = ("dynamodb", "kms", "stepfunctions", "secretsmanager", "sqs", "events", "lambda", "sts")


def warm_moto(services: tuple[str, ...] = WARM_SERVICES) -> None:
    """moto loads a service's model and builds its request router on the service's first
    request; a burst of first requests (a hundred environments starting at once) each does it
    again. Done once here, before any request."""
    from moto.core.routing import get_service_router
    from moto.core.utils import get_service_model

    for service in services:
        model = get_service_model(service)
        get_service_router(service)._get_router(model.protocol)  # noqa: SLF001


# ---------------------------------------------------------------- DynamoDB
DYNAMODB_ITEM_METHODS = (
    "put_item", "get_item", "update_item", "delete_item", "query", "scan",
    "batch_get_item", "batch_write_item", "transact_get_items", "transact_write_items",
)


def serialise_moto_dynamodb() -> None:
    """DynamoDB applies each request atomically: a conditional write's condition and its
    update, and a read sees an item before or after a write, never during it. moto's server
    handles requests on parallel threads without a lock, and its updates change the stored
    item in place: two conditional writes can both pass (2-3 of 8 concurrent claims won), and
    a read that turns a stored item into its answer while an update runs can see half of it
    (or fail: "dictionary changed size during iteration").

    One lock (re-entrant) around moto's item operations, both the backend's and the request
    handler's (which turns the stored items into the answer), restores DynamoDB's guarantees
    locally. Parsing the request and writing the JSON answer stay outside it. The lock costs
    little: the interpreter runs one thread at a time anyway."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    if _patched(DynamoDBBackend.update_item):
        return
    lock = threading.RLock()

    def locked(method: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        wrapper.__name__ = method.__name__
        wrapper.__wrapped__ = method  # type: ignore[attr-defined]
        return _mark(wrapper)

    for name in DYNAMODB_ITEM_METHODS:
        for cls in (DynamoDBBackend, DynamoHandler):
            if name in vars(cls):
                setattr(cls, name, locked(getattr(cls, name)))


FAST_DYNAMODB_OPERATIONS = frozenset({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"})
_ITEM_KEYS = frozenset({"Item", "Attributes", "LastEvaluatedKey"})
_SCALAR_KEYS = frozenset({"Count", "ScannedCount"})


class _NotPlain(Exception):
    """Something the fast path does not know: moto's own serializer answers."""


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    """One AttributeValue as DynamoDB's JSON protocol writes it."""
    if len(value) != 1:
        raise _NotPlain
    (kind, inner), = value.items()
    if kind == "S" or kind == "N":
        return {kind: str(inner)}
    if kind == "M":
        return {"M": {str(k): _attribute(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_attribute(v) for v in inner]}
    if kind == "BOOL" or kind == "NULL":
        return {kind: bool(inner)}
    if kind == "SS" or kind == "NS":
        return {kind: [str(v) for v in inner]}
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(v) for v in inner]}
    raise _NotPlain


def _base64(value: Any) -> str:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(value).decode("ascii")


def _item(item: dict[str, Any]) -> dict[str, Any]:
    return {str(name): _attribute(value) for name, value in item.items()}


def _capacity(value: Any) -> Any:
    """ConsumedCapacity: the serializer writes its capacity units as floats."""
    if isinstance(value, list):
        return [_capacity(v) for v in value]
    if isinstance(value, dict):
        return {k: (float(v) if k.endswith("CapacityUnits") else _capacity(v)) for k, v in value.items()}
    return value


def dynamodb_body(result: dict[str, Any]) -> str:
    """The JSON answer of an item operation, from moto's result (plain dicts and lists, after
    ``dynamo_to_dict``); ``_NotPlain`` if it holds anything else."""
    body: dict[str, Any] = {}
    for key, value in result.items():
        if value is None:
            continue
        if key in _ITEM_KEYS:
            body[key] = _item(value)
        elif key == "Items":
            body[key] = [_item(item) for item in value]
        elif key in _SCALAR_KEYS:
            body[key] = int(value)
        elif key == "ConsumedCapacity":
            body[key] = _capacity(value)
        else:
            raise _NotPlain
    return json.dumps(body)


def fast_dynamodb_responses() -> None:
    """moto writes every answer by walking the service model, one AttributePicker lookup per
    member of every shape: an item's each attribute value tries all ten AttributeValue
    members. For the item operations (the facades read a session many times while they wait)
    that was most of a DynamoDB request's cost. Their answers are JSON of AttributeValue maps,
    written here directly; anything unexpected (or an error) takes moto's way."""
    from moto.dynamodb.responses import DynamoResult

    if _patched(DynamoResult.execute_result):
        return
    original = DynamoResult.execute_result

    def execute_result(self, context):  # noqa: ANN001, ANN202
        operation = context.operation_model
        result = self.result
        if operation.name in FAST_DYNAMODB_OPERATIONS and isinstance(result, dict):
            try:
                body = dynamodb_body(result)
            except (_NotPlain, AttributeError, TypeError, ValueError):
                pass
            else:
                version = operation.service_model.metadata.get("jsonVersion", "1.0")
                return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body
        return original(self, context)

    execute_result.__wrapped__ = original  # type: ignore[attr-defined]
    DynamoResult.execute_result = _mark(execute_result)


def early_task_token_outcomes() -> None:
    """A waitForTaskToken task whose Lambda returns its own token (SendTaskSuccess) before the
    invocation ends: moto sets up the heartbeat clock only after the invocation, and its
    heartbeat wait then ignores the outcome already received - the task would wait for
    HeartbeatSeconds and time out. AWS completes it at once; so do we."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback_module,
    )

    cls = callback_module.StateTaskServiceCallback
    if _patched(cls._wait_for_task_token_heartbeat):
        return
    original = cls._wait_for_task_token_heartbeat

    def wait(self, env, callback_endpoint, heartbeat_endpoint):  # noqa: ANN001, ANN202
        outcome = callback_endpoint.get_outcome()
        if outcome is not None:
            return outcome
        return original(self, env, callback_endpoint, heartbeat_endpoint)

    cls._wait_for_task_token_heartbeat = _mark(wait)
