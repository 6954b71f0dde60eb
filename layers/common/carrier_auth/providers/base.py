"""The small interfaces every upstream adapter implements.

The state machine never knows which upstream it talks to: the ``carrier`` step calls a
``CarrierProvider`` and the identity step calls an ``IdentityProvider``. Adapters translate
upstream answers into these results and upstream failures into the exceptions below.
``ProviderError`` and ``ProviderUnavailable`` double as ASL ``ErrorEquals`` names (the Lambda
error type is the exact class name: the ASL matches names, not subclasses);
``ProviderOutcomeUnknown`` never leaves a step (docs/upstream-calls.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# What a carrier step leads to:
#   NEED_INPUT  - the user must type an SMS code / image captcha (guide_code says which)
#   COLLECTING  - login accepted, collection started (the app gets 105)
#   FAILED      - the task ends; guide_code is the answer (104) or "" for a system error (103)
#   WORKING     - the upstream is still processing (asynchronous providers such as Moxie):
#                 the state machine waits briefly and calls ``check``
CarrierOutcome = Literal["NEED_INPUT", "COLLECTING", "FAILED", "WORKING"]
CollectStatus = Literal["RUNNING", "SUCCESS", "FAILED"]
Verdict = Literal["consistent", "inconsistent", "unknown", "invalid"]


class ProviderError(Exception):
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


@dataclass(frozen=True)
class Identity:
    """The person behind a task, in plaintext. Lives only in memory inside a step."""

    name: str
    id_number: str
    mobile: str


@dataclass
class CarrierStep:
    outcome: CarrierOutcome
    guide_code: str = ""
    guide_message: str = ""
    # base64 image when an image captcha is required (guide 90002)
    auth_image: str | None = None
    # provider state to persist on the session (tokens, website, ...); never secrets of the user
    state: dict[str, Any] = field(default_factory=dict)
    # the upstream's own code and text, kept on the session for support
    raw_code: str = ""
    raw_message: str = ""


@dataclass
class CollectResult:
    status: CollectStatus
    message: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    raw_code: str = ""


@dataclass
class IdentityResult:
    verdict: Verdict
    provider: str
    # seed-000 guide code when the verdict stops the task (90026, or 90004/90005/90012
    # when the provider names the bad field); "" otherwise
    guide_code: str = ""
    isp: str = ""
    raw_code: str = ""
    raw_message: str = ""
    request_id: str = ""


class CarrierProvider(Protocol):
    name: str

    def login(self, identity: Identity, password: str) -> CarrierStep: ...

    def submit(
        self, state: dict[str, Any], identity: Identity, password: str, code: str
    ) -> CarrierStep: ...

    def resend(self, state: dict[str, Any], identity: Identity, password: str) -> CarrierStep: ...

    def check(self, state: dict[str, Any]) -> CarrierStep:
        """Where an asynchronous login stands now (after a WORKING outcome)."""
        ...

    def reconcile(self, state: dict[str, Any]) -> CarrierStep | None:
        """Where the upstream task stands after a ``ProviderOutcomeUnknown``: a step to route
        from, or None when the provider shows no effect of the call (the task stands where it
        was). Only reads: a failed read raises ``ProviderUnavailable``."""
        ...

    def poll(self, state: dict[str, Any]) -> CollectResult: ...


class IdentityProvider(Protocol):
    name: str

    def verify(self, identity: Identity) -> IdentityResult: ...
