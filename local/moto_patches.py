"""What the embedded stack changes in moto, each in one place, by patching (never by editing
moto): behaviour the AWS services have and moto lacks, and moto's hot paths made cheap enough
for hundreds of concurrent flows in one process.

- ``patch_execution_status_events``: Step Functions' "Execution Status Change" events.
- ``serialise_moto_dynamodb``: DynamoDB's per-request atomicity (conditional writes, reads
  that never see half an update).
- ``cache_asl_programs``: parse a state machine's definition once, not once per execution.
- ``cache_json_paths``: parse each JSONPath of the definition once, not at every use.
- ``fast_dynamodb_responses``: item operations' answers as JSON directly.
- ``lock_moto_routers``: moto builds a service's request router on first use, unguarded.
- ``cache_moto_modules``: moto lists its own package directory on every request.
- ``lighten_moto_dispatch``: per request, moto lists its handler's methods (``inspect``), and
  builds its request id one random character at a time.
- ``reuse_interpreter_clients``: the interpreter creates a boto3 client for every task it runs.
- ``warm_moto``: load the service models and routers before the first burst of requests.
- ``MotoServer``: moto's server with HTTP/1.1 keep-alive (werkzeug's closes every connection).
- ``ready_executions_only``: task tokens are looked up among executions that have started.
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
    cache_json_paths()
    fast_dynamodb_responses()
    lock_moto_routers()
    early_task_token_outcomes()
    ready_executions_only()
    cache_moto_modules()
    lighten_moto_dispatch()
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


def ready_executions_only() -> None:
    """SendTaskSuccess / Failure / Heartbeat look for the token in every running execution's
    evaluation environment, which an execution gets only once its worker thread has begun: a
    token call that arrives while any other execution is just starting fails with a 500
    (AttributeError on None), and under a burst of starts botocore's retries can all land in
    such windows - a step then fails for no reason of its own. An execution without an
    environment holds no token yet: those lookups skip it (they are the only callers)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend._get_executions
    if _patched(original):
        return

    def _get_executions(self, execution_status=None):  # noqa: ANN001, ANN202
        executions = original(self, execution_status)
        return [e for e in executions if getattr(getattr(e, "exec_worker", None), "env", None) is not None]

    StepFunctionsParserBackend._get_executions = _mark(_get_executions)


def cache_json_paths() -> None:
    """The interpreter parses a state's JSONPaths (InputPath, "x.$" parameters, ResultPath,
    ResultSelector, Choice variables) every time it evaluates them, and EventBridge its input
    paths for every event it delivers, with a PLY parser built each time: milliseconds per
    path. A parsed path is an immutable tree (``find`` / ``update_or_create`` only read it):
    parse each text once."""
    from functools import lru_cache

    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    # the libraries' own (moto's EventBridge imports it at each use), then moto's imported names
    for module in (jsonpath_ng, jsonpath_ng.ext):
        if not _patched(module.parse):
            module.parse = _mark(lru_cache(maxsize=4096)(module.parse))
    json_path.parse = jsonpath_ng.ext.parse
    result_path.parse = jsonpath_ng.parse


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


def lighten_moto_dispatch() -> None:
    """What moto's request dispatch redoes for every request though it never changes: the
    handler class's method names (``inspect.getmembers`` over a few hundred attributes), the
    action's snake_case name; and its 52-character request id drawn one ``choice`` at a time
    (the same characters from the same random source, drawn at once)."""
    import string
    from functools import lru_cache

    from moto.core import responses
    from moto.moto_api._internal import mock_random

    if _patched(responses.method_names_from_class):
        return
    responses.method_names_from_class = _mark(lru_cache(maxsize=None)(responses.method_names_from_class))
    responses.camelcase_to_underscores = _mark(lru_cache(maxsize=4096)(responses.camelcase_to_underscores))
    alphabet = string.ascii_letters + string.digits

    def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
        request_id = "".join(mock_random.choices(alphabet, k=52))
        if isinstance(headerdict, dict):
            headerdict["x-amzn-requestid"] = request_id
        return request_id

    responses.gen_amzn_requestid_long = _mark(gen_amzn_requestid_long)


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


class MotoServer:
    """moto's server (its WSGI app and request handler, as ``ThreadedMotoServer`` runs them),
    with HTTP/1.1 keep-alive: werkzeug's development server answers every request with
    "Connection: close", so each AWS call of every environment (and every poll of a waiting
    facade) paid a new TCP connection and a new server thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> "MotoServer":
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=_keep_alive_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None


_HANDLER: Any = None


def _keep_alive_handler() -> type:
    """moto's request handler (its environ: headers with underscores kept), answering as an
    HTTP/1.1 server that keeps the connection open. werkzeug's development server closes
    every connection: after each answer it reads whatever the client sends next (to discard
    an unread body), which with keep-alive would be the next request, and it waits 10 ms for
    it. Here the body is read whole before the application runs (AWS calls have small bodies),
    the answer is sent with its Content-Length, and a chunked request closes its connection."""
    global _HANDLER
    if _HANDLER is not None:
        return _HANDLER
    import io
    import socket

    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveMotoRequestHandler(MotoRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 600  # an idle connection's thread ends after this

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def make_environ(self) -> dict[str, Any]:
            environ = super().make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: read as it comes, then close
                self.close_connection = True
            else:
                length = environ.get("CONTENT_LENGTH") or ""
                body = self.rfile.read(int(length)) if length.isdigit() and int(length) else b""
                environ["wsgi.input"] = io.BytesIO(body)
            return environ

        def run_wsgi(self) -> None:
            if self.headers.get("Expect", "").lower().strip() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.environ = environ = self.make_environ()
            answer: list[Any] = []
            chunks: list[bytes] = []

            def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
                if exc_info is not None and answer:
                    raise exc_info[1].with_traceback(exc_info[2])
                answer[:] = [status, headers]
                return chunks.append

            try:
                result = self.server.app(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            except Exception:  # what werkzeug answers (and logs, to its muted logger): a plain 500
                logging.getLogger("werkzeug").exception("moto failed to answer %s %s", self.command, self.path)
                answer[:] = ["500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain")]]
                chunks[:] = [b"Internal Server Error"]
                self.close_connection = True
            status, headers = answer
            code, _, reason = status.partition(" ")
            body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)
            self.send_response(int(code), reason)
            length = str(len(body))
            for name, value in headers:
                lower = name.lower()
                if lower == "content-length" and self.command == "HEAD":
                    length = value
                elif lower not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.send_header("Content-Length", length)
            # headers and body in one write: two small writes on a kept-alive connection would
            # wait for the client's delayed ACK (Nagle), 40 ms per request
            payload = body if self.command != "HEAD" else b""
            if hasattr(self, "_headers_buffer"):
                self._headers_buffer.append(b"\r\n" + payload)
                self.flush_headers()
            else:
                self.end_headers()
                self.wfile.write(payload)

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return  # werkzeug's request log is switched off in the stack anyway

    _HANDLER = KeepAliveMotoRequestHandler
    return _HANDLER


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
