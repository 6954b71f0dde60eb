"""Sandbox emulators of the Juxinli and three-factor upstreams. Local and tests only, never deployed.

One ``ThreadingHTTPServer`` serves both under path prefixes: ``/juxinli`` (orgApi v2, seed 003;
the emulator lives in ``local.sandbox.juxinli``) and ``/three-factor`` (PhoneVerification
envelope, seed 002). ``mount`` adds more emulators. Answers follow the real shapes. State lives
in memory, guarded by one lock.

Scenarios, chosen by mobile number (a fixed contract):

| mobile      | behaviour |
|-------------|-----------|
| 13800138000 | SMS code required (10002); code `123456` → 10008 → job status SUCCESS |
| 13800138001 | three-factor says inconsistent (Result -4); Juxinli would behave like 13800138000 |
| 13800138002 | wrong service password: collect answers 10003 |
| 13800138003 | SMS ok, 10008, then the collection job FAILS |
| 13800138004 | after the first correct code, a second SMS code is required (10001); then `123456` → 10008 → SUCCESS |
| 13800138005 | collect answers 10007 (simple or initial password) |
| 13800138006 | first collect answers 10006 "验证码已过期，新验证码已发送，请输入"; then `123456` → 10008 → SUCCESS |
| 13800138007 | first collect answers 10017 "请用本机发送CXXD至10001获取短信验证码"; then `123456` → 10008 → SUCCESS |
| 13800138008 | first collect answers 10022 (query password, `req_msg_tpl.type` SUBMIT_QUERY_PWD); SUBMIT_QUERY_PWD with query password `654321` (in the field named ``juxinli_query_pwd_key``, default `queryPwd`) → 10002; then `123456` → 10008 → SUCCESS; any other query password → 10023 |
| 13800138009 | every collect answers 30000 "系统繁忙，请稍后再试" |
| 13800138010 | collect answers 30000 "短信发送次数已达上限，请明天再试" |
| 13800138011 | collect answers process_code 0 "未知状态" |
| 13800138012 | `123456` → 10008 with `finish: false` and `next_datasource.website` `jingdong`; the collect for `jingdong` (type "") → 10008 `finish: true` → SUCCESS |
| 13800138013 | collect answers 10003 "密码错误次数过多，账户已锁定24小时" |
| 13800138014 | Juxinli like 13800138000 (a Moxie-only scenario) |
| 13800138015 | `123456` → 30000 "验证码失效，请重新登录" (the task cannot go on) |
| 13800138016 | collect answers 30000 "运营商系统升级维护中，请稍后再试" (an upgrade, not busy) |
| 13800138017 | application answers `{"success": false, "message": "该号码已禁用服务密码"}` |
| 13800138018 | application answers success:false "服务密码尚未激活" |
| 13800138019 | application answers success:false "该卡尚未实名登记" |
| 13800138020 | application answers success:false "账号状态异常（停机）" |
| 13800138021 | collect answers 30000 "您已在其他地点登录，请退出后重试" |
| 13800138022 | collect answers 30000 "短信验证码发送失败" |
| 13800138023 | application answers success:false "暂不支持该地区" |
| 13800138024 | collect answers 30000 "该地区升级中，请明天再试" |
| 13800138025 | Juxinli like 13800138000 (a Moxie-only scenario) |
| 13800138026 | Juxinli like 13800138000 (a Moxie-only scenario) |
| 13800138027 | Juxinli like 13800138000 (a Moxie-only scenario) |
| 13800138028 | every Juxinli request for this mobile answers HTTP 503 (the primary provider is down) |
| 13800138029 | like 13800138000, but the collect with the right code is answered ``late_answer_seconds`` after the task moved on to collecting (a submit that took effect and timed out) |
| 13800138030 | "under maintenance" (``Maintenance``): HTTP 200 with an HTML page to every request for this mobile, in the first emulator asked to log it in, until another one is |
| 13900139006 | three-factor Result -6 (bad phone); Juxinli like 13800138000 |
| 13900139007 | three-factor Result -7 (bad id number); Juxinli like 13800138000 |
| 13900139008 | three-factor Result -8 (name check failed); Juxinli like 13800138000 |
| 13900139009 | three-factor Result -9 (no record); Juxinli like 13800138000 |
| 13900139011 | three-factor Result -11 (verification centre busy); Juxinli like 13800138000 |
| 13900139012 | three-factor Result -12 (daily limit reached); Juxinli like 13800138000 |
| 13900139013 | three-factor Result -13 (number range not supported); Juxinli like 13800138000 |

Any other code than `123456` answers 10004 (wrong code, the task keeps waiting).
RESEND_CAPTCHA answers 10002 with a "resent" message while a code is awaited (10022 again while
the query password is awaited). Any other valid mobile behaves like 13800138000 (three-factor
Result 0). "collect answers" rows answer the first collect (type ""); the task stays at login.
The job status answers RUNNING for the first ``collect_polls_before_done`` polls of a token,
then SUCCESS or FAILED.

Juxinli checks: the org in the application path, the ``basic_info``, a known
``selected_website`` when one is sent (the datasource is that website, else the number's own,
e.g. ``chinamobilebj``), ``client_secret`` on the report-token and job-status calls, the
``access_token`` it issued, that the collect token, website and account match the application,
and that the request type fits the task's stage. Three-factor checks the ``Authorization``
header (errcode 401).

Report token and job status use the shapes the adapter assumes (see
``carrier_auth.providers.juxinli``):
``{"success": true, "code": 200, "access_token": "<hex>", "note": "..."}`` and
``{"success": true, "data": {"token": "..", "status": "采集中"|"完成"|"失败", "message": ".."}}``.

Faults for tests, by path prefix, so every kind of upstream call can fail in each way:

- ``respond_next(prefix, body, status, count, content_type)``: a scripted answer instead of the
  emulator's (nothing changes there): a JSON value, or a string sent as text - ``content_type``
  makes it an HTML page (``"text/html"``) or truncated JSON (``"application/json"``);
  ``fail_next(prefix, status, count)`` is a scripted HTTP error;
- ``delay_next(prefix, seconds, count)``: the answer (the emulator's, with its effect, or a
  scripted one) is sent ``seconds`` late - past the client's read timeout, a call that took
  effect (or not) and timed out;
- ``drop_next(prefix, count)``: the connection is closed instead of answering (lost after
  sending);
- ``latency_seconds``: every request waits before it is handled.

Per-call latency (benchmarks, ``make run``): every upstream under this server (Juxinli, Moxie,
three-factor, 驭信 - the mounted emulators included) answers ``latency_seconds`` late. It starts
at ``latency_ms`` (constructor), else at the environment variable ``LATENCY_ENV``
(``CARRIER_AUTH_SANDBOX_LATENCY_MS``, milliseconds, read when the server object is built, so
``CARRIER_AUTH_SANDBOX_LATENCY_MS=200 make run`` honours it), else 0. Change it on a running
server with ``set_latency_ms`` (or ``latency_seconds``); ``clear_faults`` returns to that
starting value. The sleep happens outside the server's lock: concurrent calls overlap.

A connection refused cannot be per path: ``stop()`` the server. Delays happen outside the
server's lock, so other requests go on meanwhile.
Log lines (logger ``carrier_auth.sandbox``) carry only the path, a masked mobile, the request
type and the process code or Result: never a password, code, query password, id number or name.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import phonenumbers
from phonenumbers import carrier as phone_carrier

logger = logging.getLogger("carrier_auth.sandbox")

SMS_CODE = "123456"
LATENCY_ENV = "CARRIER_AUTH_SANDBOX_LATENCY_MS"
JUXINLI_PREFIX = "/juxinli"
THREE_FACTOR_PREFIX = "/three-factor"

# (status, body): a JSON value, a str sent as text/plain, a ``Text``, or a ``Late`` answer
Reply = tuple[int, Any]
Query = dict[str, str]

LATE_ANSWER_MOBILE = "13800138029"
MAINTENANCE_MOBILE = "13800138030"


@dataclass(frozen=True)
class Text:
    """An answer body that is not JSON (an HTML error page, truncated JSON) and its content type."""

    text: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Late:
    """An answer decided now - the emulator's state has already changed - but sent ``seconds``
    later, outside the server's lock: a call that took effect and timed out."""

    body: Any
    seconds: float


