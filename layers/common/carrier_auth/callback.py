"""The signed result callback to the app (the URL guard is ``urlguard``).

Signature header (modelled on Stripe / Moxie webhooks):
    X-CarrierAuth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
The app recomputes the HMAC over the exact bytes it received and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from aws_lambda_powertools.utilities.parameters import get_secret

from . import codes, crypto
from .config import get_settings
from .errors import CallbackDeliveryFailed
from .urlguard import UnsafeCallbackUrl, check_url

SIGNATURE_HEADER = "X-CarrierAuth-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300, now: int | None = None) -> bool:
    """What an app does on receipt (also used by the local callback receiver)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    current = int(time.time()) if now is None else now
    if abs(current - t) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, t).encode("ascii"), header.encode("utf-8", "surrogatepass"))


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


def deliver(session: dict[str, Any], detail: dict[str, Any], timeout: tuple[float, float] = (3.05, 10)) -> int:
    """POST the signed body; returns the HTTP status or raises CallbackDeliveryFailed."""
    url = session["callback_url"]
    try:
        address = check_url(url)  # again at delivery: DNS may have changed since the task started
    except UnsafeCallbackUrl as exc:
        raise CallbackDeliveryFailed(f"callback url refused: {exc}") from None
    raw = json.dumps(build_body(session, detail), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    secret = str(get_secret(get_settings().callback_secret, max_age=300))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: sign(secret, raw),
        "X-CarrierAuth-Event-Id": detail["event_id"],
        "User-Agent": "carrier-auth-gateway/1",
    }
    try:
        status = _post(url, address, raw, headers, timeout)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        raise CallbackDeliveryFailed(f"callback request failed: {type(exc).__name__}") from None
    if not 200 <= status < 300:
        raise CallbackDeliveryFailed(f"callback answered HTTP {status}")
    return status


def _post(url: str, address: str | None, raw: bytes, headers: dict[str, str], timeout: tuple[float, float]) -> int:
    if address is None:  # allowlisted host: plain requests
        return requests.post(url, data=raw, headers=headers, timeout=timeout, allow_redirects=False).status_code
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    tls = {"server_hostname": parts.hostname, "assert_hostname": parts.hostname} if https else {}
    pool_cls = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    with pool_cls(address, port, timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]), retries=False, **tls) as pool:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        resp = pool.urlopen("POST", path, body=raw, headers={**headers, "Host": parts.netloc}, redirect=False)
        return resp.status
