"""Sandbox emulators of the Juxinli and three-factor upstreams. Local and tests only, never deployed.

One ``ThreadingHTTPServer`` serves both under path prefixes: ``/juxinli`` (orgApi v2, seed 003)
and ``/three-factor`` (PhoneVerification envelope, seed 002). Answers follow the real shapes.
State lives in memory, guarded by one lock.

Scenarios, chosen by mobile number (a fixed contract):

| mobile      | behaviour |
|-------------|-----------|
| 13800138000 | SMS code required (10002); code `123456` → 10008 → job status SUCCESS |
| 13800138001 | three-factor says inconsistent (Result -4); Juxinli would behave like 13800138000 |
| 13800138002 | wrong service password: collect answers 10003 |
| 13800138003 | SMS ok, 10008, then the collection job FAILS |
| 13800138004 | after the first correct code, a second SMS code is required (10001); then `123456` → 10008 → SUCCESS |
| 13900139006 | three-factor Result -6 (bad phone); Juxinli like 13800138000 |
| 13900139007 | three-factor Result -7 (bad id number); Juxinli like 13800138000 |
| 13900139008 | three-factor Result -8 (name check failed); Juxinli like 13800138000 |
| 13900139009 | three-factor Result -9 (no record); Juxinli like 13800138000 |
| 13900139011 | three-factor Result -11 (verification centre busy); Juxinli like 13800138000 |
| 13900139012 | three-factor Result -12 (daily limit reached); Juxinli like 13800138000 |
| 13900139013 | three-factor Result -13 (number range not supported); Juxinli like 13800138000 |

Any other code than `123456` answers 10004 (wrong code, the task keeps waiting).
RESEND_CAPTCHA answers 10002 with a "resent" message. Any other valid mobile behaves like
13800138000 (three-factor Result 0). The job status answers RUNNING for the first
``collect_polls_before_done`` polls of a token, then SUCCESS or FAILED.

Juxinli checks: the org in the application path, ``client_secret`` on the report-token and
job-status calls, the ``access_token`` it issued, and that the collect token, website and
account match the application. Three-factor checks the ``Authorization`` header (errcode 401).

Report token and job status use the shapes the adapter assumes (see
``carrier_auth.providers.juxinli``):
``{"success": true, "code": 200, "access_token": "<hex>", "note": "..."}`` and
``{"success": true, "data": {"token": "..", "status": "采集中"|"完成"|"失败", "message": ".."}}``.

Faults for tests: ``fail_next(prefix, status, count)``, ``respond_next(prefix, body, status,
count)`` (a scripted answer: a JSON value, or a string sent as text), ``latency_seconds``.
Log lines (logger ``carrier_auth.sandbox``) carry only the path, a masked mobile and the
process code or Result: never a password, code, id number or name.
"""

from __future__ import annotations

import json
import logging
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
from stdnum.cn import ric

logger = logging.getLogger("carrier_auth.sandbox")

SMS_CODE = "123456"
JUXINLI_PREFIX = "/juxinli"
THREE_FACTOR_PREFIX = "/three-factor"

# (status, body): a JSON value, or a str sent as text/plain
Reply = tuple[int, Any]
Query = dict[str, str]

WRONG_PASSWORD_MOBILE = "13800138002"
JOB_FAILS_MOBILE = "13800138003"
SECOND_SMS_MOBILE = "13800138004"

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

# phonenumbers English carrier name -> (Juxinli website, datasource name, three-factor Isp)
_CARRIERS = {
    "China Mobile": ("chinamobile", "中国移动", "移动"),
    "China Unicom": ("chinaunicom", "中国联通", "联通"),
    "China Telecom": ("chinatelecom", "中国电信", "电信"),
}
_OTHER_CARRIER = ("chinamobile", "中国移动", "")

_STAMP = {"year": 2017, "month": 5, "dayOfMonth": 8, "hourOfDay": 15, "minute": 18, "second": 16}


def mask_mobile(mobile: Any) -> str:
    """138****8000 for a mobile number; never the whole value of anything else."""
    text = str(mobile or "")
    return f"{text[:3]}****{text[-4:]}" if len(text) == 11 and text.isdigit() else "****"


def _mobile_number(mobile: Any) -> phonenumbers.PhoneNumber | None:
    if not (isinstance(mobile, str) and len(mobile) == 11 and mobile.isdigit()):
        return None
    number = phonenumbers.parse(mobile, "CN")
    if phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE:
        return None
    return number


def _carrier(mobile: str) -> tuple[str, str, str]:
    number = _mobile_number(mobile)
    name = phone_carrier.name_for_number(number, "en") if number else ""
    return _CARRIERS.get(name, _OTHER_CARRIER)


def _first_values(query: str) -> Query:
    return {key: values[0] for key, values in parse_qs(query).items()}