MAINTENANCE_PAGE = Text("<html><body>系统维护中</body></html>", "text/html; charset=utf-8")


class Maintenance:
    """Who is "under maintenance" for ``MAINTENANCE_MOBILE``: HTTP 200 with ``MAINTENANCE_PAGE``
    to every request about that number.

    The first emulator asked to log the number in goes down, and stays down for every retry,
    until another emulator is asked to log it in: that one is healthy and the first recovers.
    So whichever provider a gateway tries first finds it down and fails over to the next one,
    with no setting to keep in step with the gateway's provider order. The emulators of one
    ``SandboxProviders`` share one (``mount`` hands it over); they call it under the server's
    lock."""

    def __init__(self) -> None:
        self._down: object | None = None

    def applies(self, emulator: object, login: bool) -> bool:
        """Whether ``emulator`` answers a request about the number with the maintenance page;
        ``login``: the request would start a login there."""
        if login and self._down is None:
            self._down = emulator
        elif login and self._down is not emulator:
            self._down = None  # the gateway failed over: this one is healthy, the other recovers
        return self._down is emulator

THREE_FACTOR_RESULTS: dict[str, str] = {
    "13800138001": "-4",
    "13900139006": "-6",
    "13900139007": "-7",
    "13900139008": "-8",
    "13900139009": "-9",
    "13900139011": "-11",
    "13900139012": "-12",
    "13900139013": "-13",
}

