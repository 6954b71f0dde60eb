"""One function's fork server ("zygote") and the execution environments it forks.

Started by ``local.runtime`` as ``python -P local/worker.py <control fd> [--nice N]
[--preload service,...]`` with the function's environment only (template variables, local AWS
settings, PYTHONPATH = code dir + layer), in the function's code directory. It imports
``app.py`` once, as Lambda's init phase does, and then forks one child per execution
environment the runtime asks for: importing boto3 and Powertools costs about a second, forking
a few milliseconds.

``--preload``: the AWS services the function may call (its policies' actions). When the
handler's import brought in boto3, the fork server creates boto3's default session and a
client of each (then drops them), so botocore's parsed service models and endpoint rules are
in memory before any fork: otherwise every environment parses them again on its first call,
a fifth of a CPU second each. Nothing a function can observe but its speed; like SnapStart's
priming before the snapshot.

``--nice``: environments run at this lower CPU priority, so the local AWS services (moto, the
interpreter, the gateway: one process that every call passes through) are never starved by
hundreds of busy environments; in AWS the services do not share a CPU with our functions.
The fork server itself keeps its priority, so it answers fork requests promptly.

Control socket (the runtime -> this process): each request is one byte with a socket passed
as ancillary data (``socket.send_fds``); the answer is the new child's pid and a newline.

Environment socket (the runtime -> one child): newline-delimited JSON, one invocation at a
time. In: ``{"event": ..., "context": {aws_request_id, function_name, ..., "timeout_ms"}}``.
Out: ``{"result": ...}``, or ``{"errorType", "errorMessage"}`` as Lambda reports a handler's
exception. The runtime enforces the timeout by killing the child, so nothing here does.

``CARRIER_AUTH_LOCAL_SETTINGS_LOG`` (set by the local runtime when the stack audits settings):
a file where each environment appends the name of every setting variable its function reads
(``carrier_auth.config``), once per name - the test that the template gives each function
exactly the variables it reads.

Standard library only: this file runs before anything of the function is on the path.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import signal
import socket
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """What the Lambda runtime passes as ``context``; the deadline follows the function's Timeout."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.aws_request_id: str = fields["aws_request_id"]
        self.function_name: str = fields["function_name"]
        self.function_version: str = fields["function_version"]
        self.invoked_function_arn: str = fields["invoked_function_arn"]
        self.memory_limit_in_mb: int = fields["memory_limit_in_mb"]
        self.log_group_name: str = fields["log_group_name"]
        self.log_stream_name: str = fields["log_stream_name"]
        self._deadline = time.monotonic() + fields["timeout_ms"] / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _answer(handler: Any, request: dict[str, Any]) -> bytes:
    try:
        result = handler(request["event"], LambdaContext(request["context"]))
    except Exception as exc:  # the runtime reports a handler's exception; it does not crash
        error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        # the runtime's log line: type, message and where (frames, never local variables)
        stack = traceback.format_tb(exc.__traceback__)
        print(json.dumps({"level": "ERROR", **error, "stackTrace": stack}), file=sys.stderr, flush=True)
        return json.dumps(error).encode() + b"\n"
    try:
        return json.dumps({"result": result}).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        error = {"errorType": "Runtime.MarshalError", "errorMessage": f"Unable to marshal response: {exc}"}
        return json.dumps(error).encode() + b"\n"


def serve(channel: socket.socket, handler: Any) -> None:
    """An execution environment: invocations one at a time until the runtime hangs up."""
    with channel, channel.makefile("rb") as requests:
        for line in requests:
            channel.sendall(_answer(handler, json.loads(line)))


def preload(services: list[str]) -> None:
    """Parse the service models and endpoint rules of ``services`` now (see the module's doc)."""
    if not services or "boto3" not in sys.modules:
        return
    import boto3

    session = boto3.DEFAULT_SESSION
    if session is None:
        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
    available = set(session.get_available_services())
    for name in services:
        if name not in available:  # e.g. logs:CreateLogStream in a policy: nothing to preload
            continue
        try:
            session.client(name)
            if name in session.get_available_resources():
                session.resource(name)
        except Exception as exc:  # noqa: BLE001 - an optimisation only; the function will say what is wrong
            print(f"preload of {name} skipped: {type(exc).__name__}: {exc}", file=sys.stderr)


def audit_settings(path: str) -> None:
    """Append each setting variable the function reads to ``path``, once per name."""
    try:
        from carrier_auth import config
    except ImportError:  # a function without the layer's package reads no settings
        return
    seen: set[str] = set()

    def record(variable: str) -> None:
        if variable in seen:
            return
        seen.add(variable)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{variable}\n".encode())  # one short append: lines never interleave
        finally:
            os.close(fd)

    config.READ_HOOKS.append(record)


def main(control_fd: int, nice: int = 0, services: list[str] | None = None) -> None:
    # one write per line, so lines of concurrent environments never interleave in the pipe
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    if os.environ.get("CARRIER_AUTH_LOCAL_SETTINGS_LOG"):
        audit_settings(os.environ["CARRIER_AUTH_LOCAL_SETTINGS_LOG"])
    handler = importlib.import_module("app").lambda_handler  # an import error ends the zygote
    preload(services or [])
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished environments
    gc.freeze()  # keep the imported objects out of the children's collections: pages stay shared
    control.sendall(b"ready\n")
    while True:
        _data, fds, _flags, _addr = socket.recv_fds(control, 1, 1)
        if not fds:
            return  # the runtime closed the control socket (or went away)
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            if nice:
                os.nice(nice)
            try:
                serve(socket.socket(fileno=fds[0]), handler)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        os.close(fds[0])
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    arguments = argparse.ArgumentParser()
    arguments.add_argument("control_fd", type=int)
    arguments.add_argument("--nice", type=int, default=0)
    arguments.add_argument("--preload", default="")
    options = arguments.parse_args()
    main(options.control_fd, options.nice, [name for name in options.preload.split(",") if name])