@dataclass
class _JuxinliTask:
    mobile: str
    website: str
    stage: str = "login"  # login -> sms -> (second_sms) -> collecting
    polls: int = 0


class _JuxinliEmulator:
    """Juxinli orgApi v2. Not thread-safe: the server calls it under its lock."""

    def __init__(self, org_name: str, client_secret: str, polls_before_done: int) -> None:
        self._org_name = org_name
        self._client_secret = client_secret
        self._polls_before_done = polls_before_done
        self._tasks: dict[str, _JuxinliTask] = {}
        self._access_tokens: set[str] = set()

    def handle(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply:
        application_prefix = "/orgApi/rest/v2/applications/"
        if method == "POST" and path.startswith(application_prefix):
            return self._application(path.removeprefix(application_prefix), body)
        if method == "POST" and path == "/orgApi/rest/v2/messages/collect/req":
            return self._collect(body)
        if method == "GET" and path == "/api/v2/access_report_token":
            return self._report_token(query)
        if method == "GET" and path == "/api/v2/job/access_jobs_status_by_token":
            return self._job_status(query)
        return 404, _failure("接口不存在")

    def _application(self, org: str, body: Any) -> Reply:
        if org != self._org_name:
            return _refuse("application", "", "机构不存在")
        info = body.get("basic_info") if isinstance(body, dict) else None
        if not isinstance(info, dict):
            return _refuse("application", "", "缺少basic_info")
        mobile = info.get("cell_phone_num")
        if not info.get("name"):
            return _refuse("application", mobile, "姓名不能为空")
        if not ric.is_valid(str(info.get("id_card_num") or "")):
            return _refuse("application", mobile, "身份证号码不合法")
        if _mobile_number(mobile) is None:
            return _refuse("application", mobile, "手机号码不合法")
        website, datasource_name, _ = _carrier(mobile)
        token = uuid.uuid4().hex
        self._tasks[token] = _JuxinliTask(mobile=mobile, website=website)
        logger.info("sandbox juxinli application mobile=%s accepted", mask_mobile(mobile))
        return 200, {
            "success": True,
            "data": {
                "token": token,
                "cell_phone_num": mobile,
                "datasource": _datasource(website, datasource_name),
            },
        }

    def _collect(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return _refuse("collect", "", "参数错误")
        task = self._tasks.get(str(body.get("token")))
        mobile = body.get("account")
        if task is None:
            return _refuse("collect", mobile, "token无效")
        if body.get("website") != task.website or mobile != task.mobile:
            return _refuse("collect", mobile, "账号或数据源与申请不一致")
        if not body.get("password"):
            return _refuse("collect", mobile, "密码不能为空")
        request_type, captcha = str(body.get("type") or ""), str(body.get("captcha") or "")
        process_code, data = self._advance(task, request_type, captcha)
        if data is None:
            return _refuse("collect", mobile, "当前状态不能执行该操作")
        logger.info(
            "sandbox juxinli collect mobile=%s process_code=%s", mask_mobile(mobile), process_code
        )
        return 200, {"success": True, "data": data}

    def _advance(
        self, task: _JuxinliTask, request_type: str, captcha: str
    ) -> tuple[int, dict[str, Any] | None]:
        """Move the task on; (process_code, data) or (0, None) when the request is out of turn."""
        waiting = task.stage in ("sms", "second_sms")
        if request_type == "" and task.stage == "login":
            if task.mobile == WRONG_PASSWORD_MOBILE:
                return 10003, _collect_data("ERROR", "服务密码错误", 10003, finish=True)
            task.stage = "sms"
            return 10002, _collect_data("CONTROL", "输入动态密码", 10002)
        if request_type == "RESEND_CAPTCHA" and waiting:
            return 10002, _collect_data("CONTROL", "短信验证码已重新发送，请输入动态密码", 10002)
        if request_type == "SUBMIT_CAPTCHA" and waiting:
            if captcha != SMS_CODE:
                return 10004, _collect_data("CONTROL", "动态密码错误，请重新输入", 10004)
            if task.mobile == SECOND_SMS_MOBILE and task.stage == "sms":
                task.stage = "second_sms"
                return 10001, _collect_data("CONTROL", "请输入第二条动态密码", 10001)
            task.stage = "collecting"
            return 10008, _collect_data("RUNNING", "开始采集行为数据", 10008, finish=True)
        return 0, None

    def _report_token(self, query: Query) -> Reply:
        credentials = (query.get("org_name"), query.get("client_secret"))
        if credentials != (self._org_name, self._client_secret):
            logger.info("sandbox juxinli access_report_token refused")
            return 200, {"success": False, "code": 401, "message": "org_name或client_secret错误"}
        access_token = uuid.uuid4().hex
        self._access_tokens.add(access_token)
        logger.info("sandbox juxinli access_report_token issued")
        return 200, {
            "success": True,
            "code": 200,
            "access_token": access_token,
            "note": f"有效期{query.get('hours', '')}小时",
        }

    def _job_status(self, query: Query) -> Reply:
        if query.get("client_secret") != self._client_secret:
            return _refuse("job_status", "", "client_secret错误")
        if query.get("access_token") not in self._access_tokens:
            return _refuse("job_status", "", "access_token无效")
        task = self._tasks.get(query.get("token", ""))
        if task is None or task.stage != "collecting":
            return _refuse("job_status", task.mobile if task else "", "该token没有采集任务")
        task.polls += 1
        status = self._job_state(task)
        logger.info(
            "sandbox juxinli job_status mobile=%s status=%s", mask_mobile(task.mobile), status
        )
        return 200, {
            "success": True,
            "data": {"token": query["token"], "status": status, "message": f"任务{status}"},
        }

    def _job_state(self, task: _JuxinliTask) -> str:
        if task.polls <= self._polls_before_done:
            return "采集中"
        return "失败" if task.mobile == JOB_FAILS_MOBILE else "完成"


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
        return 200, _verification(result, _carrier(mobile)[2] if result in ("0", "-4") else "")


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


def _collect_data(
    kind: str, content: str, process_code: int, finish: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": kind, "content": content, "process_code": process_code}
    if kind == "CONTROL":
        data["req_msg_tpl"] = {"type": "SUBMIT_CAPTCHA", "method": "AUTO"}
    data["finish"] = finish
    return data


def _datasource(website: str, name: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, website).hex,
        "website": website,
        "name": name,
        "category": "mobile",
        "category_name": "移动运营商",
        "create_time": _STAMP,
        "update_time": _STAMP,
        "offline_times": 0,
        "status": 1,
        "website_code": 12,
        "reset_pwd_method": 0,
        "sms_required": 1,
        "required_captcha_user_identified": 0,
        "reset_pwd_frozen_time": 0,
    }


def _failure(message: str) -> dict[str, Any]:
    return {"success": False, "message": message}


def _refuse(call: str, mobile: Any, message: str) -> Reply:
    logger.info("sandbox juxinli %s mobile=%s refused: %s", call, mask_mobile(mobile), message)
    return 200, _failure(message)


@dataclass
class _Injection:
    prefix: str
    status: int
    body: Any
    count: int


class SandboxProviders:
    """Both emulators behind one local HTTP server, with fault injection for tests."""

    def __init__(
        self,
        juxinli_client_secret: str = "sandbox-juxinli-secret",
        three_factor_token: str = "sandbox-three-factor-token",
        collect_polls_before_done: int = 1,
        juxinli_org_name: str = "SANDBOX",
    ) -> None:
        self.juxinli_org_name = juxinli_org_name
        self.juxinli_client_secret = juxinli_client_secret
        self.three_factor_token = three_factor_token
        self.latency_seconds: float = 0
        self._emulators: dict[str, Any] = {
            JUXINLI_PREFIX: _JuxinliEmulator(
                juxinli_org_name, juxinli_client_secret, collect_polls_before_done
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
        logger.info("sandbox providers listening on port %d", self.port)
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
        under ``prefix``; its base URL is ``url(prefix)``."""
        with self._lock:
            self._emulators[prefix] = emulator

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"

    def fail_next(self, prefix: str, status: int = 503, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` answer HTTP ``status``."""
        self.respond_next(prefix, f"sandbox fault: HTTP {status}", status=status, count=count)

    def respond_next(self, prefix: str, body: Any, status: int = 200, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` answer ``body`` (JSON, or str as text)."""
        with self._lock:
            self._injections.append(_Injection(prefix, status, body, count))

    def clear_faults(self) -> None:
        """Drop pending injected answers and the latency."""
        with self._lock:
            self._injections.clear()
        self.latency_seconds = 0

    def requests_seen(self, prefix: str) -> int:
        """How many requests arrived under ``prefix`` (injected answers included)."""
        with self._lock:
            return sum(1 for path in self._seen if _under(path, prefix))

    def _dispatch(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply:
        with self._lock:
            self._seen.append(path)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        with self._lock:
            injected = self._take_injection(path)
            if injected is not None:
                logger.info("sandbox %s %s -> injected HTTP %d", method, path, injected[0])
                return injected
            for prefix, emulator in self._emulators.items():
                if _under(path, prefix):
                    return emulator.handle(method, path.removeprefix(prefix), query, headers, body)
        return 404, {"message": "unknown sandbox provider"}

    def _take_injection(self, path: str) -> Reply | None:
        for injection in self._injections:
            if _under(path, injection.prefix):
                injection.count -= 1
                if injection.count <= 0:
                    self._injections.remove(injection)
                return injection.status, injection.body
        return None


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
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
        status, body = self.server.sandbox._dispatch(
            self.command, parts.path, _first_values(parts.query), self.headers, self._json_body()
        )
        self._send(status, body)

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            payload, content_type = body.encode(), "text/plain; charset=utf-8"
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
