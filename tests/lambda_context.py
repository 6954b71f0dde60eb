"""A Lambda context for driving handlers in-process (what `sam local invoke` hands them)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class LambdaContext:
    function_name: str = "CarrierAuthFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"
    remaining_ms: int = 30_000
    deadline: float | None = None  # time.monotonic() when the invocation times out: the remaining time runs down

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws-cn:lambda:cn-north-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is not None:
            return int((self.deadline - time.monotonic()) * 1000)
        return self.remaining_ms
