"""Run our Lambda handlers the way Lambda does, and make moto call them.

Each function runs in execution environments: separate processes that see only the function's
own environment variables (the template's Globals and its own, the local AWS settings,
PYTHONPATH = its code and its layer). An environment serves one invocation at a time;
concurrent invocations get more environments, up to ``max_environments`` (the stack's
CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS, 10 per CPU), beyond which they wait for a free one. Starting a
Python process per environment costs a second of imports, so each function has a fork server
(``local/worker.py``, a "zygote") that imports the handler once and forks environments on
request. The template's Timeout is enforced: an invocation that runs longer has its
environment killed and fails with Sandbox.Timedout; an environment that dies fails its
invocation with Runtime.ExitError. Either way the environment is gone, as in Lambda.

moto's Step Functions interpreter invokes Lambda through moto's Lambda API; we patch that one
place (``LambdaBackend.invoke``) so the real ASL drives our real handlers. Lambda errors take
the shape the Lambda service gives them ({"errorType", "errorMessage"} with
X-Amz-Function-Error), so ASL Retry / Catch match our exception class names.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .metrics import EmfAggregator
from .moto_patches import patch_execution_status_events, serialise_moto_dynamodb  # noqa: F401 - their old home
from .template import ROOT, arn

log = logging.getLogger("carrier_auth.local")

WORKER = Path(__file__).with_name("worker.py")
# fork servers kept per function: the current configuration and the one a test toggles back to
KEEP_ZYGOTES = 2
FORK_SECONDS = 10.0
INIT_SECONDS = 60.0  # importing a handler on two busy cores; Lambda's own limit is 10 s


class FunctionError(Exception):
    """A failed invocation, as the Lambda service reports it (errorType / errorMessage)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.error_message = message

    def payload(self) -> dict[str, Any]:
        return {"errorType": self.error_type, "errorMessage": self.error_message, "stackTrace": []}


class LogRelay:
    """The workers' stdout and stderr, line by line, into the stack's log stream, or our
    stderr when there is none (``make run``): what CloudWatch Logs would show. Their EMF
    metric lines are also summed in ``metrics`` (``local.metrics``: GET /_local/funnel), as
    CloudWatch would turn them into metrics."""

    def __init__(self, stream: IO[str] | None = None, metrics: EmfAggregator | None = None) -> None:
        self.stream = stream
        self.metrics = metrics if metrics is not None else EmfAggregator()
        self._lock = threading.Lock()

    def follow(self, pipe: IO[bytes], tail: deque[str]) -> threading.Thread:
        """Relay ``pipe`` until EOF, keeping its last lines in ``tail`` (to explain a failed start)."""

        def run() -> None:
            with pipe:
                for raw in pipe:
                    line = raw.decode("utf-8", errors="replace")
                    tail.append(line)
                    self.metrics.feed(line)
                    self.write(line)

        thread = threading.Thread(target=run, name="worker-output", daemon=True)
        thread.start()
        return thread

    def write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        with self._lock:
            stream.write(line if line.endswith("\n") else line + "\n")
            stream.flush()


def _read_line(channel: socket.socket, deadline: float | None) -> bytes:
    """One answer line (without the newline), b"" at EOF; TimeoutError past ``deadline``.
    The peer writes one line and then waits, so a line ends with the chunk that ends it."""
    chunks = []
    while True:
        channel.settimeout(None if deadline is None else max(0.001, deadline - time.monotonic()))
        chunk = channel.recv(65536)
        if not chunk:
            return b""
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)[:-1]