_DESCRIPTIONS = {
    "0": "认证通过",
    "-4": "信息不一致",
    "-6": "手机号码不合法",
    "-7": "身份证号码有误",
    "-8": "姓名校验不通过",
    "-9": "没有记录",
    "-11": "验证中心服务繁忙",
    "-12": "验证次数超过当日限制",
    "-13": "不支持该号段",
}

# phonenumbers English carrier name -> (Juxinli website prefix, carrier name, three-factor Isp)
_CARRIERS = {
    "China Mobile": ("chinamobile", "中国移动", "移动"),
    "China Unicom": ("chinaunicom", "中国联通", "联通"),
    "China Telecom": ("chinatelecom", "中国电信", "电信"),
}
_OTHER_CARRIER = ("chinamobile", "中国移动", "")


def mask_mobile(mobile: Any) -> str:
    """138****8000 for a mobile number; never the whole value of anything else."""
    text = str(mobile or "")
    return f"{text[:3]}****{text[-4:]}" if len(text) == 11 and text.isdigit() else "****"


def mobile_number(mobile: Any) -> phonenumbers.PhoneNumber | None:
    if not (isinstance(mobile, str) and len(mobile) == 11 and mobile.isdigit()):
        return None
    number = phonenumbers.parse(mobile, "CN")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return number


def carrier_of(mobile: str) -> tuple[str, str, str]:
    number = mobile_number(mobile)
    name = phone_carrier.name_for_number(number, "en") if number else ""
    return _CARRIERS.get(name, _OTHER_CARRIER)


def _first_values(query: str) -> Query:
    return {key: values[0] for key, values in parse_qs(query).items()}


