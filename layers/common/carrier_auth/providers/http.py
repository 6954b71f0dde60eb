"""JSON over HTTP for the provider adapters: one lazily created session, upstream failures mapped.

Every call says whether it ``changes_state`` upstream (docs/upstream-calls.md lists them all);
that decides what a failure means:

| failure | read (``changes_state=False``) | state-changing call |
|---|---|---|
| no connection made (refused, DNS, connect timeout) | ``ProviderUnavailable`` | ``ProviderUnavailable`` |
| HTTP 429 | ``ProviderUnavailable`` | ``ProviderUnavailable`` |
| read timeout, connection lost after sending, HTTP 5xx | ``ProviderUnavailable`` | ``ProviderOutcomeUnknown`` |
| 2xx whose body is not a JSON object (an HTML page, truncated JSON) | ``ProviderUnavailable`` | ``ProviderOutcomeUnknown`` |
| any other status | ``ProviderError`` | ``ProviderError`` |

Only a failure that provably never reached the provider, or an explicit "busy" refusal, may be
retried blindly; after the others a state-changing call may have taken effect.

Request bodies and query strings carry passwords, SMS codes, identities and client secrets, so
exception messages name only the method, the URL without its query, the status and the error
type. Original ``requests`` exceptions are not chained for the same reason: their text can quote
the full URL.

Every call goes through ``exchange``, which logs it once and measures it: one Powertools line
``upstream call`` (a child of the function's service logger, so the handler's keys such as
``task_id`` come along) with ``provider`` (the registry's name), ``operation`` (the adapter's
short name of the call: login, submit, status, verify, ...), ``method``, ``http_status`` (absent
when no answer came: Powertools drops null keys), ``latency_ms`` (until the answer was read, 0.1
ms), ``outcome`` and, when the caller counts them, ``attempt``. Never the URL, its path (it can
hold ids), a header, a body or an exception's text: a failure adds only ``error_type`` (the
``requests`` exception's class, ``HTTPStatus`` for a status, ``InvalidBody`` for a 2xx body
refused) and is logged at WARNING, a success at INFO.

``outcome`` is the table above: ``ok`` (a 2xx the caller accepted), ``unavailable``
(``ProviderUnavailable``), ``outcome_unknown`` (``ProviderOutcomeUnknown``) or ``protocol_error``
(``ProviderError``: any other status - also when an adapter reads that answer, as Moxie does
its 4xx - or an answer the caller's ``judge`` refused as such). Metrics (``telemetry``, dimension
``Provider``): ``UpstreamCall`` and ``UpstreamLatency`` for every call, ``UpstreamFailed`` for
every outcome but ``ok``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from aws_lambda_powertools import Logger
from urllib3.exceptions import ConnectTimeoutError

from .. import telemetry
from .base import ProviderError, ProviderOutcomeUnknown, ProviderUnavailable

Timeout = float | tuple[float, float]
Outcome = Literal["ok", "unavailable", "outcome_unknown", "protocol_error"]
T = TypeVar("T")

# (connect, read) seconds; connect slightly above a multiple of 3 s (TCP retransmission window)
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10)

_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

logger = Logger(child=True)


class _Call(NamedTuple):
    """What a call's log line and metrics name besides its result."""

    provider: str
    operation: str
    method: str
    attempt: int | None = None


@functools.cache
def session() -> requests.Session:
    """The process-wide session (connection pooling across warm Lambda invocations)."""
    return requests.Session()


def post_json(
    url: str,
    json: Any,
    *,
    provider: str,
    operation: str,
    changes_state: bool,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    attempt: int | None = None,
) -> dict[str, Any]:
    """POST ``json`` and return the JSON object answered."""
    return _request(
        "POST", url, changes_state, json=json, headers=headers, timeout=timeout,
        provider=provider, operation=operation, attempt=attempt,
    )  # fmt: skip


def post_form(
    url: str,
    data: dict[str, Any],
    *,
    provider: str,
    operation: str,
    changes_state: bool,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    attempt: int | None = None,
) -> dict[str, Any]:
    """POST ``data`` form-encoded and return the JSON object answered."""
    return _request(
        "POST", url, changes_state, data=data, headers=headers, timeout=timeout,
        provider=provider, operation=operation, attempt=attempt,
    )  # fmt: skip


