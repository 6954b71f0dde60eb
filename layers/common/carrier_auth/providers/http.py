"""JSON over HTTP for the provider adapters: one lazily created session, upstream failures mapped.

Connection errors, timeouts, HTTP 429 and 5xx raise ``ProviderUnavailable`` (the ASL retries
them); any other non-2xx answer or a body that is not JSON raises ``ProviderError``.
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

from .base import ProviderError, ProviderUnavailable

Timeout = float | tuple[float, float]

# (connect, read) seconds; connect slightly above a multiple of 3 s (TCP retransmission window)
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10)

_TRANSIENT_ERRORS = (
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
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> Any:
    """POST ``json`` and return the parsed JSON answer."""
    return _request("POST", url, json=json, headers=headers, timeout=timeout)


def post_form(
    url: str,
    data: dict[str, Any],
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> Any:
    """POST ``data`` form-encoded and return the parsed JSON answer."""
    return _request("POST", url, data=data, headers=headers, timeout=timeout)


def get_json(
    url: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: Timeout = DEFAULT_TIMEOUT,
) -> Any:
    """GET with query ``params`` and return the parsed JSON answer."""
    return _request("GET", url, params=params, headers=headers, timeout=timeout)


def safe_url(url: str) -> str:
    """``url`` without query string, fragment or credentials: fit for messages and logs."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def send(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One logged request; transport failures become ProviderUnavailable / ProviderError.

    The caller judges the status (adapters that read error bodies, such as Moxie's, use this)."""
    where = f"{method} {safe_url(url)}"
    started = time.monotonic()
    try:
        response = session().request(method, url, **kwargs)
    except _TRANSIENT_ERRORS as exc:
        _log(where, type(exc).__name__, started)
        raise ProviderUnavailable(f"{where} failed: {type(exc).__name__}") from None
    except requests.RequestException as exc:
        _log(where, type(exc).__name__, started)
        raise ProviderError(f"{where} failed: {type(exc).__name__}") from None
    _log(where, response.status_code, started)
    return response


def _request(method: str, url: str, **kwargs: Any) -> Any:
    return _parse(f"{method} {safe_url(url)}", send(method, url, **kwargs))


def _parse(where: str, response: requests.Response) -> Any:
    status = response.status_code
    if status == 429 or status >= 500:
        raise ProviderUnavailable(f"{where} answered HTTP {status}")
    if not 200 <= status < 300:
        raise ProviderError(f"{where} answered HTTP {status}")
    try:
        return response.json()
    except ValueError:
        raise ProviderError(f"{where} answered HTTP {status}, body not JSON") from None


def _log(where: str, outcome: int | str, started: float) -> None:
    elapsed_ms = round((time.monotonic() - started) * 1000)
    logger.info("upstream %s -> %s in %d ms", where, outcome, elapsed_ms)
