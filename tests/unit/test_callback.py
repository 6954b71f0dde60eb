"""callback.py: signatures (X-CarrierAuth and Standard Webhooks), SSRF guard on the callback URL,
body, and delivery to a real local server (answers: 2xx, 410, 429/503 with Retry-After)."""

from __future__ import annotations

import base64
import email.message
import email.utils
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from carrier_auth import callback, codes, crypto, urlguard
from carrier_auth.tenants import Tenant
from carrier_auth.errors import ApiError, CallbackDeliveryFailed, CallbackGone

SECRET = "whsec-unit-test"
HEADER_RE = re.compile(r"^t=(\d+),v1=([0-9a-f]{64})$")
STANDARD_SIG_RE = re.compile(r"^v1,[A-Za-z0-9+/]{43}=$")  # base64 of a 32-byte HMAC-SHA256
# a whsec_ secret as the Standard Webhooks tools generate them: base64 of random key bytes
WHSEC_KEY = bytes(range(7, 39))
WHSEC_SECRET = "whsec_" + base64.b64encode(WHSEC_KEY).decode()


def independent_hmac(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


# --- sign / verify ------------------------------------------------------------------------------


def test_sign_header_format_and_independent_hmac() -> None:
    body = '{"task_id":"t-1","error_message":"运营商认证成功"}'.encode()
    before = int(time.time())
    header = callback.sign(SECRET, body)
    after = int(time.time())

    match = HEADER_RE.match(header)
    assert match, header
    t, mac = int(match[1]), match[2]
    assert before <= t <= after
    assert mac == independent_hmac(SECRET, t, body)


def test_sign_with_explicit_timestamp() -> None:
    body = b"{}"
    assert callback.sign(SECRET, body, 1700000000) == f"t=1700000000,v1={independent_hmac(SECRET, 1700000000, body)}"


def test_verify_accepts_a_fresh_signature() -> None:
    body = b'{"a":1}'
    assert callback.verify(SECRET, body, callback.sign(SECRET, body))
    # an independently computed header is accepted too
    now = int(time.time())
    assert callback.verify(SECRET, body, f"t={now},v1={independent_hmac(SECRET, now, body)}")


def test_verify_rejects_wrong_secret() -> None:
    body = b'{"a":1}'
    assert not callback.verify("other-secret", body, callback.sign(SECRET, body))


def test_verify_rejects_tampered_body() -> None:
    body = b'{"success":false}'
    header = callback.sign(SECRET, body)
    assert not callback.verify(SECRET, b'{"success":true}', header)
    assert not callback.verify(SECRET, body + b" ", header)


def test_verify_rejects_old_and_future_timestamps_beyond_tolerance() -> None:
    body = b"{}"
    now = 1_700_000_000
    assert callback.verify(SECRET, body, callback.sign(SECRET, body, now - 300), now=now)
    assert not callback.verify(SECRET, body, callback.sign(SECRET, body, now - 301), now=now)
    assert not callback.verify(SECRET, body, callback.sign(SECRET, body, now + 301), now=now)
    assert callback.verify(SECRET, body, callback.sign(SECRET, body, now - 50), tolerance=60, now=now)
    assert not callback.verify(SECRET, body, callback.sign(SECRET, body, now - 61), tolerance=60, now=now)


def test_verify_rejects_a_replayed_signature_with_a_new_timestamp() -> None:
    body = b"{}"
    old = callback.sign(SECRET, body, 1_700_000_000)
    mac = old.split("v1=")[1]
    assert not callback.verify(SECRET, body, f"t={int(time.time())},v1={mac}")


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=,v1=", "v1=abc", "t=abc,v1=00", "t=1700000000", ",,,", "t=1;v1=2", "t=1,v1=2,x"],
)
def test_verify_rejects_garbage_headers(header: str) -> None:
    assert callback.verify(SECRET, b"{}", header) is False


def test_verify_rejects_non_ascii_garbage_header() -> None:
    now = int(time.time())
    assert callback.verify(SECRET, b"{}", f"t={now},v1=é") is False


# --- Standard Webhooks: key, sign_standard / verify_standard -------------------------------------