def get_json(
    url: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
    *,
    provider: str,
    operation: str,
    attempt: int | None = None,
) -> dict[str, Any]:
    """GET (a read) with query ``params`` and return the JSON object answered."""
    return _request(
        "GET", url, False, params=params, headers=headers, timeout=timeout,
        provider=provider, operation=operation, attempt=attempt,
    )  # fmt: skip


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or credentials: fit for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def unsettled(message: str, changes_state: bool) -> ProviderError:
    """The exception for a failure after which the call may have reached the provider: a read
    is just unavailable, a state-changing call's outcome is unknown."""
    return ProviderOutcomeUnknown(message) if changes_state else ProviderUnavailable(message)


def exchange(
    method: str,
    url: str,
    *,
    provider: str,
    operation: str,
    changes_state: bool,
    judge: Callable[[requests.Response], T],
    attempt: int | None = None,
    **kwargs: Any,
) -> T:
    """One upstream call, logged and measured once: transport failures are classified (module
    docstring), then ``judge`` turns the answer into the caller's result or raises this module's
    exceptions (``post_json`` and friends judge with the table; Moxie reads its 4xx bodies)."""
    call = _Call(provider, operation, method, attempt)
    where = f"{method} {safe_url(url)}"
    started = time.monotonic()
    try:
        response = session().request(method, url, **kwargs)
    except requests.RequestException as exc:
        failure = _transport_failure(where, exc, changes_state)
        _record(call, None, _since(started), _outcome(failure), type(exc).__name__)
        raise failure from None
    latency_ms = _since(started)
    status = response.status_code
    answered = "InvalidBody" if 200 <= status < 300 else "HTTPStatus"
    try:
        result = judge(response)
    except Exception as exc:
        error_type = answered if isinstance(exc, ProviderError) else type(exc).__name__
        _record(call, status, latency_ms, _outcome(exc), error_type)
        raise
    if 200 <= status < 300:
        _record(call, status, latency_ms, "ok", None)
    else:  # an answer the caller reads (Moxie's 4xx): still "any other status" in the table
        _record(call, status, latency_ms, "protocol_error", answered)
    return result


def _transport_failure(where: str, exc: requests.RequestException, changes_state: bool) -> ProviderError:
    message = f"{where} failed: {type(exc).__name__}"
    if not isinstance(exc, _TRANSPORT_ERRORS):
        return ProviderError(message)
    if _never_sent(exc):
        return ProviderUnavailable(message)
    return unsettled(message, changes_state)


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request provably never reached the provider: no connection was made
    (refused, name not resolved, connect timeout). Anything later - a read timeout, a reset
    or close after sending, even a TLS error - may follow a request the provider received."""
    failure = exc.args[0] if exc.args else None
    return isinstance(getattr(failure, "reason", None), ConnectTimeoutError)


def _request(method: str, url: str, changes_state: bool, **kwargs: Any) -> dict[str, Any]:
    where = f"{method} {safe_url(url)}"

    def judge(response: requests.Response) -> dict[str, Any]:
        return _parse(where, response, changes_state)

    return exchange(method, url, changes_state=changes_state, judge=judge, **kwargs)


def _parse(where: str, response: requests.Response, changes_state: bool) -> dict[str, Any]:
    status = response.status_code
    if status == 429:
        raise ProviderUnavailable(f"{where} answered HTTP 429")
    if status >= 500:
        raise unsettled(f"{where} answered HTTP {status}", changes_state)
    if not 200 <= status < 300:
        raise ProviderError(f"{where} answered HTTP {status}")
    try:
        body = response.json()
    except ValueError:
        raise unsettled(f"{where} answered HTTP {status}, body not JSON", changes_state) from None
    if not isinstance(body, dict):
        raise unsettled(f"{where} answered HTTP {status}, body not a JSON object", changes_state)
    return body


def _since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _outcome(exc: BaseException) -> Outcome:
    if isinstance(exc, ProviderOutcomeUnknown):
        return "outcome_unknown"
    if isinstance(exc, ProviderUnavailable):
        return "unavailable"
    return "protocol_error"


def _record(call: _Call, status: int | None, latency_ms: float, outcome: Outcome, error_type: str | None) -> None:
    """The call's log line and metrics (module docstring)."""
    fields = {
        "provider": call.provider,
        "operation": call.operation,
        "method": call.method,
        "http_status": status,
        "latency_ms": latency_ms,
        "outcome": outcome,
        "attempt": call.attempt,
        "error_type": error_type,
    }
    if outcome == "ok":
        logger.info("upstream call", extra=fields)
    else:
        logger.warning("upstream call", extra=fields)
    telemetry.emit("UpstreamCall", Provider=call.provider)
    telemetry.emit("UpstreamLatency", latency_ms, "Milliseconds", Provider=call.provider)
    if outcome != "ok":
        telemetry.emit("UpstreamFailed", Provider=call.provider)
