"""Run our Lambda handlers in-process, and make moto call them.

moto's Step Functions interpreter invokes Lambda through moto's Lambda API; we patch that one
place (``LambdaBackend.invoke``) so the real ASL drives our real handlers. Lambda errors take
the shape the Lambda service gives them ({"errorType", "errorMessage"} with
X-Amz-Function-Error), so ASL Retry / Catch match our exception class names.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .template import ACCOUNT, REGION, ROOT, arn

log = logging.getLogger("carrier_auth.local")


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_seconds: int
    _started: float = 0.0
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """One function and its warm execution environments.

    Like Lambda, an environment (a fresh import of the handler module) serves one invocation
    at a time; concurrent invocations get another environment. Handler modules keep
    per-invocation state at module level (the Powertools resolver's current event), so
    sharing one module between threads would mix requests up."""

    logical_id: str
    name: str
    code_dir: Path
    timeout: int
    memory: int
    _idle: list[ModuleType] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loaded: int = 0

    @property
    def arn(self) -> str:
        return arn("lambda", f"function:{self.name}")

    def _load(self) -> ModuleType:
        with self._lock:
            self._loaded += 1
            module_name = f"local_fn_{self.code_dir.name}_{self._loaded}"
        spec = importlib.util.spec_from_file_location(module_name, self.code_dir / "app.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module

    def warm(self) -> None:
        """Import one environment now: an import error should stop the stack, not a request."""
        self._release(self._acquire())

    def _acquire(self) -> ModuleType:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._load()

    def _release(self, module: ModuleType) -> None:
        with self._lock:
            self._idle.append(module)

    def invoke(self, event: dict) -> Any:
        context = LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.memory,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=self.timeout,
            _started=time.monotonic(),
            log_group_name=f"/aws/lambda/{self.name}",
        )
        module = self._acquire()
        try:
            return module.lambda_handler(event, context)
        finally:
            self._release(module)


class FunctionRegistry:
    def __init__(self) -> None:
        self._by_key: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}

    def add(self, fn: LocalFunction) -> None:
        for key in (fn.logical_id, fn.name, fn.arn):
            self._by_key[key] = fn

    def get(self, key: str) -> LocalFunction | None:
        return self._by_key.get(key.split(":$LATEST")[0])

    def functions(self) -> list[LocalFunction]:
        return list({id(f): f for f in self._by_key.values()}.values())

    def invoke(self, key: str, event: dict) -> Any:
        fn = self._by_key[key]
        with self._lock:
            self.invocations[fn.logical_id] = self.invocations.get(fn.logical_id, 0) + 1
        return fn.invoke(event)

    def invoke_payload(self, key: str, body: bytes | str) -> tuple[bytes, str | None]:
        """Invoke with a raw payload; returns (payload, function error or None) like Lambda."""
        event = json.loads(body or b"{}")
        try:
            result = self.invoke(key, event)
        except Exception as exc:  # the Lambda service reports any handler exception this way
            log.info("function %s raised %s", key.rsplit(":", 1)[-1], type(exc).__name__)
            payload = {"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": []}
            return json.dumps(payload).encode(), "Unhandled"
        return json.dumps(result).encode(), None


def patch_moto_lambda(registry: FunctionRegistry) -> None:
    from moto.awslambda.models import LambdaBackend

    original = LambdaBackend.invoke
    if getattr(original, "_carrier_auth_patch", False):
        LambdaBackend.invoke._registry = registry  # type: ignore[attr-defined]
        return

    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ANN001
        current = LambdaBackend.invoke._registry  # type: ignore[attr-defined]
        if current.get(function_name) is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        payload, error = current.invoke_payload(function_name, body)
        if error:
            response_headers["x-amz-function-error"] = error
        response_headers["Content-Length"] = str(len(payload))
        return payload

    invoke._carrier_auth_patch = True  # type: ignore[attr-defined]
    invoke._registry = registry  # type: ignore[attr-defined]
    LambdaBackend.invoke = invoke


def patch_execution_status_events() -> None:
    """EventBridge gets "Step Functions Execution Status Change" events from the service;
    moto does not emit them, so we do it where moto records an execution's end."""
    from moto.events.models import events_backends
    from moto.stepfunctions.parser.backend import execution as execution_module

    base = execution_module.BaseExecutionWorkerCommunication
    if getattr(base.terminated, "_carrier_auth_patch", False):
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

    terminated._carrier_auth_patch = True  # type: ignore[attr-defined]
    base.terminated = terminated


def serialise_moto_dynamodb() -> None:
    """DynamoDB applies each write (and its condition) atomically; moto's server handles
    requests on parallel threads without a lock, so two conditional writes can both pass.
    One lock around moto's item operations restores DynamoDB's guarantee locally."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.update_item, "_carrier_auth_patch", False):
        return
    lock = threading.RLock()

    def locked(method: Callable) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        wrapper._carrier_auth_patch = True  # type: ignore[attr-defined]
        return wrapper

    for name in ("put_item", "get_item", "update_item", "delete_item", "transact_write_items", "query", "scan"):
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))


def load_functions(template: dict[str, Any], resolver: Any) -> FunctionRegistry:
    from .template import function_name, resources_of

    glob = template.get("Globals", {}).get("Function", {})
    registry = FunctionRegistry()
    for logical, spec in resources_of(template, "AWS::Serverless::Function").items():
        props = spec.get("Properties", {})
        registry.add(
            LocalFunction(
                logical_id=logical,
                name=function_name(logical, spec),
                code_dir=ROOT / str(props["CodeUri"]).rstrip("/"),
                timeout=int(resolver.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
                memory=int(resolver.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))),
            )
        )
    return registry
