"""urlguard.py: the SSRF guard on callback URLs, as a table of URLs and verdicts.

Offline by construction: ``socket.getaddrinfo`` is replaced for every test in this file by one
that answers IP literals (and glibc's decimal / octal / hex IPv4 spellings) without DNS and
names from ``FAKE_DNS`` only. The verdicts must be the same on Python 3.11 and 3.13 (whose
``ipaddress.is_global`` disagree on several ranges): run this file under both.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carrier_auth import codes, urlguard
from carrier_auth.errors import ApiError
from carrier_auth.urlguard import (
    BAD_PORT,
    CREDENTIALS,
    MALFORMED,
    NOT_HTTP,
    NOT_PUBLIC,
    UNRESOLVABLE,
    UnsafeCallbackUrl,
    check_url,
    is_public,
)

NONE: frozenset[str] = frozenset()
REAL_GETADDRINFO = socket.getaddrinfo

FAKE_DNS = {
    "public.example": ["93.184.216.34"],
    "public6.example": ["2606:4700:4700::1111", "93.184.216.34"],
    "private.example": ["10.0.0.1"],
    "mixed.example": ["93.184.216.34", "127.0.0.1"],  # one bad answer refuses the name
    "mapped.example": ["::ffff:10.0.0.1"],
    "nat64.example": ["64:ff9b::5db8:d822"],  # what a DNS64 resolver answers for 93.184.216.34
    "nat64-meta.example": ["64:ff9b::a9fe:a9fe"],
    "localhost": ["127.0.0.1", "::1"],
    "xn--fsqu00a.xn--0zwm56d": ["93.184.216.34"],  # 例子.测试
}


def fake_getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> list:
    try:  # literals only: AI_NUMERICHOST never asks DNS (glibc still reads 2130706433, 0177.0.0.1, 0x7f.1)
        return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    if isinstance(host, str) and host in FAKE_DNS:
        out = []
        for address in FAKE_DNS[host]:
            fam = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port), 0, 0) if fam == socket.AF_INET6 else (address, int(port))
            out.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return out
    raise socket.gaierror(socket.EAI_NONAME, "offline unit test: no DNS")


@pytest.fixture(autouse=True)
def offline_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)


OK = "allowed"
# (url, verdict): verdict is OK or the message the refusal carries
TABLE: list[tuple[str, str]] = [
    # --- public addresses: allowed ----------------------------------------------------------------
    ("http://93.184.216.34/cb", OK),
    ("https://93.184.216.34:8443/cb?x=1#frag", OK),
    ("HTTP://93.184.216.34/cb", OK),
    ("http://8.8.8.8/", OK),
    ("http://172.32.0.1/", OK),  # just outside 172.16/12
    ("http://100.128.0.1/", OK),  # just outside 100.64/10
    ("http://93.184.216.34:65535/", OK),
    ("http://93.184.216.34./", OK),
    ("http://1572395042/", OK),  # 93.184.216.34 as one decimal number
    ("http://0x5db8d822/", OK),  # ... as hex
    ("http://0135.0270.0330.042/", OK),  # ... as octal parts
    ("http://[2606:4700:4700::1111]/cb", OK),
    ("http://[2a00:1450:4001:82b::200e]:8080/cb", OK),
    ("http://[::ffff:93.184.216.34]/", OK),  # IPv4-mapped public
    ("http://[::ffff:0:5db8:d822]/", OK),  # IPv4-translated public
    ("http://[::93.184.216.34]/", OK),  # IPv4-compatible public (deprecated, but public)
    ("http://[64:ff9b::5db8:d822]/", OK),  # NAT64 of a public address
    ("http://[64:ff9b::93.184.216.34]/", OK),
    ("http://[2002:5db8:d822::1]/", OK),  # 6to4 of a public address
    ("http://[2001:0:5db8:d822::f7f7:f7f7]/", OK),  # Teredo: server 93.184.216.34, client 8.8.8.8
    ("http://public.example/cb", OK),
    ("http://PUBLIC.example./cb", OK),
    ("http://public6.example/cb", OK),
    ("http://nat64.example/cb", OK),
    ("http://例子.测试/cb", OK),  # IDNA
    # --- IPv4 refused ranges ---------------------------------------------------------------------------
    ("http://127.0.0.1/cb", NOT_PUBLIC),
    ("http://127.255.255.254:8080/cb", NOT_PUBLIC),
    ("http://0.0.0.0/", NOT_PUBLIC),
    ("http://0.1.2.3/", NOT_PUBLIC),
    ("http://10.0.0.1/", NOT_PUBLIC),
    ("http://10.255.255.254/", NOT_PUBLIC),
    ("http://172.16.0.1/", NOT_PUBLIC),
    ("http://172.31.255.254/", NOT_PUBLIC),
    ("http://192.168.1.1/", NOT_PUBLIC),
    ("http://169.254.169.254/latest/meta-data/", NOT_PUBLIC),
    ("http://100.64.0.1/", NOT_PUBLIC),  # shared address space
    ("http://100.127.255.254/", NOT_PUBLIC),
    ("http://192.0.0.1/", NOT_PUBLIC),
    ("http://192.0.0.9/", NOT_PUBLIC),  # global for 3.13's ipaddress, not for 3.11's: refused on both
    ("http://192.0.0.10/", NOT_PUBLIC),
    ("http://192.0.0.170/", NOT_PUBLIC),
    ("http://192.0.2.1/", NOT_PUBLIC),  # documentation
    ("http://198.51.100.7/", NOT_PUBLIC),
    ("http://203.0.113.9/", NOT_PUBLIC),
    ("http://198.18.0.1/", NOT_PUBLIC),  # benchmarking
    ("http://198.19.255.254/", NOT_PUBLIC),
    ("http://192.88.99.1/", NOT_PUBLIC),  # 6to4 relay anycast
    ("http://224.0.0.1/", NOT_PUBLIC),  # multicast (is_global says True)
    ("http://239.255.255.250/", NOT_PUBLIC),
    ("http://233.252.0.1/", NOT_PUBLIC),
    ("http://240.0.0.1/", NOT_PUBLIC),
    ("http://255.255.255.255/", NOT_PUBLIC),
    # --- IPv4 spellings: resolved, judged by address ------------------------------------------------------
    ("http://2130706433/cb", NOT_PUBLIC),
    ("http://0x7f000001/cb", NOT_PUBLIC),
    ("http://0177.0.0.1/cb", NOT_PUBLIC),
    ("http://0x7f.1/cb", NOT_PUBLIC),
    ("http://127.1/cb", NOT_PUBLIC),
    ("http://017700000001/cb", NOT_PUBLIC),
    ("http://0/cb", NOT_PUBLIC),
    ("http://１２７．０．０．１/cb", NOT_PUBLIC),  # fullwidth: IDNA folds it to 127.0.0.1
    ("http://127.0.0.1./cb", NOT_PUBLIC),
    # --- IPv6 refused ranges and IPv4-carrying forms ---------------------------------------------------
    ("http://[::1]/cb", NOT_PUBLIC),
    ("http://[0:0:0:0:0:0:0:1]/cb", NOT_PUBLIC),
    ("http://[::]/cb", NOT_PUBLIC),
    ("http://[::127.0.0.1]/", NOT_PUBLIC),  # IPv4-compatible loopback
    ("http://[::a9fe:a9fe]/", NOT_PUBLIC),
    ("http://[::ffff:127.0.0.1]/cb", NOT_PUBLIC),  # IPv4-mapped
    ("http://[::ffff:7f00:1]/cb", NOT_PUBLIC),
    ("http://[::ffff:169.254.169.254]/cb", NOT_PUBLIC),
    ("http://[::ffff:10.0.0.1]/cb", NOT_PUBLIC),
    ("http://[::ffff:0:7f00:1]/", NOT_PUBLIC),  # IPv4-translated
    ("http://[::ffff:0:a9fe:a9fe]/", NOT_PUBLIC),
    ("http://[64:ff9b::a9fe:a9fe]/", NOT_PUBLIC),  # NAT64 of the metadata address
    ("http://[64:ff9b::127.0.0.1]/", NOT_PUBLIC),
    ("http://[64:ff9b::a00:1]/", NOT_PUBLIC),
    ("http://[64:ff9b:1::5db8:d822]/", NOT_PUBLIC),  # local-use NAT64: refused whatever it carries
    ("http://[2002:7f00:1::]/", NOT_PUBLIC),  # 6to4 of 127.0.0.1
    ("http://[2002:a9fe:a9fe::1]/", NOT_PUBLIC),
    ("http://[2002:c0a8:101::1]/", NOT_PUBLIC),
    ("http://[2002::]/", NOT_PUBLIC),
    ("http://[2001:0:5db8:d822::80ff:fffe]/", NOT_PUBLIC),  # Teredo client 127.0.0.1 (obfuscated)
    ("http://[2001:0:a00:1::f7f7:f7f7]/", NOT_PUBLIC),  # Teredo server 10.0.0.1
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", NOT_PUBLIC),  # RFC 4380 example: client 192.0.2.45
    ("http://[fe80::1]/cb", NOT_PUBLIC),
    ("http://[fec0::1]/cb", NOT_PUBLIC),
    ("http://[fc00::1]/cb", NOT_PUBLIC),
    ("http://[fd00:ec2::254]/latest/meta-data/", NOT_PUBLIC),
    ("http://[ff02::1]/cb", NOT_PUBLIC),
    ("http://[ff0e::1]/cb", NOT_PUBLIC),
    ("http://[100::1]/cb", NOT_PUBLIC),  # discard-only
    ("http://[2001:db8::1]/cb", NOT_PUBLIC),  # documentation
    ("http://[3fff::1]/cb", NOT_PUBLIC),  # documentation (RFC 9637)
    ("http://[2001:2::1]/cb", NOT_PUBLIC),  # benchmarking
    ("http://[2001:10::1]/cb", NOT_PUBLIC),  # ORCHID
    ("http://[2001:20::1]/cb", NOT_PUBLIC),  # ORCHIDv2: global for 3.13, not 3.11: refused on both
    ("http://[2001:3::1]/cb", NOT_PUBLIC),  # AMT: the same disagreement
    ("http://[5f00::1]/cb", NOT_PUBLIC),  # SRv6 SIDs
    ("http://[1::1]/cb", NOT_PUBLIC),  # reserved ::/8 outside ::/96
    ("http://[4000::1]/cb", NOT_PUBLIC),  # outside 2000::/3
    # --- names ---------------------------------------------------------------------------------------
    ("http://localhost/cb", NOT_PUBLIC),
    ("http://LOCALHOST./cb", NOT_PUBLIC),
    ("http://private.example/cb", NOT_PUBLIC),
    ("http://mixed.example/cb", NOT_PUBLIC),
    ("http://mapped.example/cb", NOT_PUBLIC),
    ("http://nat64-meta.example/cb", NOT_PUBLIC),
    ("http://metadata.google.internal/computeMetadata/v1/", NOT_PUBLIC),
    ("http://metadata/computeMetadata/v1/", NOT_PUBLIC),
    ("http://nonexistent.test/cb", UNRESOLVABLE),
    ("http://1.2.3.4.5/cb", UNRESOLVABLE),
    ("http://999.1.1.1/cb", UNRESOLVABLE),
    ("http://a..b/cb", UNRESOLVABLE),
    ("http://" + "x" * 64 + ".example/cb", UNRESOLVABLE),  # label over 63
    ("http://\ufdd0.example/cb", UNRESOLVABLE),  # IDNA refuses a noncharacter
    ("http://\u0627\u0031.example/cb", UNRESOLVABLE),  # IDNA bidi rule
    # --- scheme, host, credentials ----------------------------------------------------------------
    ("ftp://93.184.216.34/cb", NOT_HTTP),
    ("file:///etc/passwd", NOT_HTTP),
    ("gopher://93.184.216.34/", NOT_HTTP),
    ("javascript:alert(1)", NOT_HTTP),
    ("data:text/plain,hello", NOT_HTTP),
    ("//93.184.216.34/cb", NOT_HTTP),
    ("93.184.216.34/cb", NOT_HTTP),
    ("http:/93.184.216.34/cb", NOT_HTTP),
    ("http:///cb", NOT_HTTP),
    ("https://", NOT_HTTP),
    ("http://:80/cb", NOT_HTTP),
    ("http://./cb", NOT_HTTP),
    ("http://user:pw@93.184.216.34/cb", CREDENTIALS),
    ("https://user@93.184.216.34/cb", CREDENTIALS),
    ("http://:@93.184.216.34/cb", CREDENTIALS),
    ("http://public.example\\@127.0.0.1/", CREDENTIALS),
    # --- malformed ---------------------------------------------------------------------------------------
    ("http://[127.0.0.1]/", MALFORMED),
    ("http://[::1/", MALFORMED),
    ("http://[::1]x/", MALFORMED),
    ("http://[]/", MALFORMED),
    ("http://[fe80::1%25eth0]/", MALFORMED),  # zone id
    ("http://[fe80::1%eth0]/", MALFORMED),
    ("http://[v1.fe80::a]/", MALFORMED),  # IPvFuture
    ("http://::1/", MALFORMED),  # IPv6 without brackets
    ("http://93.184.216.34]/", MALFORMED),
    ("http://exa mple.com/", MALFORMED),
    ("http://93.184.216.34/a b", MALFORMED),
    (" http://93.184.216.34/", MALFORMED),
    ("http://93.184.216.34/\r\nX-Injected: 1", MALFORMED),
    ("http://93.184.216.34/\t", MALFORMED),
    ("http://93.184.\n216.34/", MALFORMED),
    ("\x00http://93.184.216.34/", MALFORMED),
    ("http://93.184.216.34/\x7f", MALFORMED),
    ("http://93.184.216.34/\x85", MALFORMED),
    ("http://93.184.216.34/\u3000", MALFORMED),
    ("http://93.184.216.34/回调", MALFORMED),  # a path must be percent-encoded
    ("http://pub%6cic.example/", MALFORMED),  # percent-encoded host
    ("http://exa!mple.com/", MALFORMED),
    ("http://a\uff03b/", MALFORMED),  # NFKC turns it into "#": urlsplit refuses
    ("http://93.184.216.34\\cb", MALFORMED),
    ("http://93.184.216.34/" + "a" * 2100, MALFORMED),
    ("", MALFORMED),
    # --- ports --------------------------------------------------------------------------------------------
    ("http://93.184.216.34:65536/cb", BAD_PORT),
    ("http://93.184.216.34:99999/cb", BAD_PORT),
    ("http://93.184.216.34:0/cb", BAD_PORT),
    ("http://93.184.216.34:-1/cb", BAD_PORT),
    ("http://93.184.216.34:8o80/cb", BAD_PORT),
    ("http://93.184.216.34:+80/cb", BAD_PORT),
    ("http://93.184.216.34:80:80/cb", MALFORMED),
    ("http://93.184.216.34:000000080/cb", BAD_PORT),
    ("http://[::1]:99999/cb", BAD_PORT),
    ("http://93.184.216.34:８０/cb", BAD_PORT),  # fullwidth digits
]


def test_the_table_is_big_and_has_no_duplicates() -> None:
    urls = [url for url, _ in TABLE]
    assert len(urls) == len(set(urls))
    assert len(urls) >= 80
    assert sum(verdict == OK for _, verdict in TABLE) >= 20


@pytest.mark.parametrize(("url", "verdict"), TABLE, ids=[repr(url)[:60] for url, _ in TABLE])
def test_verdict(url: str, verdict: str) -> None:
    if verdict == OK:
        address = check_url(url, NONE)
        assert address is not None and is_public(address)
    else:
        with pytest.raises(UnsafeCallbackUrl) as info:
            check_url(url, NONE)
        assert str(info.value) == verdict


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://0x5db8d822/", "93.184.216.34"),
        ("http://1572395042:8080/", "93.184.216.34"),
        ("http://public6.example/", "2606:4700:4700::1111"),
        ("http://[2606:4700:4700:0::1111]/", "2606:4700:4700::1111"),
    ],
)
def test_the_vetted_address_is_returned_to_connect_to(url: str, address: str) -> None:
    assert check_url(url, NONE) == address


@pytest.mark.parametrize("url", [None, 42, b"http://93.184.216.34/", ["http://93.184.216.34/"]])
def test_non_strings_are_refused(url: Any) -> None:
    with pytest.raises(UnsafeCallbackUrl, match=MALFORMED):
        check_url(url, NONE)


def test_allowlisted_hosts_skip_the_address_check_but_not_the_syntax() -> None:
    allowed = frozenset({"127.0.0.1", "localhost", "::1"})
    assert check_url("http://127.0.0.1:3001/cb", allowed) is None
    assert check_url("http://LOCALHOST./cb", allowed) is None
    assert check_url("http://[0::1]:3001/cb", allowed) is None
    for url in ("http://127.0.0.1:99999/cb", "http://u:p@127.0.0.1/cb", "http://[::1/", "ftp://127.0.0.1/"):
        with pytest.raises(UnsafeCallbackUrl):
            check_url(url, allowed)
    with pytest.raises(UnsafeCallbackUrl, match=NOT_PUBLIC):
        check_url("http://127.0.0.2/cb", allowed)


def test_an_answer_of_another_family_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_UNIX, socket.SOCK_STREAM, 0, "", "/tmp/x")])
    with pytest.raises(UnsafeCallbackUrl, match=NOT_PUBLIC):
        check_url("http://weird.example/", NONE)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [])
    with pytest.raises(UnsafeCallbackUrl, match=NOT_PUBLIC):
        check_url("http://empty.example/", NONE)


@pytest.mark.parametrize("error", [UnicodeError("label too long"), ValueError("embedded null"), OSError("EAI_AGAIN")])
def test_resolver_exceptions_are_refusals(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(UnsafeCallbackUrl, match=UNRESOLVABLE):
        check_url("http://public.example/", NONE)


def _python_non_global() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every range this interpreter's ipaddress calls private (minus its own exceptions)."""
    nets = []
    for constants in (ipaddress._IPv4Constants, ipaddress._IPv6Constants):
        nets += list(constants._private_networks)
    return nets


