"""The signed result callback to the app (the URL guard is ``urlguard``).

Signature header (modelled on Stripe / Moxie webhooks), signed with the tenant's secret:
    X-CarrierAuth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
During a secret rotation a second ``v1`` is signed with the previous secret. The app recomputes
the HMAC over the exact bytes it received, accepts any matching ``v1`` and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from . import codes, crypto
from .errors import CallbackDeliveryFailed
from .tenants import Tenant
from .urlguard import UnsafeCallbackUrl, check_url

SIGNATURE_HEADER = "X-CarrierAuth-Signature"
CONNECT_TIMEOUT = 3.05


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
    """POST the signed body; returns the HTTP status or raises CallbackDeliveryFailed.

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
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(tenant.callback_secrets, raw),
        "X-CarrierAuth-Event-Id": detail["event_id"],
        "User-Agent": "carrier-auth-gateway/1",
    }
    status = _post(url, address, raw, headers, timeout)
    if not 200 <= status < 300:
        raise CallbackDeliveryFailed(f"callback answered HTTP {status}")
    return status


def _post(url: str, address: str | None, raw: bytes, headers: dict[str, str], timeout: float) -> int:
    """One POST to ``address`` (the vetted IP; the host name itself when it is allowlisted), with
    SNI and certificate checks against the URL's host name; redirects are not followed.

    A watchdog cuts the connection at the deadline: socket timeouts bound each read, not an
    endpoint that trickles its answer a byte at a time."""
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
        return conn.getresponse().status  # the body is never read
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
