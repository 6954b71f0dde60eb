"""The sandbox's Juxinli orgApi v2 emulator (seed 003). Local and tests only, never deployed.

Served by ``SandboxProviders`` under ``PREFIX``. What it does for a number (refusals, the first
collect's answer, what the right code leads to, the job's end, faults) is the number's
``juxinli`` row in ``local.sandbox.scenarios``; this module is the protocol around it. Not
thread-safe: the server calls it under its lock.

Application: checks the org in the path, ``basic_info`` (name, a valid id number, a mobile
number), and ``selected_website`` when present - a website name, or a list of ``{"category",
"name"}`` objects whose ``mobile`` entry names it - which must be a website this emulator knows
(``数据源不存在`` otherwise). The datasource is that website, or the one the number belongs to
(carrier prefix + ISO 3166-2:CN province letters, e.g. ``chinamobilebj``; the bare carrier prefix
when the province is unknown).

Collect: checks the token, that account and website match the application (or the announced
``next_datasource``, website ``NEXT_WEBSITE``), a non-empty password, and that the request type
fits the task's stage: ``""`` first (login), ``SUBMIT_CAPTCHA`` / ``RESEND_CAPTCHA`` while a
code is awaited, ``SUBMIT_QUERY_PWD`` (the query password in the field named
``query_pwd_key``) while the query password is awaited. Anything else is ``当前状态不能执行该操作``.
A code other than ``SMS_CODE`` answers 10004 (the task keeps waiting); a query password other
than ``QUERY_PASSWORD`` 10023. ``RESEND_CAPTCHA`` answers 10002 "resent" while a code is
awaited, 10022 again while the query password is. A login answer that ends the task leaves it at
login.

Report token and job status use the shapes the adapter assumes (see
``carrier_auth.providers.juxinli``): ``{"success": true, "code": 200, "access_token": "<hex>",
"note": ".."}`` and ``{"success": true, "data": {"token": "..", "status": "采集中"|"完成"|"失败",
"message": ".."}}``; both check ``client_secret``, the job status also the ``access_token`` it
issued. The job status answers 采集中 for the first ``polls_before_done`` polls of a token, then
the row's ``job``.

Faults (the row's ``fault``): ``DOWN``, every request about the number answers HTTP 503;
``MAINTENANCE``, an HTML page while ``Maintenance`` says this emulator is the one down (the
application is the request that starts a login); ``LATE``, the right code moves the task on to
collecting at once but is answered ``late_answer_seconds`` later. Log lines carry the call, a
masked mobile, the request type and the process code: never a password, code, query password,
id number or name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from phonenumbers import geocoder
from stdnum.cn import ric

from .common import (
    MAINTENANCE_PAGE,
    Late,
    Maintenance,
    Query,
    Reply,
    Settings,
    carrier_of,
    logger,
    mask_mobile,
    mobile_number,
)
from .scenarios import (
    ASKS_CODE,
    ASKS_QUERY_PASSWORD,
    COLLECTS,
    DOWN,
    ENDS,
    LATE,
    MAINTENANCE,
    NEXT_DATASOURCE,
    QUERY_PASSWORD,
    SCENARIOS,
    SMS_CODE,
    Juxinli,
    scenario,
)

PREFIX = "/juxinli"
SUBMIT_CAPTCHA = "SUBMIT_CAPTCHA"
SUBMIT_QUERY_PWD = "SUBMIT_QUERY_PWD"
RESEND_CAPTCHA = "RESEND_CAPTCHA"
NEXT_WEBSITE = "jingdong"

# Views of the table, by what the application or the first collect answers.
APPLICATION_REFUSALS: dict[str, str] = {row.mobile: row.juxinli.refused for row in SCENARIOS if row.juxinli.refused}
LOGIN_ERRORS: dict[str, tuple[int, str]] = {
    row.mobile: (row.juxinli.login.process_code, row.juxinli.login.content)
    for row in SCENARIOS
    if row.juxinli.login.then == ENDS
}

# This emulator's own province table (kept apart from the adapter's on purpose).
_PROVINCES: dict[str, str] = {
    "北京": "bj", "天津": "tj", "河北": "he", "山西": "sx", "内蒙古": "nm", "辽宁": "ln",
    "吉林": "jl", "黑龙江": "hl", "上海": "sh", "江苏": "js", "浙江": "zj", "安徽": "ah",
    "福建": "fj", "江西": "jx", "山东": "sd", "河南": "ha", "湖北": "hb", "湖南": "hn",
    "广东": "gd", "广西": "gx", "海南": "hi", "重庆": "cq", "四川": "sc", "贵州": "gz",
    "云南": "yn", "西藏": "xz", "陕西": "sn", "甘肃": "gs", "青海": "qh", "宁夏": "nx",
    "新疆": "xj",
}  # fmt: skip
_CARRIER_NAMES = {"chinamobile": "移动", "chinaunicom": "联通", "chinatelecom": "电信"}
_WEBSITES: dict[str, str] = {
    f"{prefix}{code}": f"{province}{carrier}"
    for prefix, carrier in _CARRIER_NAMES.items()
    for province, code in _PROVINCES.items()
} | {prefix: f"中国{carrier}" for prefix, carrier in _CARRIER_NAMES.items()}

_STAMP = {"year": 2017, "month": 5, "dayOfMonth": 8, "hourOfDay": 15, "minute": 18, "second": 16}
_SECOND_CODE = "second_sms"
_WAITING_FOR_CODE = (ASKS_CODE, _SECOND_CODE)
_COLLECTING = Juxinli().code


def build(settings: Settings) -> JuxinliEmulator:
    return JuxinliEmulator(
        settings.juxinli_org_name,
        settings.juxinli_client_secret,
        settings.collect_polls_before_done,
        query_pwd_key=settings.juxinli_query_pwd_key,
        late_answer_seconds=settings.late_answer_seconds,
    )


@dataclass
class JuxinliTask:
    mobile: str
    website: str
    stage: str = "login"  # login -> [query_pwd ->] sms -> [second_sms ->] [next_datasource ->] collecting
    next_website: str = ""
    polls: int = 0
    rules: Juxinli = field(init=False)

    def __post_init__(self) -> None:
        self.rules = scenario(self.mobile).juxinli


class JuxinliEmulator:
    """Juxinli orgApi v2."""

    def __init__(
        self,
        org_name: str,
        client_secret: str,
        polls_before_done: int,
        query_pwd_key: str = "queryPwd",
        late_answer_seconds: float = 12.0,
        maintenance: Maintenance | None = None,
    ) -> None:
        self._org_name = org_name
        self._client_secret = client_secret
        self._polls_before_done = polls_before_done
        self._query_pwd_key = query_pwd_key
        self._late_answer_seconds = late_answer_seconds
        self.maintenance = maintenance or Maintenance()
        self._tasks: dict[str, JuxinliTask] = {}
        self._access_tokens: set[str] = set()

    def handle(self, method: str, path: str, query: Query, headers: Any, body: Any) -> Reply:
        application_prefix = "/orgApi/rest/v2/applications/"
        mobiles = self._mobiles(query, body)
        down = _with_fault(mobiles, DOWN)
        if down:
            logger.info("sandbox juxinli %s mobile=%s -> HTTP 503 (provider down)", path, mask_mobile(down))
            return 503, "Service Temporarily Unavailable"
        login = method == "POST" and path.startswith(application_prefix)
        maintained = _with_fault(mobiles, MAINTENANCE)
        if maintained and self.maintenance.applies(self, login):
            logger.info("sandbox juxinli %s mobile=%s -> maintenance page", path, mask_mobile(maintained))
            return 200, MAINTENANCE_PAGE
        if login:
            return self._application(path.removeprefix(application_prefix), body)
        if method == "POST" and path == "/orgApi/rest/v2/messages/collect/req":
            return self._collect(body)
        if method == "GET" and path == "/api/v2/access_report_token":
            return self._report_token(query)
        if method == "GET" and path == "/api/v2/job/access_jobs_status_by_token":
            return self._job_status(query)
        return 404, _failure("接口不存在")

    def _mobiles(self, query: Query, body: Any) -> list[Any]:
        """The mobile numbers a request is about: its body's, and its token's task's."""
        mobiles: list[Any] = []
        if isinstance(body, dict):
            info = body.get("basic_info")
            mobiles += [info.get("cell_phone_num") if isinstance(info, dict) else None, body.get("account")]
            mobiles.append(getattr(self._tasks.get(str(body.get("token"))), "mobile", None))
        mobiles.append(getattr(self._tasks.get(query.get("token", "")), "mobile", None))
        return mobiles

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
        if mobile_number(mobile) is None:
            return _refuse("application", mobile, "手机号码不合法")
        skip_mobile = body.get("skip_mobile", False)
        if not isinstance(skip_mobile, bool):
            return _refuse("application", mobile, "skip_mobile参数错误")
        selected = _selected_website(body.get("selected_website"))
        if selected is None:
            return _refuse("application", mobile, "数据源不存在")
        refused = scenario(mobile).juxinli.refused
        if refused:
            return _refuse("application", mobile, refused)
        website = selected or _website_of(mobile)
        token = uuid.uuid4().hex
        self._tasks[token] = JuxinliTask(mobile=mobile, website=website)
        logger.info(
            "sandbox juxinli application mobile=%s selected_website=%s skip_mobile=%s -> %s",
            mask_mobile(mobile),
            selected or "-",
            skip_mobile,
            website,
        )
        return 200, {
            "success": True,
            "data": {
                "token": token,
                "cell_phone_num": mobile,
                "datasource": _datasource(website, _WEBSITES[website], "mobile", "移动运营商"),
            },
        }

    def _collect(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return _refuse("collect", "", "参数错误")
        task = self._tasks.get(str(body.get("token")))
        mobile = body.get("account")
        if task is None:
            return _refuse("collect", mobile, "token无效")
        expected = task.next_website if task.stage == "next_datasource" else task.website
        if body.get("website") != expected or mobile != task.mobile:
            return _refuse("collect", mobile, "账号或数据源与申请不一致")
        if not body.get("password"):
            return _refuse("collect", mobile, "密码不能为空")
        request_type = str(body.get("type") or "")
        data = self._advance(task, request_type, body)
        if data is None:
            return _refuse("collect", mobile, "当前状态不能执行该操作")
        logger.info(
            "sandbox juxinli collect mobile=%s type=%s process_code=%s",
            mask_mobile(mobile),
            request_type or '""',
            data["process_code"],
        )
        if task.rules.fault == LATE and task.stage == COLLECTS:
            return 200, Late({"success": True, "data": data}, self._late_answer_seconds)
        return 200, {"success": True, "data": data}

    def _advance(self, task: JuxinliTask, request_type: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Move the task on; the answer's ``data``, or None when the request is out of turn."""
        every = task.rules.every_collect
        if every is not None:
            return _collect_data("ERROR", every.content, every.process_code, finish=True)
        if request_type == "":
            return self._first(task)
        if request_type == RESEND_CAPTCHA and task.stage in _WAITING_FOR_CODE:
            resent = "短信验证码已重新发送，请输入动态密码"
            return _collect_data("CONTROL", resent, 10002, SUBMIT_CAPTCHA)
        if request_type == RESEND_CAPTCHA and task.stage == ASKS_QUERY_PASSWORD:
            return _collect_data("CONTROL", "请先输入查询密码", 10022, SUBMIT_QUERY_PWD)
        if request_type == SUBMIT_QUERY_PWD and task.stage == ASKS_QUERY_PASSWORD:
            if body.get(self._query_pwd_key) != QUERY_PASSWORD:
                return _collect_data("CONTROL", "查询密码错误，请重新输入", 10023, SUBMIT_QUERY_PWD)
            task.stage = ASKS_CODE
            return _collect_data("CONTROL", "输入动态密码", 10002, SUBMIT_CAPTCHA)
        if request_type == SUBMIT_CAPTCHA and task.stage in _WAITING_FOR_CODE:
            return self._code(task, str(body.get("captcha") or ""))
        return None

    def _first(self, task: JuxinliTask) -> dict[str, Any] | None:
        if task.stage == NEXT_DATASOURCE:
            task.website, task.next_website, task.stage = task.next_website, "", COLLECTS
            return _collect_data("RUNNING", _COLLECTING.content, _COLLECTING.process_code, finish=True)
        if task.stage != "login":
            return None
        step = task.rules.login
        if step.then == ENDS:
            return _collect_data("ERROR", step.content, step.process_code, finish=True)
        task.stage = step.then  # a code or the query password is awaited
        request_type = SUBMIT_QUERY_PWD if step.then == ASKS_QUERY_PASSWORD else SUBMIT_CAPTCHA
        return _collect_data("CONTROL", step.content, step.process_code, request_type)

    def _code(self, task: JuxinliTask, captcha: str) -> dict[str, Any]:
        if captcha != SMS_CODE:
            return _collect_data("CONTROL", "动态密码错误，请重新输入", 10004, SUBMIT_CAPTCHA)
        step = task.rules.code if task.stage == ASKS_CODE else _COLLECTING  # the row's: the first code
        if step.then == ENDS:
            task.stage = "expired"
            return _collect_data("ERROR", step.content, step.process_code, finish=True)
        if step.then == ASKS_CODE:
            task.stage = _SECOND_CODE
            return _collect_data("CONTROL", step.content, step.process_code, SUBMIT_CAPTCHA)
        if step.then == NEXT_DATASOURCE:
            task.stage, task.next_website = NEXT_DATASOURCE, NEXT_WEBSITE
            data = _collect_data("CONTROL", step.content, step.process_code)
            data["next_datasource"] = _datasource(NEXT_WEBSITE, "京东", "e_business", "电商")
            return data
        task.stage = COLLECTS
        return _collect_data("RUNNING", step.content, step.process_code, finish=True)

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
        if task is None or task.stage != COLLECTS:
            return _refuse("job_status", task.mobile if task else "", "该token没有采集任务")
        task.polls += 1
        status = self._job_state(task)
        logger.info("sandbox juxinli job_status mobile=%s status=%s", mask_mobile(task.mobile), status)
        return 200, {
            "success": True,
            "data": {"token": query["token"], "status": status, "message": f"任务{status}"},
        }

    def _job_state(self, task: JuxinliTask) -> str:
        if task.polls <= self._polls_before_done:
            return "采集中"
        return task.rules.job


def _with_fault(mobiles: list[Any], fault: str) -> str | None:
    """The first of ``mobiles`` whose row has ``fault`` on Juxinli."""
    return next((mobile for mobile in mobiles if scenario(mobile).juxinli.fault == fault), None)


def _website_of(mobile: str) -> str:
    """The carrier's website for the number's province; the bare carrier prefix if unknown."""
    prefix = carrier_of(mobile)[0]
    number = mobile_number(mobile)
    region = geocoder.description_for_number(number, "zh") if number else ""
    code = next((c for province, c in _PROVINCES.items() if region.startswith(province)), "")
    return f"{prefix}{code}"


def _selected_website(value: Any) -> str | None:
    """The carrier website a ``selected_website`` names: "" when it names none, None when it
    names one this emulator does not know or is malformed."""
    if isinstance(value, list):
        if not all(isinstance(entry, dict) for entry in value):
            return None
        named = [entry.get("name") for entry in value if entry.get("category") == "mobile"]
        if len(named) > 1:
            return None
        value = named[0] if named else None
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) and value in _WEBSITES else None


def _collect_data(
    kind: str, content: str, process_code: int, request_type: str = "", finish: bool = False
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": kind, "content": content, "process_code": process_code}
    if request_type:
        data["req_msg_tpl"] = {"type": request_type, "method": "AUTO"}
    data["finish"] = finish
    return data


def _datasource(website: str, name: str, category: str, category_name: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, website).hex,
        "website": website,
        "name": name,
        "category": category,
        "category_name": category_name,
        "create_time": _STAMP,
        "update_time": _STAMP,
        "offline_times": 0,
        "status": 1,
        "website_code": 12,
        "reset_pwd_method": 0,
        "sms_required": 1 if category == "mobile" else 0,
        "required_captcha_user_identified": 0,
        "reset_pwd_frozen_time": 0,
    }


def _failure(message: str) -> dict[str, Any]:
    return {"success": False, "message": message}


def _refuse(call: str, mobile: Any, message: str) -> Reply:
    logger.info("sandbox juxinli %s mobile=%s refused: %s", call, mask_mobile(mobile), message)
    return 200, _failure(message)