def independent_standard(key: bytes, msg_id: str, t: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{t}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def standard_headers(secrets: str | tuple[str, ...], body: bytes, t: int, msg_id: str = "evt-1") -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(t),
        "webhook-signature": callback.sign_standard(secrets, msg_id, t, body),
    }


def test_standard_key_of_a_plain_secret_is_its_utf8_bytes() -> None:
    assert callback.standard_key("dev-callback-secret") == b"dev-callback-secret"
    assert callback.standard_key("密钥-1") == "密钥-1".encode()
    assert callback.standard_secret("dev-callback-secret") == "whsec_ZGV2LWNhbGxiYWNrLXNlY3JldA=="
    # an X-CarrierAuth-style secret whose prefix merely looks similar is a plain secret
    assert callback.standard_key(SECRET) == SECRET.encode()


def test_standard_key_of_a_whsec_secret_is_the_base64_decoding_of_the_rest() -> None:
    assert callback.standard_key(WHSEC_SECRET) == WHSEC_KEY
    assert callback.standard_secret(WHSEC_SECRET) == WHSEC_SECRET  # idempotent
    plain = callback.standard_secret("dev-callback-secret")
    assert callback.standard_secret(plain) == plain
    assert callback.standard_key(plain) == b"dev-callback-secret"
    # padding is optional, as the reference library reads it
    assert callback.standard_key(WHSEC_SECRET.rstrip("=")) == WHSEC_KEY
    with pytest.raises(ValueError):
        callback.standard_key("whsec_a")  # not base64


def test_sign_standard_format_and_independent_hmac() -> None:
    body = '{"task_id":"t-1","error_message":"运营商认证成功"}'.encode()
    signature = callback.sign_standard("s3cret", "evt-9", 1_700_000_000, body)
    assert STANDARD_SIG_RE.match(signature), signature
    assert signature == independent_standard(b"s3cret", "evt-9", 1_700_000_000, body)
    assert callback.sign_standard(WHSEC_SECRET, "evt-9", 1_700_000_000, body) == independent_standard(
        WHSEC_KEY, "evt-9", 1_700_000_000, body
    )


def test_sign_standard_during_a_rotation_puts_the_current_secret_first() -> None:
    body = b'{"a":1}'
    signature = callback.sign_standard(("new-secret", "old-secret"), "evt-2", 1_700_000_000, body)
    new, old = signature.split(" ")
    assert new == callback.sign_standard("new-secret", "evt-2", 1_700_000_000, body)
    assert old == callback.sign_standard("old-secret", "evt-2", 1_700_000_000, body)


@pytest.mark.parametrize("secret", ["plain-secret", WHSEC_SECRET])
def test_the_reference_library_verifies_sign_standard(secret: str) -> None:
    body = '{"success":true,"error_message":"运营商认证成功"}'.encode()
    headers = standard_headers(secret, body, int(time.time()))
    assert Webhook(callback.standard_secret(secret)).verify(body, headers) == json.loads(body)
    assert callback.verify_standard(secret, body, headers)
    assert callback.verify_standard(callback.standard_secret(secret), body, headers)


def test_verify_standard_accepts_either_secret_during_a_rotation() -> None:
    body = b'{"a":1}'
    headers = standard_headers(("new-secret", "old-secret"), body, int(time.time()))
    assert callback.verify_standard("new-secret", body, headers)
    assert callback.verify_standard("old-secret", body, headers)
    assert not callback.verify_standard("third-secret", body, headers)


def test_verify_standard_header_names_in_any_case() -> None:
    body = b"{}"
    headers = {k.title(): v for k, v in standard_headers("s", body, int(time.time())).items()}
    assert callback.verify_standard("s", body, headers)
    message = email.message.Message()  # what http.server hands a handler (case-insensitive)
    for name, value in headers.items():
        message[name.upper()] = value
    assert callback.verify_standard("s", body, message)


def test_verify_standard_rejects_tampered_body_wrong_id_and_wrong_secret() -> None:
    body = b'{"success":false}'
    now = int(time.time())
    headers = standard_headers("s", body, now)
    assert not callback.verify_standard("s", b'{"success":true}', headers)
    assert not callback.verify_standard("s", body + b" ", headers)
    assert not callback.verify_standard("s", body, {**headers, "webhook-id": "evt-other"})
    assert not callback.verify_standard("other", body, headers)


