"""The signed result callback to the app (the URL guard is ``urlguard``).

Every callback carries two signatures of the same raw body, both made with the tenant's secret
and the same timestamp, so an app verifies whichever it prefers:

    X-CarrierAuth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
        (modelled on Stripe / Moxie webhooks; the key is the secret string's UTF-8 bytes)
    webhook-id: <event id>   webhook-timestamp: <t>
    webhook-signature: v1,<base64 HMAC-SHA256(standard_key(secret), "<id>.<t>." + raw body)>
        (Standard Webhooks, https://www.standardwebhooks.com: the reference libraries verify it
        with ``standard_secret(secret)``)

During a secret rotation each header carries a second signature made with the previous secret
(``t=…,v1=<new>,v1=<old>`` and ``v1,<new> v1,<old>``). The app recomputes the HMAC over the exact
bytes it received, accepts any matching signature and rejects old timestamps.

The endpoint's answer: any 2xx is delivered; 410 Gone means "stop" (``CallbackGone``); anything
else fails the attempt, and a 429 or 503 may ask for a longer wait with ``Retry-After``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import hashlib
import hmac
import http.client
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from . import codes, crypto
from .errors import CallbackDeliveryFailed, CallbackGone
from .tenants import Tenant
from .urlguard import UnsafeCallbackUrl, check_url

SIGNATURE_HEADER = "X-CarrierAuth-Signature"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"
CONNECT_TIMEOUT = 3.05
# answers whose Retry-After may lengthen the wait before the next attempt
RETRY_AFTER_STATUSES = frozenset({429, 503})
_DELTA_SECONDS = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,9})?")


def sign(secrets: str | Iterable[str], body: bytes, timestamp: int | None = None) -> str:
    """``t=<unix seconds>,v1=<hex>`` with one ``v1`` per secret (two during a rotation, like
    Stripe): a receiver accepts the body when any ``v1`` matches the secret it knows."""
    t = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    signed = f"{t}.".encode("ascii") + body
    macs = (hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest() for key in keys)
    return f"t={t}," + ",".join(f"v1={mac}" for mac in macs)


def verify(secret: str, body: bytes, header: str, tolerance: int = 300, now: int | None = None) -> bool:
    """What an app does on receipt (also used by the local callback receiver). Never raises."""
    timestamp, candidates = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.encode("utf-8", "surrogatepass"))
    if timestamp is None or not candidates:
        return False
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    wanted = expected.hexdigest().encode("ascii")
    return any([hmac.compare_digest(wanted, candidate) for candidate in candidates])


def standard_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of a tenant secret: the base64 decoding of what follows
    ``whsec_`` (padding optional, as the reference libraries read it), else the UTF-8 bytes.
    Raises ValueError for a ``whsec_`` secret that is not base64."""
    if secret.startswith(STANDARD_SECRET_PREFIX):
        return base64.b64decode(secret[len(STANDARD_SECRET_PREFIX) :] + "==")
    return secret.encode("utf-8")


def standard_secret(secret: str) -> str:
    """The secret's Standard Webhooks form, ``whsec_<base64 key>``: what an app gives the
    reference libraries (``Webhook(standard_secret(secret))``). Idempotent for a ``whsec_`` secret."""
    return STANDARD_SECRET_PREFIX + base64.b64encode(standard_key(secret)).decode("ascii")


