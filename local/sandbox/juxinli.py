"""The sandbox's Juxinli orgApi v2 emulator (seed 003). Local and tests only, never deployed.

Served by ``SandboxProviders`` under ``/juxinli``; the scenario table (by mobile number) is in
``local.sandbox.server``'s docstring. Not thread-safe: the server calls it under its lock.

Application: checks the org in the path, ``basic_info`` (name, a valid id number, a mobile
number), and ``selected_website`` when present - a website name, or a list of ``{"category",
"name"}`` objects whose ``mobile`` entry names it - which must be a website this emulator knows
(``数据源不存在`` otherwise). The datasource is that website, or the one the number belongs to
(carrier prefix + ISO 3166-2:CN province letters, e.g. ``chinamobilebj``; the bare carrier prefix
when the province is unknown).

Collect: checks the token, that account and website match the application (or the announced
``next_datasource``), a non-empty password, and that the request type fits the task's stage:
``""`` first (login), ``SUBMIT_CAPTCHA`` / ``RESEND_CAPTCHA`` while a code is awaited,
``SUBMIT_QUERY_PWD`` (the query password in the field named ``query_pwd_key``) while the query
password is awaited. Anything else is ``当前状态不能执行该操作``.

Report token and job status use the shapes the adapter assumes (see
``carrier_auth.providers.juxinli``). Log lines carry the call, a masked mobile, the request type
and the process code: never a password, code, query password, id number or name.

Provider-level conditions: every request about ``DOWN_MOBILE`` answers HTTP 503; about
``MAINTENANCE_MOBILE`` an HTML page while ``Maintenance`` says this emulator is the one down (the
application is the request that starts a login); ``LATE_ANSWER_MOBILE``'s right code moves the
task on to collecting at once but is answered ``late_answer_seconds`` later.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from phonenumbers import geocoder
from stdnum.cn import ric

from .server import (
    LATE_ANSWER_MOBILE,
    MAINTENANCE_MOBILE,
    MAINTENANCE_PAGE,
    SMS_CODE,
    Late,
    Maintenance,
    Query,
    Reply,
    carrier_of,
    mask_mobile,
    mobile_number,
)

logger = logging.getLogger("carrier_auth.sandbox")

QUERY_PASSWORD = "654321"
SUBMIT_CAPTCHA = "SUBMIT_CAPTCHA"
SUBMIT_QUERY_PWD = "SUBMIT_QUERY_PWD"
RESEND_CAPTCHA = "RESEND_CAPTCHA"

WRONG_PASSWORD_MOBILE = "13800138002"
JOB_FAILS_MOBILE = "13800138003"
SECOND_SMS_MOBILE = "13800138004"
QUERY_PASSWORD_MOBILE = "13800138008"
ALWAYS_BUSY_MOBILE = "13800138009"
NEXT_DATASOURCE_MOBILE = "13800138012"
CODE_EXPIRES_MOBILE = "13800138015"
DOWN_MOBILE = "13800138028"

NEXT_WEBSITE = "jingdong"
BUSY_TEXT = "系统繁忙，请稍后再试"
EXPIRED_TEXT = "验证码失效，请重新登录"

# The first collect ends the login with an answer: mobile -> (process_code, content).
LOGIN_ERRORS: dict[str, tuple[int, str]] = {
    WRONG_PASSWORD_MOBILE: (10003, "服务密码错误"),
    "13800138005": (10007, "您的服务密码为初始密码或简单密码，请修改后再登录"),
    "13800138010": (30000, "短信发送次数已达上限，请明天再试"),
    "13800138011": (0, "未知状态"),
    "13800138013": (10003, "密码错误次数过多，账户已锁定24小时"),
    "13800138016": (30000, "运营商系统升级维护中，请稍后再试"),
    "13800138021": (30000, "您已在其他地点登录，请退出后重试"),
    "13800138022": (30000, "短信验证码发送失败"),
    "13800138024": (30000, "该地区升级中，请明天再试"),
}

# The first collect asks for something: mobile -> (process_code, content, stage).
_DEFAULT_PROMPT = (10002, "输入动态密码", "sms")
LOGIN_PROMPTS: dict[str, tuple[int, str, str]] = {
    "13800138006": (10006, "验证码已过期，新验证码已发送，请输入", "sms"),
    "13800138007": (10017, "请用本机发送CXXD至10001获取短信验证码", "sms"),
    QUERY_PASSWORD_MOBILE: (10022, "请输入查询密码", "query_pwd"),
}

# The application itself is refused: mobile -> message.
APPLICATION_REFUSALS: dict[str, str] = {
    "13800138017": "该号码已禁用服务密码",
    "13800138018": "服务密码尚未激活",
    "13800138019": "该卡尚未实名登记",
    "13800138020": "账号状态异常（停机）",
    "13800138023": "暂不支持该地区",
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
_WAITING_FOR_CODE = ("sms", "second_sms")


@dataclass
class JuxinliTask:
    mobile: str
    website: str
    stage: str = "login"  # login -> [query_pwd ->] sms -> [second_sms ->] [next_datasource ->] collecting
    next_website: str = ""
    polls: int = 0


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
        if DOWN_MOBILE in mobiles:
            logger.info("sandbox juxinli %s mobile=%s -> HTTP 503 (provider down)", path, mask_mobile(DOWN_MOBILE))
            return 503, "Service Temporarily Unavailable"
        login = method == "POST" and path.startswith(application_prefix)
        if MAINTENANCE_MOBILE in mobiles and self.maintenance.applies(self, login):
            logger.info("sandbox juxinli %s mobile=%s -> maintenance page", path, mask_mobile(MAINTENANCE_MOBILE))
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
        if mobile in APPLICATION_REFUSALS:
            return _refuse("application", mobile, APPLICATION_REFUSALS[mobile])
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
        if task.mobile == LATE_ANSWER_MOBILE and task.stage == "collecting":
            return 200, Late({"success": True, "data": data}, self._late_answer_seconds)
        return 200, {"success": True, "data": data}

    def _advance(self, task: JuxinliTask, request_type: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Move the task on; the answer's ``data``, or None when the request is out of turn."""
        if task.mobile == ALWAYS_BUSY_MOBILE:
            return _collect_data("ERROR", BUSY_TEXT, 30000, finish=True)
        if request_type == "":
            return self._first(task)
        if request_type == RESEND_CAPTCHA and task.stage in _WAITING_FOR_CODE:
            resent = "短信验证码已重新发送，请输入动态密码"
            return _collect_data("CONTROL", resent, 10002, SUBMIT_CAPTCHA)
        if request_type == RESEND_CAPTCHA and task.stage == "query_pwd":
            return _collect_data("CONTROL", "请先输入查询密码", 10022, SUBMIT_QUERY_PWD)
        if request_type == SUBMIT_QUERY_PWD and task.stage == "query_pwd":
            if body.get(self._query_pwd_key) != QUERY_PASSWORD:
                return _collect_data("CONTROL", "查询密码错误，请重新输入", 10023, SUBMIT_QUERY_PWD)
            task.stage = "sms"
            return _collect_data("CONTROL", "输入动态密码", 10002, SUBMIT_CAPTCHA)
        if request_type == SUBMIT_CAPTCHA and task.stage in _WAITING_FOR_CODE:
            return self._code(task, str(body.get("captcha") or ""))
        return None

    def _first(self, task: JuxinliTask) -> dict[str, Any] | None:
        if task.stage == "next_datasource":
            task.website, task.next_website, task.stage = task.next_website, "", "collecting"
            return _collect_data("RUNNING", "开始采集行为数据", 10008, finish=True)
        if task.stage != "login":
            return None
        if task.mobile in LOGIN_ERRORS:
            process_code, content = LOGIN_ERRORS[task.mobile]
            return _collect_data("ERROR", content, process_code, finish=True)
        process_code, content, task.stage = LOGIN_PROMPTS.get(task.mobile, _DEFAULT_PROMPT)
        request_type = SUBMIT_QUERY_PWD if task.stage == "query_pwd" else SUBMIT_CAPTCHA
        return _collect_data("CONTROL", content, process_code, request_type)

    def _code(self, task: JuxinliTask, captcha: str) -> dict[str, Any]:
        if captcha != SMS_CODE:
            return _collect_data("CONTROL", "动态密码错误，请重新输入", 10004, SUBMIT_CAPTCHA)
        if task.mobile == CODE_EXPIRES_MOBILE:
            task.stage = "expired"
            return _collect_data("ERROR", EXPIRED_TEXT, 30000, finish=True)
        if task.mobile == SECOND_SMS_MOBILE and task.stage == "sms":
            task.stage = "second_sms"
            return _collect_data("CONTROL", "请输入第二条动态密码", 10001, SUBMIT_CAPTCHA)
        if task.mobile == NEXT_DATASOURCE_MOBILE:
            task.stage, task.next_website = "next_datasource", NEXT_WEBSITE
            data = _collect_data("CONTROL", "开始采集行为数据", 10008)
            data["next_datasource"] = _datasource(NEXT_WEBSITE, "京东", "e_business", "电商")
            return data
        task.stage = "collecting"
        return _collect_data("RUNNING", "开始采集行为数据", 10008, finish=True)

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
        logger.info("sandbox juxinli job_status mobile=%s status=%s", mask_mobile(task.mobile), status)
        return 200, {
            "success": True,
            "data": {"token": query["token"], "status": status, "message": f"任务{status}"},
        }

    def _job_state(self, task: JuxinliTask) -> str:
        if task.polls <= self._polls_before_done:
            return "采集中"
        return "失败" if task.mobile == JOB_FAILS_MOBILE else "完成"


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
