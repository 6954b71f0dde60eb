"""Growing retry delays for SQS-driven work (the callback queue)."""

from __future__ import annotations


from . import aws
from .config import env_int

MAX_DELAY_SECONDS = 6 * 3600


def delay_for(attempt: int) -> int:
    """30 s after the first failure, doubling, capped at 6 h (SQS allows up to 12 h)."""
    base = env_int("CALLBACK_RETRY_BASE_SECONDS", 30)
    return min(base * 2 ** max(attempt - 1, 0), MAX_DELAY_SECONDS)


def queue_url(queue_arn: str) -> str:
    """Queue URL from its ARN and the client's endpoint: no extra API call, any partition."""
    account, name = queue_arn.split(":")[4:6]
    return f"{aws.client('sqs').meta.endpoint_url.rstrip('/')}/{account}/{name}"


def backoff_visibility(queue_arn: str, receipt_handle: str, attempt: int) -> None:
    aws.client("sqs").change_message_visibility(
        QueueUrl=queue_url(queue_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=delay_for(attempt)
    )