def sign_standard(secrets: str | Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: ``v1,<base64>`` per secret, space-separated, current secret first."""
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    signed = f"{msg_id}.{timestamp}.".encode("utf-8") + body
    macs = (hmac.new(standard_key(key), signed, hashlib.sha256).digest() for key in keys)
    return " ".join(f"v1,{base64.b64encode(mac).decode('ascii')}" for mac in macs)


def verify_standard(
    secret: str, body: bytes, headers: Mapping[str, str], tolerance: int = 300, now: int | None = None
) -> bool:
    """The Standard Webhooks check of ``webhook-id`` / ``-timestamp`` / ``-signature`` (header
    names in any case) against one secret. Never raises."""
    try:
        lowered = {str(name).lower(): value for name, value in headers.items()}
        msg_id = lowered.get(STANDARD_ID_HEADER)
        stamp = lowered.get(STANDARD_TIMESTAMP_HEADER)
        signature = lowered.get(STANDARD_SIGNATURE_HEADER)
        if not (isinstance(msg_id, str) and isinstance(stamp, str) and isinstance(signature, str) and msg_id):
            return False
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            return False
        timestamp = int(stamp)
        current = int(time.time()) if now is None else now
        if abs(current - timestamp) > tolerance:
            return False
        expected = base64.b64decode(sign_standard(secret, msg_id, timestamp, body)[len("v1,") :])
        candidates = []
        for item in signature.split(" "):
            version, _, value = item.partition(",")
            if version == "v1" and value:
                try:
                    candidates.append(base64.b64decode(value, validate=True))
                except binascii.Error:
                    continue
        return any([hmac.compare_digest(expected, candidate) for candidate in candidates])
    except (ValueError, TypeError, AttributeError):  # a broken secret or headers that are no mapping
        return False


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait: delta-seconds or an HTTP-date; a negative
    delay or a past date is 0; None when absent or unparsable (then it is ignored)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return max(float(value), 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # not a date either
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=datetime.timezone.utc)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def build_body(session: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    success = detail["result"] == codes.CALLBACK_SUCCESS
    token = crypto.decrypt(session["task_id"], session["callback_token_enc"]) if session.get("callback_token_enc") else ""
    return {
        "error_message": detail.get("error_message")
        or codes.CALLBACK_MESSAGES["success" if success else "defeat"],
        "error_code": codes.CALLBACK_SUCCESS if success else codes.CALLBACK_DEFEAT,
        "success": success,
        "callback_set": {"callback_url": session["callback_url"], "token": token},
        "task_id": session["task_id"],
        "userId": session["user_id"],
        "finished_at": detail["finished_at"],
        "event_id": detail["event_id"],
    }


def deliver(session: dict[str, Any], detail: dict[str, Any], tenant: Tenant, timeout: float) -> int:
    """POST the signed body; returns the 2xx HTTP status, raises CallbackGone on 410 (stop
    retrying) or CallbackDeliveryFailed (with ``retry_after`` from a 429/503's Retry-After).

    ``timeout`` bounds the whole attempt (connect, send, status line and headers); the answer's
    body is never read, so an endpoint that keeps talking cannot hold the attempt open."""
    url = session["callback_url"]
    try:
        address = check_url(url)  # again at delivery: DNS may have changed since the task started
    except UnsafeCallbackUrl as exc:
        raise CallbackDeliveryFailed(f"callback url refused: {exc}") from None
    if not tenant.allows_callback_host(urlsplit(url).hostname or ""):
        raise CallbackDeliveryFailed("callback host is not in the tenant's callback_hosts")
    raw = json.dumps(build_body(session, detail), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    timestamp = int(time.time())  # one timestamp for both signatures of this attempt
    try:
        standard = sign_standard(tenant.callback_secrets, detail["event_id"], timestamp, raw)
    except ValueError:
        raise CallbackDeliveryFailed("a tenant callback secret starts with whsec_ but is not base64") from None
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(tenant.callback_secrets, raw, timestamp),
        "X-CarrierAuth-Event-Id": detail["event_id"],
        STANDARD_ID_HEADER: detail["event_id"],
        STANDARD_TIMESTAMP_HEADER: str(timestamp),
        STANDARD_SIGNATURE_HEADER: standard,
        "User-Agent": "carrier-auth-gateway/1",
    }
    status, retry_after = _post(url, address, raw, headers, timeout)
    if status == 410:
        raise CallbackGone("callback answered HTTP 410")
    if not 200 <= status < 300:
        wait = retry_after_seconds(retry_after) if status in RETRY_AFTER_STATUSES else None
        raise CallbackDeliveryFailed(f"callback answered HTTP {status}", retry_after=wait)
    return status


def _post(
    url: str, address: str | None, raw: bytes, headers: dict[str, str], timeout: float
) -> tuple[int, str | None]:
    """One POST to ``address`` (the vetted IP; the host name itself when it is allowlisted), with
    SNI and certificate checks against the URL's host name; redirects are not followed.

    Returns the status and the answer's Retry-After header (None without one). A watchdog cuts
    the connection at the deadline: socket timeouts bound each read, not an endpoint that
    trickles its answer a byte at a time."""
    parts = urlsplit(url)
    host = (parts.hostname or "").encode("idna").decode("ascii")  # the guard vetted it encodes
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((address or host, port), timeout=min(CONNECT_TIMEOUT, timeout))
    except OSError as exc:
        raise CallbackDeliveryFailed(f"callback request failed: {type(exc).__name__}") from None
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), _cut, (sock,))
    watchdog.start()
    conn = http.client.HTTPConnection(host, port)  # never connects itself: it gets our socket
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host) if https else sock
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=raw, headers={**headers, "Host": f"{host}:{parts.port}" if parts.port else host})
        answer = conn.getresponse()  # the status line and headers: the body is never read
        return answer.status, answer.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as exc:
        reason = f"timed out after {timeout:g} s" if time.monotonic() >= deadline else type(exc).__name__
        raise CallbackDeliveryFailed(f"callback request failed: {reason}") from None
    finally:
        watchdog.cancel()
        conn.close()
        sock.close()


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
