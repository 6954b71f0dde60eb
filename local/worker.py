"""One function's fork server ("zygote") and the execution environments it forks.

Started by ``local.runtime`` as ``python -P local/worker.py <control fd>`` with the function's
environment only (template variables, local AWS settings, PYTHONPATH = code dir + layer), in
the function's code directory. It imports ``app.py`` once, as Lambda's init phase does, and
then forks one child per execution environment the runtime asks for: importing boto3 and
Powertools costs about a second, forking a few milliseconds.

Control socket (the runtime -> this process): each request is one byte with a socket passed
as ancillary data (``socket.send_fds``); the answer is the new child's pid and a newline.

Environment socket (the runtime -> one child): newline-delimited JSON, one invocation at a
time. In: ``{"event": ..., "context": {aws_request_id, function_name, ..., "timeout_ms"}}``.
Out: ``{"result": ...}``, or ``{"errorType", "errorMessage"}`` as Lambda reports a handler's
exception. The runtime enforces the timeout by killing the child, so nothing here does.

Standard library only: this file runs before anything of the function is on the path.
"""

from __future__ import annotations

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


def main(control_fd: int) -> None:
    # one write per line, so lines of concurrent environments never interleave in the pipe
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    handler = importlib.import_module("app").lambda_handler  # an import error ends the zygote
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
            try:
                serve(socket.socket(fileno=fds[0]), handler)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
        os.close(fds[0])
        control.sendall(f"{pid}\n".encode())


if __name__ == "__main__":
    main(int(sys.argv[1]))
