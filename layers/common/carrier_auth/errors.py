"""Exceptions of the flow and the API (provider exceptions live in providers/base.py; their
class names are the ASL ErrorEquals names)."""

from __future__ import annotations


class SessionNotFound(Exception):
    """No session item for the task id."""


class CallbackDeliveryFailed(Exception):
    """The app's callback URL did not answer 2xx; SQS retries with growing delays.

    ``retry_after``: the seconds a 429 or 503 asked to wait (its Retry-After header), else None;
    it may lengthen the next delay, never shorten it."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class CallbackGone(Exception):
    """The app's callback URL answered 410 Gone: the app wants no more attempts for this task
    (not a failure: the message is deleted, the session records callback_status GONE)."""


class ApiError(Exception):
    """A refusal the API renders as the seed envelope with a non-200 HTTP status."""

    def __init__(self, status: int, message: str, data: dict | None = None, code: str = "103"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.data = data or {}
        self.code = code


# Step Functions' answers to SendTaskSuccess / SendTaskHeartbeat for a task that no longer waits
# for the token (timed out, execution ended, token unknown).
EXPIRED_TOKENS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