class Environment:
    """One execution environment: a forked worker serving one invocation at a time."""

    def __init__(self, pid: int, channel: socket.socket, zygote: Zygote, version: int) -> None:
        self.pid = pid
        self.channel = channel
        self.zygote = zygote
        self.version = version  # the function configuration it was created with

    def invoke(self, event: Any, context: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The worker's answer; past ``timeout`` the environment is killed (Sandbox.Timedout)."""
        fields = {**context, "log_stream_name": f"local/{self.pid}", "timeout_ms": int(timeout * 1000)}
        request = json.dumps({"event": event, "context": fields})
        try:
            self.channel.sendall(request.encode() + b"\n")
            line = _read_line(self.channel, time.monotonic() + timeout)
        except TimeoutError:
            self.kill()
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {timeout:.2f} seconds") from None
        except OSError:
            line = b""
        if not line:
            self.kill()
            raise FunctionError(
                "Runtime.ExitError",
                f"RequestId: {context['aws_request_id']} Error: Runtime exited without providing a reason",
            )
        return json.loads(line)

    def close(self) -> None:
        """Hang up: an idle worker exits when its channel closes."""
        self.channel.close()

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.close()


class Zygote:
    """A function's fork server: one worker process that imported app.py with one environment."""

    def __init__(
        self, code_dir: Path, environment: dict[str, str], relay: LogRelay, label: str, options: Sequence[str] = ()
    ) -> None:
        self.code_dir = code_dir
        self.environment = environment
        self.relay = relay
        self.label = label
        self.options = list(options)  # worker.py's: --nice, --preload
        self.environments = 0  # live or being forked; guarded by the function's lock
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._stopped = False

    def fork(self, version: int) -> Environment:
        """A new environment, starting the fork server first if it is not running yet."""
        ours, theirs = socket.socketpair()
        try:
            with self._lock, theirs:
                if self._stopped:
                    raise FunctionError("Runtime.ExitError", f"{self.label}: the function is stopped")
                pid = self._request(theirs)
                if not pid:  # the fork server died (killed, out of memory): start another, once
                    self._end()
                    pid = self._request(theirs)
                if not pid:
                    self._end()
                    raise FunctionError("Runtime.ExitError", f"{self.label}: the fork server exited")
        except BaseException:
            ours.close()
            raise
        return Environment(int(pid), ours, self, version)

    def _request(self, channel: socket.socket) -> bytes:
        """The pid of a new child serving ``channel``, or b"" if the fork server is gone."""
        if self._control is None:
            self._start()
        try:
            socket.send_fds(self._control, [b"F"], [channel.fileno()])
            return _read_line(self._control, time.monotonic() + FORK_SECONDS)
        except OSError:
            return b""

    def _start(self) -> None:
        control, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-P", str(WORKER), str(theirs.fileno()), *self.options],
                cwd=self.code_dir,
                env=self.environment,
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        tail: deque[str] = deque(maxlen=30)
        relays = [self.relay.follow(process.stdout, tail), self.relay.follow(process.stderr, tail)]
        try:
            ready = _read_line(control, time.monotonic() + INIT_SECONDS)
        except TimeoutError:
            ready = b""
        if ready != b"ready":
            control.close()
            process.kill()
            process.wait()
            for relay in relays:
                relay.join(timeout=5)
            raise FunctionError("Runtime.ImportModuleError", f"{self.label}: init failed\n{''.join(tail)}")
        self._process, self._control = process, control

    def stop(self) -> None:
        """End the fork server for good; its environments live on until discarded."""
        with self._lock:
            self._stopped = True
            self._end()

    def _end(self) -> None:
        """Kill the fork server (it holds nothing to clean up); the caller holds the lock."""
        if self._control is not None:
            self._control.close()
            self._process.kill()
            self._process.wait()
        self._process = self._control = None


class LocalFunction:
    """One function: its configuration, its fork servers and its execution environments."""

    def __init__(
        self,
        logical_id: str,
        name: str,
        code_dir: Path,
        timeout: int,
        memory: int,
        environment: dict[str, str],
        relay: LogRelay | None = None,
        max_environments: int = 200,
        preload: Sequence[str] = (),
        nice: int = 0,
    ) -> None:
        self.logical_id = logical_id
        self.name = name
        self.code_dir = code_dir
        self.timeout = timeout
        self.memory = memory
        self.environment = dict(environment)
        self.relay = relay or LogRelay()
        self.max_environments = max_environments
        # the fork server's options: AWS services to parse before forking, environments' priority
        self.worker_options = [f"--preload={','.join(preload)}"] if preload else []
        if nice:
            self.worker_options.append(f"--nice={nice}")
        self._cond = threading.Condition()
        self._idle: list[Environment] = []
        self._live: set[Environment] = set()
        self._count = 0  # live environments plus those being forked
        self._version = 0
        self._zygotes: dict[tuple[tuple[str, str], ...], Zygote] = {}  # least recently used first
        self._faults: list[tuple[dict[str, Any], FunctionError]] = []
        self._stopped = False
        self._metered = threading.Lock()
        self._invocations = 0
        self._billed_ms = 0

    @property
    def arn(self) -> str:
        return arn("lambda", f"function:{self.name}")

    def warm(self) -> None:
        """Start one environment now: an import error should stop the stack, not a request."""
        self._release(self._acquire(), healthy=True)

    @property
    def invocations(self) -> int:
        """Invocations so far (each one that reached the function, failed ones included)."""
        return self._invocations

    @property
    def billed_seconds(self) -> float:
        """Their billed duration, as Lambda bills it: each invocation's duration rounded up to
        the millisecond (a timed-out one bills its Timeout). Waiting for a free environment and
        forking one are not billed (the init of a forked environment is already done)."""
        return self._billed_ms / 1000

    def stats(self) -> dict[str, Any]:
        with self._metered:
            return {"invocations": self._invocations, "billed_seconds": self._billed_ms / 1000}

    def _meter(self, seconds: float) -> None:
        with self._metered:
            self._invocations += 1
            self._billed_ms += max(1, math.ceil(seconds * 1000 - 1e-6))

    def pids(self) -> list[int]:
        """The processes of the live environments (for inspection)."""
        with self._cond:
            return sorted(env.pid for env in self._live)

    def invoke(self, event: Any) -> Any:
        """The handler's result; a failed invocation raises FunctionError."""
        fault = self._fault_for(event)
        if fault is not None:
            self._meter(0)  # as if the handler raised at once
            raise fault
        context = {
            "aws_request_id": str(uuid.uuid4()),
            "function_name": self.name,
            "function_version": "$LATEST",
            "invoked_function_arn": self.arn,
            "memory_limit_in_mb": self.memory,
            "log_group_name": f"/aws/lambda/{self.name}",
        }
        environment = self._acquire()
        healthy = False
        began = time.monotonic()
        try:
            answer = environment.invoke(event, context, self.timeout)
            healthy = True
        finally:
            self._meter(min(time.monotonic() - began, self.timeout))
            self._release(environment, healthy)
        if "result" not in answer:
            raise FunctionError(answer.get("errorType", "Unhandled"), answer.get("errorMessage", ""))
        return answer["result"]

    def configure(self, changes: Mapping[str, str | None]) -> dict[str, str | None]:
        """Change environment variables as UpdateFunctionConfiguration does (None removes one):
        idle environments are discarded now, busy ones after their invocation; new ones start
        with the new values. Returns the previous values, to restore them the same way."""
        with self._cond:
            previous = {name: self.environment.get(name) for name in changes}
            for name, value in changes.items():
                if value is None:
                    self.environment.pop(name, None)
                else:
                    self.environment[name] = str(value)
            self._version += 1
            stale, self._idle = self._idle, []
            for environment in stale:
                self._forget(environment)
            self._cond.notify_all()
        for environment in stale:
            environment.close()
        return previous

    @contextmanager
    def fail_invocations(
        self, match: Mapping[str, Any], error_type: str = "RuntimeError", message: str = "injected failure"
    ) -> Iterator[None]:
        """Fault injection (local runtime only): while active, invocations whose event holds
        every item of ``match`` fail with ``error_type`` as if the handler had raised it."""
        fault = (dict(match), FunctionError(error_type, message))
        with self._cond:
            self._faults.append(fault)
        try:
            yield
        finally:
            with self._cond:
                self._faults.remove(fault)

    def _fault_for(self, event: Any) -> FunctionError | None:
        if not isinstance(event, dict):
            return None
        with self._cond:
            return next((error for match, error in self._faults
                         if all(event.get(k) == v for k, v in match.items())), None)

    def stop(self) -> None:
        """Kill every environment and fork server: the stack is going away."""
        with self._cond:
            self._stopped = True
            environments, self._idle = list(self._live), []
            zygotes = list(self._zygotes.values())
            self._cond.notify_all()
        for environment in environments:
            environment.kill()
        for zygote in zygotes:
            zygote.stop()

    # ------------------------------------------------------------------ environments
    def _acquire(self) -> Environment:
        with self._cond:
            self._cond.wait_for(lambda: self._idle or self._count < self.max_environments)
            if self._idle:
                return self._idle.pop()
            self._count += 1
            zygote, retired = self._zygote()
            zygote.environments += 1
            version = self._version
        for old in retired:
            old.stop()
        try:
            environment = zygote.fork(version)
        except BaseException:
            with self._cond:
                self._count -= 1
                zygote.environments -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._live.add(environment)
        return environment

    def _release(self, environment: Environment, healthy: bool) -> None:
        with self._cond:
            keep = healthy and environment.version == self._version and not self._stopped
            if keep:
                self._idle.append(environment)
            else:
                self._forget(environment)
            self._cond.notify()
        if not keep:
            environment.close()

    def _forget(self, environment: Environment) -> None:
        self._live.discard(environment)
        self._count -= 1
        environment.zygote.environments -= 1

    def _zygote(self) -> tuple[Zygote, list[Zygote]]:
        """The fork server for the current configuration (caller holds the lock), and the
        least recently used ones to retire: beyond KEEP_ZYGOTES, once they have no environments."""
        key = tuple(sorted(self.environment.items()))
        zygote = self._zygotes.pop(key, None) or Zygote(
            self.code_dir, dict(self.environment), self.relay, self.name, self.worker_options
        )
        self._zygotes[key] = zygote
        retired = [(k, z) for k, z in list(self._zygotes.items())[:-KEEP_ZYGOTES] if z.environments == 0]
        for k, _ in retired:
            del self._zygotes[k]
        return zygote, [z for _, z in retired]


class FunctionRegistry:
    def __init__(self) -> None:
        self._by_key: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}
        self.metrics: EmfAggregator | None = None  # the functions' EMF metrics (load_functions)

    def add(self, fn: LocalFunction) -> None:
        for key in (fn.logical_id, fn.name, fn.arn):
            self._by_key[key] = fn

    def get(self, key: str) -> LocalFunction | None:
        return self._by_key.get(key.split(":$LATEST")[0])

    def functions(self) -> list[LocalFunction]:
        return list({id(f): f for f in self._by_key.values()}.values())

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per function (logical id): ``{"invocations": n, "billed_seconds": s}`` so far."""
        return {fn.logical_id: fn.stats() for fn in self.functions()}

    def invoke(self, key: str, event: Any) -> Any:
        """The function's result; a failed invocation raises FunctionError."""
        fn = self._by_key[key]
        with self._lock:
            self.invocations[fn.logical_id] = self.invocations.get(fn.logical_id, 0) + 1
        return fn.invoke(event)

    def invoke_payload(self, key: str, body: bytes | str) -> tuple[bytes, str | None]:
        """Invoke with a raw payload; returns (payload, function error or None) like Lambda."""
        event = json.loads(body or b"{}")
        try:
            result = self.invoke(key, event)
        except FunctionError as exc:
            log.info("function %s failed: %s", key.rsplit(":", 1)[-1], exc.error_type)
            return json.dumps(exc.payload()).encode(), "Unhandled"
        return json.dumps(result).encode(), None

    @contextmanager
    def function_env(self, functions: list[str] | None = None, **variables: str | None) -> Iterator[None]:
        """Change the named variables for the block, as UpdateFunctionConfiguration would, then
        restore the previous values the same way. ``functions``: of those functions; None: of
        every function whose environment has the variable (what a stack parameter update does -
        each function has only the variables it reads); a variable no function has is an error."""
        if functions:
            changes = [(self._by_key[key], variables) for key in functions]
        else:
            changes = [(fn, {k: v for k, v in variables.items() if k in fn.environment}) for fn in self.functions()]
            unknown = set(variables).difference(*(set(c) for _fn, c in changes))
            if unknown:
                raise KeyError(f"no function has the variables {sorted(unknown)}")
        previous = [(fn, fn.configure(c)) for fn, c in changes if c]
        try:
            yield
        finally:
            for fn, values in previous:
                fn.configure(values)

    def stop(self) -> None:
        for fn in self.functions():
            fn.stop()


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