def test_verify_standard_rejects_old_and_future_timestamps_beyond_tolerance() -> None:
    body = b"{}"
    now = 1_700_000_000
    assert callback.verify_standard("s", body, standard_headers("s", body, now - 300), now=now)
    assert not callback.verify_standard("s", body, standard_headers("s", body, now - 301), now=now)
    assert not callback.verify_standard("s", body, standard_headers("s", body, now + 301), now=now)
    assert callback.verify_standard("s", body, standard_headers("s", body, now - 50), tolerance=60, now=now)
    assert not callback.verify_standard("s", body, standard_headers("s", body, now - 61), tolerance=60, now=now)
    # a signature replayed with a fresh timestamp
    old = standard_headers("s", body, now - 3600)
    assert not callback.verify_standard("s", body, {**old, "webhook-timestamp": str(now)}, now=now)


def _garbage_headers() -> list[Any]:
    body, now = b"{}", int(time.time())
    good = standard_headers("s", body, now)
    sig = good["webhook-signature"]
    return [
        {},
        {"webhook-id": "evt-1", "webhook-timestamp": str(now)},
        {"webhook-id": "evt-1", "webhook-signature": sig},
        {"webhook-timestamp": str(now), "webhook-signature": sig},
        {**good, "webhook-id": ""},
        {**good, "webhook-timestamp": "abc"},
        {**good, "webhook-timestamp": f"{now}.0"},
        {**good, "webhook-timestamp": "１７００００００００"},  # full-width digits
        {**good, "webhook-timestamp": "9" * 40},
        {**good, "webhook-signature": ""},
        {**good, "webhook-signature": "v1,"},
        {**good, "webhook-signature": "v1,!!!not-base64"},
        {**good, "webhook-signature": "v1,é"},
        {**good, "webhook-signature": "v2," + sig[3:]},
        {**good, "webhook-signature": sig[3:]},
        {**good, "webhook-signature": "garbage ,,, v1"},
        {**good, "webhook-id": "\ud800"},  # a lone surrogate cannot be UTF-8 encoded
        {**good, "webhook-id": None},
        {1: 2},
        None,
        "webhook-id: evt-1",
        [("webhook-id", "evt-1")],
    ]


@pytest.mark.parametrize("headers", _garbage_headers())
def test_verify_standard_rejects_garbage_headers_without_raising(headers: Any) -> None:
    assert callback.verify_standard("s", b"{}", headers) is False


def test_verify_standard_with_a_broken_whsec_secret_is_false_not_an_error() -> None:
    headers = standard_headers("s", b"{}", int(time.time()))
    assert callback.verify_standard("whsec_a", b"{}", headers) is False


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),  # negative: no wait asked
        ("1.5", 1.5),
        ("Tue, 14 Nov 2023 22:15:20 GMT", 120.0),  # 2 min after NOW
        ("Tuesday, 14-Nov-23 22:15:20 GMT", 120.0),  # RFC 850, obsolete but allowed
        ("Tue Nov 14 22:15:20 2023", 120.0),  # asctime: UTC
        ("Tue, 14 Nov 2023 22:12:20 GMT", 0.0),  # past: no wait asked
        ("Tue, 14 Nov 2023 22:13:20 -0000", 0.0),  # now exactly
        (None, None),
        ("", None),
        ("soon", None),
        ("120s", None),
        ("1e3", None),
        ("nan", None),
        ("Tue, 99 Nov 2023 22:15:20 GMT", None),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    now = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT
    assert callback.retry_after_seconds(value, now=now) == seconds


# --- check_url -----------------------------------------------------------------------------------

NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/cb",
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
        "93.184.216.34/cb",
        "http:///cb",
        "https://",
    ],
)
def test_refuses_non_http_or_hostless(url: str) -> None:
    with pytest.raises(urlguard.UnsafeCallbackUrl, match="http或https"):
        urlguard.check_url(url, NONE)


