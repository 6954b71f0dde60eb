"""Every exception of the gateway, in one module.

``FlowError`` and its subclasses are the errors a state machine step raises on purpose. A Lambda
task that fails reports its exception's class name as the error type (``errorType``), and a
callback task fails with the name ``flow.resume`` sends: that name is what an ASL Retry or Catch
``ErrorEquals`` matches. It matches names, not subclasses, so class names here never change and a
subclass is no substitute for its base in a Retry or Catch.

tests/unit/test_errors.py holds this module to statemachine/carrier_auth.asl.json: every name an
``ErrorEquals`` lists (other than AWS's own dotted ``States.*`` / ``Lambda.*`` / ``SQS.*`` names)
is a ``FlowError`` here, and every ``FlowError`` is either named there or listed in
``NOT_NAMED_BY_THE_ASL`` with the reason.

The rest (``ApiError``, ``CallbackDeliveryFailed``, ``CallbackGone``) never reach the state
machine: the API renders the first, the callback queue's consumer handles the others.
"""

from __future__ import annotations

from typing import Any


class FlowError(Exception):
    """An error a state machine step raises on purpose; its class name is the ASL error name."""


class SessionNotFound(FlowError):
    """No session item for the task id."""


class ProviderError(FlowError):
    """Definite: the upstream answered in the protocol, but with something we cannot use (an
    unexpected code, a refusal of our credentials). Not retried: the task ends with 103."""


class ProviderUnavailable(ProviderError):
    """The call had no effect upstream and may be repeated: the connection was never made, the
    provider refused it as busy (HTTP 429, its own "busy" answers), or it only reads.

    The ASL retries this with backoff before giving up (failover at login, 90035 at an input,
    a counted poll at collection).
    """


class ProviderOutcomeUnknown(ProviderError):
    """A state-changing call may have taken effect, or the upstream task is not where we think:
    a read timeout, the connection lost after sending, HTTP 5xx, an answer that is not the
    protocol, a refusal that says the task is in another state.

    Never repeated blindly and never seen by the ASL: the step asks the provider where the task
    stands (``CarrierProvider.reconcile``) and routes from that. ``state`` is what the adapter
    learnt before the failure (a new upstream task's id), so the step asks about that task.
    """

    def __init__(self, message: str, state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.state = state or {}


# The FlowErrors no ErrorEquals names, and why: a step may still fail with them (the ASL's
# States.ALL Catch takes it to SystemError: 103, or DEFEAT by callback after 105).
NOT_NAMED_BY_THE_ASL: dict[str, str] = {
    "SessionNotFound": "the task's session item is gone: nothing to retry, States.ALL ends the task",
    "ProviderError": "definite: not retried, States.ALL ends the task with 103 (docs/upstream-calls.md)",
    "ProviderOutcomeUnknown": "never leaves a step: the step reconciles it (docs/upstream-calls.md)",
}


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