def _code_path(template: dict[str, Any], props: dict[str, Any], code_dir: Path) -> str:
    """PYTHONPATH as in Lambda: the function's code, then its layers' content."""
    glob = template.get("Globals", {}).get("Function", {})
    layers = [ref["Ref"] for ref in props.get("Layers", glob.get("Layers", []))]
    contents = [ROOT / str(template["Resources"][layer]["Properties"]["ContentUri"]).rstrip("/") for layer in layers]
    return os.pathsep.join(str(path) for path in (code_dir, *contents))


# IAM action prefixes (and SAM policy template names) -> boto3 service names
IAM_SERVICES = {"states": "stepfunctions", "StepFunctions": "stepfunctions", "DynamoDB": "dynamodb", "SQS": "sqs",
                "SNS": "sns", "S3": "s3", "KMS": "kms", "EventBridge": "events", "Lambda": "lambda", "SSM": "ssm",
                "AWSSecretsManager": "secretsmanager"}


def policy_services(props: Mapping[str, Any]) -> list[str]:
    """The AWS services a function's policies let it call (what its fork server preloads)."""
    services: set[str] = set()
    for policy in props.get("Policies") or []:
        if not isinstance(policy, dict):
            continue
        for statement in policy.get("Statement", []) if "Statement" in policy else []:
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if isinstance(action, str) and ":" in action:
                    prefix = action.split(":", 1)[0]
                    services.add(IAM_SERVICES.get(prefix, prefix))
        for name in policy:
            for prefix, service in IAM_SERVICES.items():
                if name.startswith(prefix) and name.endswith("Policy"):
                    services.add(service)
    return sorted(services)