class _ThreeFactorEmulator:
    """The aggregator's PhoneVerification business code."""

    def __init__(self, token: str) -> None:
        self._token = token

    def handle(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply:
        if method != "POST" or path != "/tech/ai/celerity/universal":
            return 404, {"errcode": 404, "errmsg": "接口不存在", "data": None}
        if headers.get("Authorization") != self._token:
            logger.info("sandbox three-factor refused: bad Authorization")
            return 200, {"errcode": 401, "errmsg": "token无效或已过期", "data": None}
        data = body.get("data") if isinstance(body, dict) else None
        if (
            not isinstance(data, dict)
            or body.get("buscode") != "PhoneVerification"
            or body.get("group") != "real"
            or not all(data.get(key) for key in ("IdCard", "Name", "Phone"))
        ):
            logger.info("sandbox three-factor refused: bad parameters")
            return 200, {"errcode": 400, "errmsg": "参数错误", "data": None}
        mobile = str(data["Phone"])
        result = THREE_FACTOR_RESULTS.get(mobile, "0")
        logger.info("sandbox three-factor mobile=%s Result=%s", mask_mobile(mobile), result)
        return 200, _verification(result, carrier_of(mobile)[2] if result in ("0", "-4") else "")


def _verification(result: str, isp: str) -> dict[str, Any]:
    response = {
        "Result": result,
        "Description": _DESCRIPTIONS[result],
        "Isp": isp,
        "RequestId": str(uuid.uuid4()),
    }
    return {
        "errcode": 0,
        "data": {
            "traceNo": str(uuid.uuid4().int)[:19],
            "result": {"responseJson": {"Response": response}},
            "status": "success",
        },
        "errmsg": "SUCCESS",
    }


@dataclass
class _Injection:
    """A fault for the next ``count`` requests under ``prefix``: a scripted ``reply`` instead of
    the emulator's, or a delivery fault (``delay`` seconds late, or ``drop`` the connection)."""

    prefix: str
    count: int
    reply: Reply | None = None
    delay: float = 0
    drop: bool = False


class SandboxProviders:
    """Both emulators behind one local HTTP server, with fault injection for tests."""

    def __init__(
        self,
        juxinli_client_secret: str = "sandbox-juxinli-secret",
        three_factor_token: str = "sandbox-three-factor-token",
        collect_polls_before_done: int = 1,
        juxinli_org_name: str = "SANDBOX",
        juxinli_query_pwd_key: str = "queryPwd",
        late_answer_seconds: float = 12.0,
        latency_ms: float | None = None,
    ) -> None:
        """``late_answer_seconds``: how late ``LATE_ANSWER_MOBILE``'s accepted code is answered
        (set it above the gateway's upstream read timeout). ``latency_ms``: the per-call latency
        of every upstream; None reads ``CARRIER_AUTH_SANDBOX_LATENCY_MS`` (module docstring)."""
        # imported here: local.sandbox.juxinli builds on this module's helpers
        from .juxinli import JuxinliEmulator

        self.juxinli_org_name = juxinli_org_name
        self.juxinli_client_secret = juxinli_client_secret
        self.three_factor_token = three_factor_token
        milliseconds = latency_from_env() if latency_ms is None else _latency(latency_ms, "latency_ms")
        self.base_latency_seconds = milliseconds / 1000  # what clear_faults returns to
        self.latency_seconds: float = self.base_latency_seconds
        self.maintenance = Maintenance()
        self._emulators: dict[str, Any] = {
            JUXINLI_PREFIX: JuxinliEmulator(
                juxinli_org_name,
                juxinli_client_secret,
                collect_polls_before_done,
                query_pwd_key=juxinli_query_pwd_key,
                late_answer_seconds=late_answer_seconds,
                maintenance=self.maintenance,
            ),
            THREE_FACTOR_PREFIX: _ThreeFactorEmulator(three_factor_token),
        }
        self._lock = threading.Lock()
        self._injections: deque[_Injection] = deque()
        self._seen: list[str] = []
        self._server: _Server | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SandboxProviders:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = _Server((host, port), _Handler)
        server.sandbox = self
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-providers",
            daemon=True,
        ).start()
        self._server = server
        logger.info(
            "sandbox providers listening on port %d, per-call latency %g ms", self.port, self.latency_seconds * 1000
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> SandboxProviders:
        return self if self._server else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return self._server.server_address[1]

    @property
    def juxinli_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JUXINLI_PREFIX}"

    @property
    def three_factor_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{THREE_FACTOR_PREFIX}"

    def mount(self, prefix: str, emulator: Any) -> None:
        """Serve another emulator (anything with ``handle(method, path, query, headers, body) -> Reply``)
        under ``prefix``; its base URL is ``url(prefix)``. An emulator with a ``maintenance``
        attribute gets this server's, shared with the others (``Maintenance``)."""
        with self._lock:
            if isinstance(getattr(emulator, "maintenance", None), Maintenance):
                emulator.maintenance = self.maintenance
            self._emulators[prefix] = emulator

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"

    def fail_next(self, prefix: str, status: int = 503, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` answer HTTP ``status``."""
        self.respond_next(prefix, f"sandbox fault: HTTP {status}", status=status, count=count)

    def respond_next(
        self, prefix: str, body: Any, status: int = 200, count: int = 1, content_type: str | None = None
    ) -> None:
        """The next ``count`` requests under ``prefix`` answer ``body`` (JSON, or a str sent as
        text: as ``content_type`` when given, e.g. ``text/html``); the emulator never sees them."""
        if content_type is not None:
            body = Text(body, content_type)
        with self._lock:
            self._injections.append(_Injection(prefix, count, reply=(status, body)))

    def delay_next(self, prefix: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` are answered as usual, ``seconds`` late."""
        with self._lock:
            self._injections.append(_Injection(prefix, count, delay=seconds))

    def drop_next(self, prefix: str, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` are handled as usual, then the connection
        is closed without an answer."""
        with self._lock:
            self._injections.append(_Injection(prefix, count, drop=True))

    def set_latency_ms(self, milliseconds: float) -> None:
        """Every request from now on (on every upstream) waits ``milliseconds`` before it is
        handled; this also becomes the value ``clear_faults`` returns to."""
        self.base_latency_seconds = self.latency_seconds = _latency(milliseconds, "latency") / 1000

    def clear_faults(self) -> None:
        """Drop pending injected answers and delivery faults, and any latency beyond the
        configured per-call latency (``set_latency_ms``, ``CARRIER_AUTH_SANDBOX_LATENCY_MS``)."""
        with self._lock:
            self._injections.clear()
        self.latency_seconds = self.base_latency_seconds

    def requests_seen(self, prefix: str, exact: bool = False) -> int:
        """How many requests arrived under ``prefix`` (injected answers included); ``exact``:
        for that path only (e.g. Moxie's task creations, not the calls under a task)."""
        with self._lock:
            return sum(1 for path in self._seen if (path == prefix if exact else _under(path, prefix)))

    def _dispatch(
        self, method: str, path: str, query: Query, headers: Any, body: Any
    ) -> tuple[Reply, _Injection | None]:
        """The answer to a request, and the delivery fault to apply to it (if any)."""
        with self._lock:
            self._seen.append(path)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        with self._lock:
            delivery = self._take_injection(path, scripted=False)
            scripted = self._take_injection(path, scripted=True)
            if scripted is not None and scripted.reply is not None:
                logger.info("sandbox %s %s -> injected HTTP %d", method, path, scripted.reply[0])
                return scripted.reply, delivery
            for prefix, emulator in self._emulators.items():
                if _under(path, prefix):
                    return emulator.handle(method, path.removeprefix(prefix), query, headers, body), delivery
        return (404, {"message": "unknown sandbox provider"}), delivery

    def _take_injection(self, path: str, scripted: bool) -> _Injection | None:
        for injection in self._injections:
            if _under(path, injection.prefix) and (injection.reply is not None) == scripted:
                injection.count -= 1
                if injection.count <= 0:
                    self._injections.remove(injection)
                return injection
        return None


def latency_from_env() -> float:
    """``CARRIER_AUTH_SANDBOX_LATENCY_MS`` in milliseconds (0 when unset or empty)."""
    raw = os.environ.get(LATENCY_ENV, "").strip()
    return _latency(raw, LATENCY_ENV) if raw else 0.0


def _latency(value: object, what: str) -> float:
    try:
        milliseconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of milliseconds, not {value!r}") from None
    if not 0 <= milliseconds < 600_000:
        raise ValueError(f"{what} must be between 0 and 600000 milliseconds, not {value!r}")
    return milliseconds


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: one sandbox serves many concurrent environments
    sandbox: SandboxProviders

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Typically a client that timed out and closed the socket before the answer.
        logger.debug("sandbox connection from %s dropped", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        (status, body), delivery = self.server.sandbox._dispatch(
            self.command, parts.path, _first_values(parts.query), self.headers, self._json_body()
        )
        delay = delivery.delay if delivery else 0
        if isinstance(body, Late):
            body, delay = body.body, delay + body.seconds
        if delay:
            time.sleep(delay)  # outside the server's lock: other requests go on
        if delivery and delivery.drop:
            self.close_connection = True  # no answer: the client sees the connection closed
            return
        self._send(status, body)

    def _json_body(self) -> Any:
        """The request body: a form-encoded body as a dict of first values, else parsed JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            body = Text(body)
        if isinstance(body, Text):
            payload, content_type = body.text.encode(), body.content_type
        else:
            payload = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json;charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request line carries secrets in its query string."""