@pytest.mark.parametrize("url", ["http://user:pw@93.184.216.34/cb", "https://user@93.184.216.34/cb"])
def test_refuses_userinfo(url: str) -> None:
    with pytest.raises(urlguard.UnsafeCallbackUrl, match="用户名或密码"):
        urlguard.check_url(url, NONE)


def test_userinfo_is_refused_even_for_an_allowlisted_host() -> None:
    with pytest.raises(urlguard.UnsafeCallbackUrl):
        urlguard.check_url("http://u:p@127.0.0.1/cb", frozenset({"127.0.0.1"}))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://127.1.2.3:8080/cb",
        "http://localhost/cb",
        "http://LOCALHOST./cb",
        "http://10.0.0.1/cb",
        "http://10.255.255.254/cb",
        "http://172.16.0.1/cb",
        "http://172.31.255.1/cb",
        "http://192.168.1.1/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[::ffff:169.254.169.254]/cb",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/cb",
        "http://0.0.0.0/cb",
        "http://100.64.0.1/cb",
        "http://2130706433/cb",  # 127.0.0.1 as one decimal number
        "http://0x7f000001/cb",  # ... and as hex
        "http://224.0.0.1/cb",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
    ],
)
def test_refuses_loopback_private_link_local_and_metadata(url: str) -> None:
    with pytest.raises(urlguard.UnsafeCallbackUrl):
        urlguard.check_url(url, NONE)


@pytest.mark.parametrize(
    "url", ["http://93.184.216.34/cb", "https://93.184.216.34:8443/cb?x=1", "http://[2606:4700:4700::1111]/cb"]
)
def test_allows_public_literal_addresses(url: str) -> None:
    urlguard.check_url(url, NONE)  # does not raise


def test_allows_an_allowlisted_host() -> None:
    urlguard.check_url("http://127.0.0.1:3001/cb", frozenset({"127.0.0.1"}))  # does not raise
    urlguard.check_url("http://LOCALHOST/cb", frozenset({"localhost"}))
    with pytest.raises(urlguard.UnsafeCallbackUrl):
        urlguard.check_url("http://127.0.0.2/cb", frozenset({"127.0.0.1"}))


def test_allowlist_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", " 127.0.0.1 , LocalHost ")
    urlguard.check_url("http://127.0.0.1:9/cb")
    urlguard.check_url("http://localhost:9/cb")
    with pytest.raises(urlguard.UnsafeCallbackUrl):
        urlguard.check_url("http://10.0.0.1/cb")
    # an explicit (even empty) allowlist overrides the environment
    with pytest.raises(urlguard.UnsafeCallbackUrl):
        urlguard.check_url("http://127.0.0.1:9/cb", NONE)


@pytest.mark.parametrize("url", ["http://nonexistent.invalid/cb", "http://93.184.216.34:99999/cb"])
def test_refuses_unresolvable_host_or_bad_port(url: str) -> None:
    with pytest.raises(urlguard.UnsafeCallbackUrl, match="无法解析"):
        urlguard.check_url(url, NONE)


def test_check_url_for_api_raises_api_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLBACK_ALLOWED_HOSTS", raising=False)
    with pytest.raises(ApiError) as info:
        urlguard.check_url_for_api("http://169.254.169.254/latest/meta-data/")
    assert info.value.status == 400
    assert info.value.code == codes.SYSTEM_ERROR
    assert info.value.message.startswith("callback_set.callback_url 不可用")
    urlguard.check_url_for_api("https://93.184.216.34/cb")  # does not raise


# --- build_body ---------------------------------------------------------------------------------


def session_item(task_id: str, url: str, token_enc: str | None = None) -> dict[str, Any]:
    item = {"task_id": task_id, "user_id": f"user-{uuid.uuid4().hex[:6]}", "callback_url": url, "status": "SUCCESS"}
    if token_enc is not None:
        item["callback_token_enc"] = token_enc
    return item


def finished(task_id: str, result: str = codes.CALLBACK_SUCCESS, **extra: Any) -> dict[str, Any]:
    return {"task_id": task_id, "result": result, "finished_at": 1700000000123, "event_id": uuid.uuid4().hex, **extra}


