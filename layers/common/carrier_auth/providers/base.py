"""The small interfaces every upstream adapter implements.

The state machine never knows which upstream it talks to: the ``carrier`` step calls a
``CarrierProvider`` and the identity step calls an ``IdentityProvider``. Adapters translate
upstream answers into these results and upstream failures into ``ProviderError``,
``ProviderUnavailable`` and ``ProviderOutcomeUnknown``. Those live in ``carrier_auth.errors``
with every other error a state machine step raises (their class names are ASL error names) and
are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..errors import ProviderError, ProviderOutcomeUnknown, ProviderUnavailable  # noqa: F401  (re-exported)

# What a carrier step leads to:
#   NEED_INPUT  - the user must type an SMS code / image captcha (guide_code says which)
#   COLLECTING  - login accepted, collection started (the app gets 105)
#   FAILED      - the task ends; guide_code is the answer (104) or "" for a system error (103)
#   WORKING     - the upstream is still processing (asynchronous providers such as Moxie):
#                 the state machine waits briefly and calls ``check``
CarrierOutcome = Literal["NEED_INPUT", "COLLECTING", "FAILED", "WORKING"]
CollectStatus = Literal["RUNNING", "SUCCESS", "FAILED"]
Verdict = Literal["consistent", "inconsistent", "unknown", "invalid"]


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
