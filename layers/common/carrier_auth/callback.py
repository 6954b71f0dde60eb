"""The signed result callback to the app, and the SSRF guard on its URL.

Signature header (modelled on Stripe / Moxie webhooks):
    X-CarrierAuth-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>
The app recomputes the HMAC over the exact bytes it received and rejects old timestamps.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from aws_lambda_powertools.utilities.parameters import get_secret

from . import codes, crypto
from .config import get_settings
from .errors import ApiError, CallbackDeliveryFailed

SIGNATURE_HEADER = "X-CarrierAuth-Signature"
_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeCallbackUrl(ValueError):
    """The URL is not http(s) or resolves to a non-public address."""


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
    return hmac.compare_digest(sign(secret, body, t), header)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allowed_hosts: frozenset[str] | None = None) -> None:
    """Refuse anything but http(s) to public addresses, unless the host is allowlisted."""
    allowed = get_settings().callback_allowed_hosts if allowed_hosts is None else allowed_hosts
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeCallbackUrl("回调地址必须是http或https地址")
    if parts.username or parts.password:
        raise UnsafeCallbackUrl("回调地址不能包含用户名或密码")
    host = parts.hostname.lower().rstrip(".")
    if host in allowed:
        return
    if host in _METADATA_HOSTS:
        raise UnsafeCallbackUrl("回调地址不能指向内网、本机或元数据地址")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError, UnicodeError):
        raise UnsafeCallbackUrl("回调地址无法解析") from None
    if not infos or not all(_is_public(info[4][0]) for info in infos):
        raise UnsafeCallbackUrl("回调地址不能指向内网、本机或元数据地址")


def check_url_for_api(url: str) -> None:
    try:
        check_url(url)
    except UnsafeCallbackUrl as exc:
        raise ApiError(400, f"callback_set.callback_url 不可用: {exc}") from None


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
        check_url(url)  # again at delivery: DNS may have changed since the task started
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
        resp = requests.post(url, data=raw, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise CallbackDeliveryFailed(f"callback request failed: {type(exc).__name__}") from None
    if not 200 <= resp.status_code < 300:
        raise CallbackDeliveryFailed(f"callback answered HTTP {resp.status_code}")
    return resp.status_code