@pytest.mark.usefixtures("kms_key_id")
def test_build_body_success_with_decrypted_token() -> None:
    tid = f"task-{uuid.uuid4().hex}"
    session = session_item(tid, "https://app.example.com/cb", crypto.encrypt(tid, "app-token-1"))
    detail = finished(tid)
    body = callback.build_body(session, detail)

    assert body == {
        "error_message": "运营商认证成功",
        "error_code": "SUCCESS",
        "success": True,
        "callback_set": {"callback_url": "https://app.example.com/cb", "token": "app-token-1"},
        "task_id": tid,
        "userId": session["user_id"],
        "finished_at": 1700000000123,
        "event_id": detail["event_id"],
    }


def test_build_body_defeat_without_token() -> None:
    tid = f"task-{uuid.uuid4().hex}"
    body = callback.build_body(session_item(tid, "https://app.example.com/cb"), finished(tid, codes.CALLBACK_DEFEAT))
    assert (body["error_code"], body["success"], body["error_message"]) == ("DEFEAT", False, "运营商认证失败")
    assert body["callback_set"] == {"callback_url": "https://app.example.com/cb", "token": ""}


def test_build_body_keeps_a_given_error_message() -> None:
    tid = f"task-{uuid.uuid4().hex}"
    detail = finished(tid, codes.CALLBACK_DEFEAT, error_message=codes.CALLBACK_MESSAGES["error"])
    body = callback.build_body(session_item(tid, "https://app.example.com/cb"), detail)
    assert body["error_message"] == "系统错误" and body["success"] is False


# --- deliver against a real local HTTP server -------------------------------------------------------


@dataclass
class Receiver:
    """A tiny app callback endpoint on 127.0.0.1 that records what it received."""

    status: int = 200
    location: str = ""
    answer_headers: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stall: bool = False
    port: int = 0

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
            if rec.stall:
                rec.release.wait(timeout=10)
            self.send_response(rec.status)
            if rec.location:
                self.send_header("Location", rec.location)
            for name, value in rec.answer_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST  # a followed redirect would show up here  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


TENANT_SECRET = "unit-test-tenant-callback-secret"
TENANT = Tenant(key_id="unitkey001", name="unit", callback_secrets=(TENANT_SECRET,))
ATTEMPT = 5.0


@pytest.fixture
def delivery_env(kms_key_id: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "127.0.0.1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return TENANT_SECRET


def test_deliver_200_with_valid_signature_over_raw_bytes(receiver: Receiver, delivery_env: str) -> None:
    tid = f"task-{uuid.uuid4().hex}"
    session = session_item(tid, receiver.url(), crypto.encrypt(tid, "app-token-xyz"))
    detail = finished(tid)

    assert callback.deliver(session, detail, TENANT, ATTEMPT) == 200

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    raw, headers = got["raw"], got["headers"]
    match = HEADER_RE.match(headers[callback.SIGNATURE_HEADER])
    assert match, headers
    t, mac = int(match[1]), match[2]
    assert abs(time.time() - t) < 60
    assert hmac.compare_digest(mac, independent_hmac(delivery_env, t, raw))
    assert callback.verify(delivery_env, raw, headers[callback.SIGNATURE_HEADER])

    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-CarrierAuth-Event-Id"] == detail["event_id"]
    assert "运营商认证成功".encode() in raw  # UTF-8, not \\u escapes
    body = json.loads(raw)
    assert body == callback.build_body(session, detail)
    assert body["callback_set"]["token"] == "app-token-xyz"


def test_deliver_any_2xx_is_delivered(receiver: Receiver, delivery_env: str) -> None:
    receiver.status = 204
    tid = f"task-{uuid.uuid4().hex}"
    assert callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT) == 204


def test_deliver_500_fails(receiver: Receiver, delivery_env: str) -> None:
    receiver.status = 500
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="HTTP 500"):
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT)
    assert len(receiver.requests) == 1


def test_deliver_does_not_follow_redirects(receiver: Receiver, delivery_env: str) -> None:
    receiver.status = 302
    receiver.location = receiver.url("/redirected")
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="HTTP 302"):
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT)
    assert [r["path"] for r in receiver.requests] == ["/cb"]


