"""SQS-driven work: growing retry delays (the callback queue) and a batch's records processed
side by side (the callback and collect functions)."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import aws
from .config import get_settings

MAX_DELAY_SECONDS = 6 * 3600


def delay_for(attempt: int, retry_after: float | None = None) -> int:
    """30 s after the first failure, doubling, capped at 6 h (SQS allows up to 12 h).

    ``retry_after`` (the endpoint's Retry-After, in seconds) may lengthen that delay, never
    shorten it, and never beyond the cap: ``min(max(schedule, retry_after), 6 h)``."""
    base = get_settings().callback_retry_base_seconds
    delay = min(base * 2 ** max(attempt - 1, 0), MAX_DELAY_SECONDS)
    if retry_after is None or math.isnan(retry_after):
        return delay
    return min(max(delay, math.ceil(min(retry_after, MAX_DELAY_SECONDS))), MAX_DELAY_SECONDS)


def queue_url(queue_arn: str) -> str:
    """Queue URL from its ARN and the client's endpoint: no extra API call, any partition."""
    account, name = queue_arn.split(":")[4:6]
    return f"{aws.client('sqs').meta.endpoint_url.rstrip('/')}/{account}/{name}"


def backoff_visibility(queue_arn: str, receipt_handle: str, attempt: int, retry_after: float | None = None) -> None:
    aws.client("sqs").change_message_visibility(
        QueueUrl=queue_url(queue_arn),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=delay_for(attempt, retry_after),
    )


def process_in_threads(
    event: dict, context: Any, processor: Any, handler_for: Callable[[ThreadPoolExecutor], Any], name: str
) -> dict:
    """Powertools' partial-batch response for ``event``, each record's (blocking) work on a thread
    of its own: no record waits for another one's slow upstream. ``handler_for(pool)`` makes the
    async record handler. The pool is not waited for: every record's work has its own bound."""
    from aws_lambda_powertools.utilities.batch import async_process_partial_response

    pool = ThreadPoolExecutor(max_workers=len(event.get("Records") or []) or 1, thread_name_prefix=name)
    try:
        return async_process_partial_response(
            event=event, record_handler=handler_for(pool), processor=processor, context=context
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
