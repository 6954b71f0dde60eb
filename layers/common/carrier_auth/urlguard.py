"""The SSRF guard on app-supplied URLs (the result callback): http(s) to public addresses only.

The address a URL resolves to is judged, not its spelling; the first vetted address is
returned so the caller connects to it and no second DNS lookup can rebind the name.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from .config import get_settings
from .errors import ApiError

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}


class UnsafeCallbackUrl(ValueError):
    """The URL is not http(s) or resolves to a non-public address."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, allowed_hosts: frozenset[str] | None = None) -> str | None:
    """Refuse anything but http(s) to public addresses, unless the host is allowlisted."""
    allowed = get_settings().callback_allowed_hosts if allowed_hosts is None else allowed_hosts
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeCallbackUrl("回调地址必须是http或https地址")
    if parts.username or parts.password:
        raise UnsafeCallbackUrl("回调地址不能包含用户名或密码")
    host = parts.hostname.lower().rstrip(".")
    if host in allowed:
        return None
    if host in _METADATA_HOSTS:
        raise UnsafeCallbackUrl("回调地址不能指向内网、本机或元数据地址")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError, UnicodeError):
        raise UnsafeCallbackUrl("回调地址无法解析") from None
    if not infos or not all(_is_public(info[4][0]) for info in infos):
        raise UnsafeCallbackUrl("回调地址不能指向内网、本机或元数据地址")
    return infos[0][4][0]  # connect to this vetted address only (no second lookup)


def check_url_for_api(url: str) -> None:
    try:
        check_url(url)
    except UnsafeCallbackUrl as exc:
        raise ApiError(400, f"callback_set.callback_url 不可用: {exc}") from None