def test_deliver_refuses_private_url_before_any_request(
    delivery_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLBACK_ALLOWED_HOSTS")

    def no_request(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("deliver() sent a request to a refused URL")

    monkeypatch.setattr(callback, "_post", no_request)
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="refused"):
        callback.deliver(session_item(tid, "http://10.0.0.1/cb"), finished(tid), TENANT, ATTEMPT)


def test_deliver_connection_refused_fails(delivery_env: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="request failed"):
        callback.deliver(session_item(tid, f"http://127.0.0.1:{port}/cb"), finished(tid), TENANT, ATTEMPT)


def test_deliver_timeout_fails(receiver: Receiver, delivery_env: str) -> None:
    receiver.stall = True
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="timed out"):
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, 0.2)


def test_deliver_connects_only_to_the_vetted_address(
    receiver: Receiver, delivery_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLBACK_ALLOWED_HOSTS", "")  # nothing allowlisted
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["93.184.216.34"])  # first lookup public, every later one loopback

    def rebinding_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "93.184.216.34":  # a fixed deliver() connects here: keep the unit test offline
            raise socket.gaierror(socket.EAI_NONAME, "offline unit test")
        if host != "rebind.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    tid = f"task-{uuid.uuid4().hex}"
    session = session_item(tid, f"http://rebind.test:{receiver.port}/cb")
    try:
        callback.deliver(session, finished(tid), TENANT, 0.5)
    except CallbackDeliveryFailed:
        pass
    assert receiver.requests == [], "the callback reached 127.0.0.1 through a rebound name"


# --- tenants: rotation, host allowlist, whole-attempt timeout ----------------------------------------


def test_sign_with_two_secrets_during_a_rotation_verifies_with_either() -> None:
    body = b'{"a":1}'
    header = callback.sign(("new-secret", "old-secret"), body)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}", header)
    assert callback.verify("new-secret", body, header)
    assert callback.verify("old-secret", body, header)
    assert not callback.verify("third-secret", body, header)


def test_deliver_signs_with_every_tenant_secret(receiver: Receiver, delivery_env: str) -> None:
    rotating = Tenant(key_id="unitkey002", name="rotating", callback_secrets=("new-one", "old-one"))
    tid = f"task-{uuid.uuid4().hex}"
    assert callback.deliver(session_item(tid, receiver.url()), finished(tid), rotating, ATTEMPT) == 200
    got = receiver.requests[0]
    header = got["headers"][callback.SIGNATURE_HEADER]
    assert callback.verify("new-one", got["raw"], header) and callback.verify("old-one", got["raw"], header)
    assert not callback.verify(TENANT_SECRET, got["raw"], header)


# --- deliver: Standard Webhooks headers ------------------------------------------------------------


def _timestamp_of(headers: dict[str, str]) -> int:
    """The ``t=`` of X-CarrierAuth-Signature."""
    match = re.match(r"^t=(\d+),v1=", headers[callback.SIGNATURE_HEADER])
    assert match, headers
    return int(match[1])


def test_deliver_carries_standard_webhooks_headers_the_reference_library_verifies(
    receiver: Receiver, delivery_env: str
) -> None:
    tid = f"task-{uuid.uuid4().hex}"
    session = session_item(tid, receiver.url(), crypto.encrypt(tid, "app-token-std"))
    detail = finished(tid)
    assert callback.deliver(session, detail, TENANT, ATTEMPT) == 200

    got = receiver.requests[0]
    raw, headers = got["raw"], got["headers"]
    assert Webhook(callback.standard_secret(delivery_env)).verify(raw, headers) == json.loads(raw)
    assert headers["webhook-id"] == detail["event_id"] == headers["X-CarrierAuth-Event-Id"]
    assert headers["webhook-timestamp"] == str(_timestamp_of(headers))  # one timestamp, both signatures
    assert STANDARD_SIG_RE.match(headers["webhook-signature"]), headers
    assert headers["webhook-signature"] == independent_standard(
        delivery_env.encode(), detail["event_id"], int(headers["webhook-timestamp"]), raw
    )
    assert callback.verify_standard(delivery_env, raw, headers)
    assert callback.verify(delivery_env, raw, headers[callback.SIGNATURE_HEADER])  # unchanged
    with pytest.raises(WebhookVerificationError):
        Webhook(callback.standard_secret("another-tenant")).verify(raw, headers)