def test_every_range_python_calls_non_global_is_refused() -> None:
    """The explicit tables cover this interpreter's is_global: it never decides a verdict alone."""
    for net in _python_non_global():
        for ip in {net.network_address, net.broadcast_address, net[min(1, net.num_addresses - 1)]}:
            if not ip.is_global:
                assert not is_public(str(ip)), str(ip)
    assert not is_public(str(ipaddress.ip_address("100.64.0.1")))


@pytest.mark.parametrize(
    "address",
    ["", "not-an-ip", "1.2.3", "::1::", "fe80::1%eth0", "2606:4700:4700::1111%1", "93.184.216.34 ", "０.０.０.０"],
)
def test_is_public_refuses_anything_but_a_plain_address(address: str) -> None:
    assert is_public(address) is False


def test_check_url_for_api_names_the_field() -> None:
    for url in ("http://[127.0.0.1]/", "http://[::1/", "http://[::127.0.0.1]/", "http://93.184.216.34:99999/"):
        with pytest.raises(ApiError) as info:
            urlguard.check_url_for_api(url)
        assert info.value.status == 400 and info.value.code == codes.SYSTEM_ERROR
        assert info.value.message.startswith("callback_set.callback_url 不可用: ")


# --- never an exception other than UnsafeCallbackUrl ------------------------------------------------------

_hosts = st.one_of(
    st.sampled_from(["93.184.216.34", "127.0.0.1", "[::1]", "[::ffff:7f00:1]", "localhost", "public.example", "例子.测试"]),
    st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.text(max_size=30),
    st.text(alphabet="[]:%@.0123456789abcdefx-\\/", max_size=30),
)
_urls = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
        _hosts,
        st.one_of(
            st.just(""), st.integers(-10, 10**6).map(lambda p: f":{p}"), st.text(max_size=6).map(lambda p: f":{p}")
        ),
        st.text(max_size=20).map(lambda p: "/" + p),
    ),
)


@settings(max_examples=600, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(url=_urls)
def test_check_url_never_raises_anything_else(url: str) -> None:
    try:
        address = check_url(url, NONE)
    except UnsafeCallbackUrl as exc:
        assert str(exc) in {NOT_HTTP, CREDENTIALS, MALFORMED, UNRESOLVABLE, BAD_PORT, NOT_PUBLIC}
    else:
        assert address is not None and is_public(address)
