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
exception messages and logs name only the method, the URL without its query, the status and the
elapsed time. Original ``requests`` exceptions are not chained for the same reason: their text
can quote the full URL.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError

from .base import ProviderError, ProviderOutcomeUnknown, ProviderUnavailable

Timeout = float | tuple[float, float]

# (connect, read) seconds; connect slightly above a multiple of 3 s (TCP retransmission window)
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10)

_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

logger = logging.getLogger(__name__)


@functools.cache
def session() -> requests.Session:
    """The process-wide session (connection pooling across warm Lambda invocations)."""
    return requests.Session()


def post_json(
    url: str,
    json: Any,
    *,
    changes_state: bool,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """POST ``json`` and return the JSON object answered."""
    return _request("POST", url, changes_state, json=json, headers=headers, timeout=timeout)


def post_form(
    url: str,
    data: dict[str, Any],
    *,
    changes_state: bool,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """POST ``data`` form-encoded and return the JSON object answered."""
    return _request("POST", url, changes_state, data=data, headers=headers, timeout=timeout)


def get_json(
    url: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """GET (a read) with query ``params`` and return the JSON object answered."""
    return _request("GET", url, False, params=params, headers=headers, timeout=timeout)


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


def send(method: str, url: str, *, changes_state: bool, **kwargs: Any) -> requests.Response:
    """One logged request; transport failures are classified (module docstring), the status is
    the caller's to judge (adapters that read error bodies, such as Moxie's, use this)."""
    where = f"{method} {safe_url(url)}"
    started = time.monotonic()
    try:
        response = session().request(method, url, **kwargs)
    except _TRANSPORT_ERRORS as exc:
        _log(where, type(exc).__name__, started)
        message = f"{where} failed: {type(exc).__name__}"
        if _never_sent(exc):
            raise ProviderUnavailable(message) from None
        raise unsettled(message, changes_state) from None
    except requests.RequestException as exc:
        _log(where, type(exc).__name__, started)
        raise ProviderError(f"{where} failed: {type(exc).__name__}") from None
    _log(where, response.status_code, started)
    return response


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request provably never reached the provider: no connection was made
    (refused, name not resolved, connect timeout). Anything later - a read timeout, a reset
    or close after sending, even a TLS error - may follow a request the provider received."""
    failure = exc.args[0] if exc.args else None
    return isinstance(getattr(failure, "reason", None), ConnectTimeoutError)


def _request(method: str, url: str, changes_state: bool, **kwargs: Any) -> dict[str, Any]:
    response = send(method, url, changes_state=changes_state, **kwargs)
    return _parse(f"{method} {safe_url(url)}", response, changes_state)


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


def _log(where: str, outcome: int | str, started: float) -> None:
    elapsed_ms = round((time.monotonic() - started) * 1000)
    logger.info("upstream %s -> %s in %d ms", where, outcome, elapsed_ms)