# API functions (the facades) run this much further below the others: a facade mostly waits,
# reading the session every 40 ms until a step has written the next checkpoint, so when the CPUs
# are short the steps should get them first - each read a facade makes while a step is starved
# only makes the step later (measured at 200 flows on 2 CPUs: a fifth less CPU and wall time)
FACADE_NICE = 5


def _serves_api(props: Mapping[str, Any]) -> bool:
    return any(event.get("Type") == "Api" for event in (props.get("Events") or {}).values())


def load_functions(
    template: dict[str, Any],
    resolver: Any,
    aws_environment: Mapping[str, str],
    relay: LogRelay,
    max_environments: int = 200,
    nice: int = 0,
    settings_log: Path | None = None,
) -> FunctionRegistry:
    """Every function of the template, each with only its own environment. ``settings_log``: a
    folder where each function's environments record the setting variables they read
    (``<logical id>.log``, see local/worker.py)."""
    from .template import function_environment, function_name, resources_of

    glob = template.get("Globals", {}).get("Function", {})
    registry = FunctionRegistry()
    registry.metrics = relay.metrics
    for logical, spec in resources_of(template, "AWS::Serverless::Function").items():
        props = spec.get("Properties", {})
        code_dir = ROOT / str(props["CodeUri"]).rstrip("/")
        environment = {
            **function_environment(template, resolver, logical),
            **aws_environment,
            "PYTHONPATH": _code_path(template, props, code_dir),
        }
        if settings_log is not None:
            environment["CARRIER_AUTH_LOCAL_SETTINGS_LOG"] = str(settings_log / f"{logical}.log")
        registry.add(
            LocalFunction(
                logical_id=logical,
                name=function_name(logical, spec),
                code_dir=code_dir,
                timeout=int(resolver.resolve(props.get("Timeout", glob.get("Timeout", 3)))),
                memory=int(resolver.resolve(props.get("MemorySize", glob.get("MemorySize", 128)))),
                environment=environment,
                relay=relay,
                max_environments=max_environments,
                preload=policy_services(props),
                nice=min(19, nice + FACADE_NICE) if nice and _serves_api(props) else nice,
            )
        )
    return registry