def test_deliver_during_a_rotation_each_secret_verifies_on_its_own(receiver: Receiver, delivery_env: str) -> None:
    rotating = Tenant(key_id="unitkey004", name="rotating", callback_secrets=("new-one", "old-one"))
    tid = f"task-{uuid.uuid4().hex}"
    assert callback.deliver(session_item(tid, receiver.url()), finished(tid), rotating, ATTEMPT) == 200
    raw, headers = receiver.requests[0]["raw"], receiver.requests[0]["headers"]
    new, old = headers["webhook-signature"].split(" ")
    t = int(headers["webhook-timestamp"])
    assert new == independent_standard(b"new-one", headers["webhook-id"], t, raw)
    assert old == independent_standard(b"old-one", headers["webhook-id"], t, raw)
    for secret in ("new-one", "old-one"):
        Webhook(callback.standard_secret(secret)).verify(raw, headers)  # does not raise
        assert callback.verify_standard(secret, raw, headers)
        # each signature alone is enough for that secret
        alone = {**headers, "webhook-signature": new if secret == "new-one" else old}
        Webhook(callback.standard_secret(secret)).verify(raw, alone)
    with pytest.raises(WebhookVerificationError):
        Webhook(callback.standard_secret(TENANT_SECRET)).verify(raw, headers)


def test_webhook_id_is_the_event_id_on_every_attempt(receiver: Receiver, delivery_env: str) -> None:
    tid = f"task-{uuid.uuid4().hex}"
    session, detail = session_item(tid, receiver.url()), finished(tid)
    receiver.status = 500
    with pytest.raises(CallbackDeliveryFailed):
        callback.deliver(session, detail, TENANT, ATTEMPT)
    receiver.status = 200
    assert callback.deliver(session, detail, TENANT, ATTEMPT) == 200

    first, second = (r["headers"] for r in receiver.requests)
    assert first["webhook-id"] == second["webhook-id"] == detail["event_id"]
    for got in receiver.requests:  # each attempt: one timestamp for both signatures, both valid
        assert got["headers"]["webhook-timestamp"] == str(_timestamp_of(got["headers"]))
        Webhook(callback.standard_secret(delivery_env)).verify(got["raw"], got["headers"])


def test_deliver_with_a_whsec_secret(receiver: Receiver, delivery_env: str) -> None:
    """A whsec_ secret: the Standard Webhooks key is its base64 payload (the secret is used by the
    reference library as it is), X-CarrierAuth's key stays the whole string's UTF-8 bytes."""
    tenant = Tenant(key_id="unitkey005", name="whsec", callback_secrets=(WHSEC_SECRET,))
    tid = f"task-{uuid.uuid4().hex}"
    assert callback.deliver(session_item(tid, receiver.url()), finished(tid), tenant, ATTEMPT) == 200
    raw, headers = receiver.requests[0]["raw"], receiver.requests[0]["headers"]
    Webhook(WHSEC_SECRET).verify(raw, headers)  # does not raise
    assert headers["webhook-signature"] == independent_standard(
        WHSEC_KEY, headers["webhook-id"], int(headers["webhook-timestamp"]), raw
    )
    t = _timestamp_of(headers)
    assert headers[callback.SIGNATURE_HEADER] == f"t={t},v1={independent_hmac(WHSEC_SECRET, t, raw)}"


def test_deliver_with_a_broken_whsec_secret_fails_without_a_request(receiver: Receiver, delivery_env: str) -> None:
    tenant = Tenant(key_id="unitkey006", name="broken", callback_secrets=("whsec_a",))
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="whsec_") as info:
        callback.deliver(session_item(tid, receiver.url()), finished(tid), tenant, ATTEMPT)
    assert "whsec_a" not in str(info.value)  # the secret itself is never in a message
    assert receiver.requests == []


