"""The SSRF guard on app-supplied URLs (the result callback): http(s) to public addresses only.

The address a URL resolves to is judged, not its spelling (decimal, octal or hex IPv4, IDNA
look-alikes all end up as an address from ``getaddrinfo``); the first vetted address is
returned so the caller connects to it and no second DNS lookup can rebind the name.

An address is public when it is in no refused network of the explicit tables below. IPv6
forms that carry an IPv4 address (IPv4-compatible, -mapped, -translated, NAT64, 6to4, Teredo)
are judged by the IPv4 address(es) they carry. The tables cover everything ``ipaddress``
calls non-global in any supported Python version (3.11 and 3.13 disagree on several ranges),
so ``is_global`` never changes a verdict: both versions answer the same.

Anything that is not a well-formed http(s) URL is refused with ``UnsafeCallbackUrl``, never
another exception.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

from .config import get_settings
from .errors import ApiError

_METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}
MAX_URL_LENGTH = 2048

NOT_HTTP = "回调地址必须是http或https地址"
CREDENTIALS = "回调地址不能包含用户名或密码"
MALFORMED = "回调地址格式错误"
UNRESOLVABLE = "回调地址无法解析"
BAD_PORT = "回调地址无法解析: 端口无效"
NOT_PUBLIC = "回调地址不能指向内网、本机或元数据地址"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# IANA IPv4 special-purpose registry (and more): nothing an app's callback lives on.
_REFUSED_V4 = tuple(
    _V4(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments (3.13 exempts .9 and .10, 3.11 does not)
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast (is_global is True for most of it)
        "240.0.0.0/4",  # reserved, limited broadcast
    )
)

_GLOBAL_UNICAST = _V6("2000::/3")  # everything outside it is refused (loopback, ULA, link-local, multicast, ...)
_REFUSED_V6 = tuple(
    _V6(net)
    for net in (
        "2001::/23",  # IETF protocol assignments: benchmarking, ORCHID, AMT, ... (Teredo is judged first)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # SRv6 SIDs (RFC 9602)
    )
)

# IPv6 forms that carry an IPv4 address: the verdict is the IPv4 address's
_COMPATIBLE = _V6("::/96")  # ::a.b.c.d (deprecated; includes :: and ::1)
_MAPPED = _V6("::ffff:0:0/96")  # ::ffff:a.b.c.d
_TRANSLATED = _V6("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT)
_NAT64 = _V6("64:ff9b::/96")  # well-known NAT64 prefix (64:ff9b:1::/48 local-use is outside 2000::/3: refused)
_SIX_TO_FOUR = _V6("2002::/16")
_TEREDO = _V6("2001::/32")

_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_PORT = re.compile(r"[0-9]{1,5}")


class UnsafeCallbackUrl(ValueError):
    """The URL is not a well-formed http(s) URL or resolves to a non-public address."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 address(es) an IPv6 transition form carries, or None for a plain IPv6 address."""
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _COMPATIBLE or ip in _MAPPED or ip in _TRANSLATED or ip in _NAT64:
        return (low,)
    if ip in _TEREDO:
        return ip.teredo  # (server, client): both must be public
    if ip in _SIX_TO_FOUR:
        return (ip.sixtofour,)
    return None


def _public_v4(ip: ipaddress.IPv4Address) -> bool:
    return not any(ip in net for net in _REFUSED_V4) and ip.is_global


def _public_v6(ip: ipaddress.IPv6Address) -> bool:
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return all(_public_v4(v4) for v4 in embedded)
    return ip in _GLOBAL_UNICAST and not any(ip in net for net in _REFUSED_V6) and ip.is_global


def is_public(address: str) -> bool:
    """True when ``address`` (an IP address as text) may receive a callback."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # a zone-scoped address is local by definition
            return False
        return _public_v6(ip)
    return _public_v4(ip)


def _host_and_port(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a well-formed http(s) URL; the host lower-case, IDNA-encoded,
    without brackets or a trailing dot. Raises UnsafeCallbackUrl for anything else."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeCallbackUrl(MALFORMED)
    # spaces, controls (urlsplit would silently drop tabs and newlines) and C1 controls
    if any(ch <= " " or "\x7f" <= ch <= "\xa0" or ch.isspace() for ch in url):
        raise UnsafeCallbackUrl(MALFORMED)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. "http://[::1/" or a bracketed host that is not IPv6
        raise UnsafeCallbackUrl(MALFORMED) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise UnsafeCallbackUrl(NOT_HTTP)
    netloc = parts.netloc
    if "@" in netloc:
        raise UnsafeCallbackUrl(CREDENTIALS)
    if not (parts.path + parts.query + parts.fragment).isascii() or "\\" in netloc:
        raise UnsafeCallbackUrl(MALFORMED)  # the path must be percent-encoded; no WHATWG backslash games

    if netloc.startswith("["):
        end = netloc.find("]")
        host, rest = (netloc[1:end], netloc[end + 1:]) if end > 0 else ("", "")
        if not host or "%" in host or (rest and not rest.startswith(":")):
            raise UnsafeCallbackUrl(MALFORMED)  # unclosed bracket, zone id, junk after "]"
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise UnsafeCallbackUrl(MALFORMED) from None  # "[127.0.0.1]", "[v1.x]"
        port_text = rest[1:] if rest else ""
    else:
        if "[" in netloc or "]" in netloc or netloc.count(":") > 1:
            raise UnsafeCallbackUrl(MALFORMED)  # a stray bracket, an IPv6 address without brackets
        host, _, port_text = netloc.partition(":")
        host = host.rstrip(".")
        if not host:
            raise UnsafeCallbackUrl(NOT_HTTP)
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise UnsafeCallbackUrl(UNRESOLVABLE) from None
        host = host.lower().rstrip(".")
        if not host or len(host) > 253 or not _HOST_CHARS.fullmatch(host):
            raise UnsafeCallbackUrl(MALFORMED)

    if port_text:
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
            raise UnsafeCallbackUrl(BAD_PORT)
        port = int(port_text)
    else:
        port = 443 if scheme == "https" else 80
    return scheme, host, port


def check_url(url: str, allowed_hosts: frozenset[str] | None = None) -> str | None:
    """Refuse anything but http(s) to public addresses, unless the host is allowlisted.

    Returns the vetted address to connect to (None for an allowlisted host)."""
    allowed = get_settings().callback_allowed_hosts if allowed_hosts is None else allowed_hosts
    _scheme, host, port = _host_and_port(url)
    if host in allowed:
        return None
    if host in _METADATA_HOSTS:
        raise UnsafeCallbackUrl(NOT_PUBLIC)
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):  # gaierror is an OSError
        raise UnsafeCallbackUrl(UNRESOLVABLE) from None
    addresses = [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses or len(addresses) != len(infos) or not all(is_public(a) for a in addresses):
        raise UnsafeCallbackUrl(NOT_PUBLIC)
    return addresses[0]  # connect to this vetted address only (no second lookup)


def check_url_for_api(url: str, field: str = "callback_set.callback_url") -> None:
    try:
        check_url(url)
    except UnsafeCallbackUrl as exc:
        raise ApiError(400, f"{field} 不可用: {exc}") from None