# --- deliver: the endpoint's answer ------------------------------------------------------------------


def test_deliver_410_is_gone_not_a_failure(receiver: Receiver, delivery_env: str) -> None:
    receiver.status = 410
    receiver.answer_headers = {"Retry-After": "60"}  # meaningless with 410: still gone
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackGone, match="410") as info:
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT)
    assert not isinstance(info.value, CallbackDeliveryFailed)
    assert len(receiver.requests) == 1


def _http_date(seconds_from_now: int) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "low", "high"),
    [
        (429, "120", 120, 120),
        (503, "120", 120, 120),
        (503, "0", 0, 0),
        (429, "-30", 0, 0),
        (503, "HTTP-DATE+600", 597, 600),  # whole seconds, and the attempt takes a moment
        (429, "HTTP-DATE-600", 0, 0),  # a date in the past
    ],
)
def test_deliver_429_or_503_reads_retry_after(
    receiver: Receiver, delivery_env: str, status: int, retry_after: str, low: float, high: float
) -> None:
    if retry_after.startswith("HTTP-DATE"):
        retry_after = _http_date(int(retry_after[len("HTTP-DATE"):]))
    receiver.status = status
    receiver.answer_headers = {"Retry-After": retry_after}
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match=f"HTTP {status}") as info:
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT)
    assert info.value.retry_after is not None
    assert low <= info.value.retry_after <= high


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (503, {}),  # no Retry-After
        (429, {"Retry-After": "in a while"}),  # unparsable: ignored
        (503, {"Retry-After": ""}),
        (500, {"Retry-After": "120"}),  # only 429 and 503 may ask for a wait
        (502, {"Retry-After": "120"}),
        (404, {"Retry-After": "120"}),
    ],
)
def test_deliver_failures_without_a_usable_retry_after(
    receiver: Receiver, delivery_env: str, status: int, headers: dict[str, str]
) -> None:
    receiver.status = status
    receiver.answer_headers = headers
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match=f"HTTP {status}") as info:
        callback.deliver(session_item(tid, receiver.url()), finished(tid), TENANT, ATTEMPT)
    assert info.value.retry_after is None


def test_network_failures_carry_no_retry_after(delivery_env: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed) as info:
        callback.deliver(session_item(tid, f"http://127.0.0.1:{port}/cb"), finished(tid), TENANT, ATTEMPT)
    assert info.value.retry_after is None


def test_deliver_refuses_a_host_outside_the_tenant_allowlist(receiver: Receiver, delivery_env: str) -> None:
    strict = Tenant(key_id="unitkey003", name="strict", callback_secrets=("s",), callback_hosts=("cb.example.com",))
    tid = f"task-{uuid.uuid4().hex}"
    with pytest.raises(CallbackDeliveryFailed, match="callback_hosts"):
        callback.deliver(session_item(tid, receiver.url()), finished(tid), strict, ATTEMPT)
    assert receiver.requests == []


def test_a_trickling_endpoint_is_bounded_by_the_whole_attempt_timeout(delivery_env: str) -> None:
    """An endpoint that sends its status line a byte at a time never holds an attempt past the
    timeout (a per-read timeout alone would let it run for ever)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
                if stop.wait(0.1):
                    return
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    tid = f"task-{uuid.uuid4().hex}"
    started = time.monotonic()
    try:
        with pytest.raises(CallbackDeliveryFailed):
            callback.deliver(session_item(tid, f"http://127.0.0.1:{listener.getsockname()[1]}/cb"), finished(tid), TENANT, 1.0)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    ("hosts", "host", "allowed"),
    [
        ((), "anything.example", True),
        (("cb.example.com",), "cb.example.com", True),
        (("cb.example.com",), "CB.Example.com.", True),
        (("cb.example.com",), "evil.cb.example.com", False),
        (("*.example.com",), "a.example.com", True),
        (("*.example.com",), "a.b.example.com", True),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), "badexample.com", False),
    ],
)
def test_tenant_callback_host_allowlist(hosts: tuple[str, ...], host: str, allowed: bool) -> None:
    assert Tenant("k", "n", ("s",), hosts).allows_callback_host(host) is allowed
