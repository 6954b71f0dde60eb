"""The sandbox's scenarios: every mobile number with a behaviour of its own, one row each, and
what each provider's emulator does for it. A fixed contract, checked from the outside.

This table is the only home of that contract: the emulators (``juxinli``, ``moxie``,
``three_factor``, ``yuxin``) read it through ``scenario(mobile)``, and the README's tables under
"Sandbox scenarios" are rendered from it (``python -m local.sandbox.readme``; a unit test fails
when they differ). Any number without a row behaves like 13800138000: ``DEFAULT``.

A row says, per provider, only what differs from 13800138000; every field's default is that
number's behaviour. ``answer`` is what the gateway answers (guide codes), as the README says it.
Data only: no emulator is imported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

SMS_CODE = "123456"  # the right SMS code, for every provider
QUERY_PASSWORD = "654321"  # Juxinli's right query password (查询密码)
IMAGE_CODE = "ab12"  # Moxie's right image code (case-insensitive)

# Which README table lists a row (identity rows are listed by what they answer, see ``identity``).
BASIC = "basic"  # the first table: the numbers to start with
MORE = "more"  # one number per upstream condition, Juxinli and Moxie side by side

# Provider-level faults, for any emulator.
DOWN = "down"  # Juxinli: every request about the number answers HTTP 503; Moxie: the task creation
LATE = "late"  # the right code moves the task on at once but is answered late_answer_seconds later
MAINTENANCE = "maintenance"  # an HTML page (HTTP 200) to every request, see common.Maintenance

# What a Juxinli task does after an answer (``Step.then``).
ASKS_CODE = "sms"  # an SMS code is awaited (SUBMIT_CAPTCHA)
ASKS_QUERY_PASSWORD = "query_pwd"  # the query password is awaited (SUBMIT_QUERY_PWD)
COLLECTS = "collecting"  # the collection job runs: job status answers RUNNING, then ``job``
NEXT_DATASOURCE = "next_datasource"  # ``finish: false`` with a next datasource to collect too
ENDS = "end"  # the answer ends the task (type ERROR, ``finish: true``)

JOB_DONE = "完成"
JOB_FAILED = "失败"

# Moxie task statuses (``phase_status``, with the input type while a code is awaited).
WAIT_SMS = "WAIT_CODE SMS"
WAIT_IMAGE = "WAIT_CODE IMG"
DONE_SUCC = "DONE_SUCC"
DONE_FAIL = "DONE_FAIL"
DONE_TIMEOUT = "DONE_TIMEOUT"
GONE = "gone"  # the task disappears: its status answers 404


@dataclass(frozen=True)
class Step:
    """A Juxinli collect answer: ``process_code`` and ``content``, and what the task does next."""

    process_code: int
    content: str
    then: str


@dataclass(frozen=True)
class Juxinli:
    """What the Juxinli emulator does for a number. ``summary``: the README's column J, when
    the derived one (``readme.juxinli_cell``) would not do."""

    summary: str = ""
    refused: str = ""  # the application answers {"success": false, "message": refused}
    login: Step = Step(10002, "输入动态密码", ASKS_CODE)  # the first collect (type "")
    code: Step = Step(10008, "开始采集行为数据", COLLECTS)  # the first right SMS code
    every_collect: Step | None = None  # every collect answers this, whatever its type
    job: str = JOB_DONE  # the job status once it is no longer RUNNING
    fault: str = ""


@dataclass(frozen=True)
class Moxie:
    """What the Moxie emulator does for a number. Statuses are (``phase_status``, description);
    ``summary``: the README's column M, when the derived one would not do."""

    summary: str = ""
    login: tuple[str, str] = (WAIT_SMS, "请输入短信验证码")  # what the login decides
    after_input: tuple[str, str] | None = None  # any input ends the login so (GONE: no status)
    second_code: str = ""  # the first right SMS code asks for another one, with this text
    crawl: tuple[str, str] = (DONE_SUCC, "任务成功")  # how the crawl after the last code ends
    fault: str = ""


class Yuxin(NamedTuple):
    """驭信's answer: errorCode, errorDetail, returnCode, returnDesc."""

    error_code: str
    detail: str
    return_code: str
    description: str | None


CONSISTENT = Yuxin("200", "查询成功", "10000", "一致的")


@dataclass(frozen=True)
class Scenario:
    """One number. ``answer``: what the gateway answers (the README's behaviour or answer
    column); ``identity``: the identity table's meaning column (default: 驭信's errorDetail)."""

    mobile: str
    name: str
    answer: str = ""
    table: str = ""
    juxinli: Juxinli = Juxinli()
    moxie: Moxie = Moxie()
    three_factor: str = "0"  # the PhoneVerification Result
    yuxin: Yuxin = CONSISTENT
    identity: str = ""

    @property
    def guide_codes(self) -> tuple[str, ...]:
        """The guide codes the gateway answers on the way (from ``answer`` and ``identity``)."""
        return tuple(dict.fromkeys(re.findall(r"\b9\d{4}\b", f"{self.answer} {self.identity}")))


def _juxinli_ends(process_code: int, content: str) -> Juxinli:
    return Juxinli(login=Step(process_code, content, ENDS))


def _moxie_fails(description: str) -> Moxie:
    return Moxie(login=(DONE_FAIL, description))


def _yuxin_error(error_code: str, detail: str) -> Yuxin:
    return Yuxin(error_code, detail, "0", None)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("13800138000", "happy", "SMS code required (104/90001); `123456` → 105 → callback SUCCESS", BASIC),
    Scenario(
        "13800138001", "inconsistent", "three-factor says inconsistent (Result -4) → 104/90026, no callback", BASIC,
        three_factor="-4", yuxin=Yuxin("200", "查询成功", "10001", "不一致的"),
        identity="inconsistent on both → 104/90026",
    ),
    Scenario(
        "13800138002", "wrong_password", "wrong service password (Juxinli 10003) → 104/90006", BASIC,
        juxinli=_juxinli_ends(10003, "服务密码错误"), moxie=_moxie_fails("服务密码错误"),
    ),
    Scenario(
        "13800138003", "job_fails", "SMS ok, 105, then the collection job fails → callback DEFEAT", BASIC,
        juxinli=Juxinli(job=JOB_FAILED), moxie=Moxie(crawl=(DONE_FAIL, "数据采集失败")),
    ),
    Scenario(
        "13800138004", "second_sms",
        "after the first code a second SMS code is required (10001, 104/90001), then `123456` → 105 → SUCCESS", BASIC,
        juxinli=Juxinli(code=Step(10001, "请输入第二条动态密码", ASKS_CODE)),
        moxie=Moxie(second_code="请输入第二条短信验证码"),
    ),
    Scenario(
        "13800138005", "simple_password", "104/90009", MORE,
        juxinli=Juxinli(summary="10007", login=Step(10007, "您的服务密码为初始密码或简单密码，请修改后再登录", ENDS)),
        moxie=Moxie(summary="DONE_FAIL 初始密码", login=(DONE_FAIL, "初始密码，请修改后重试")),
    ),
    Scenario(
        "13800138006", "code_resent", "104/90001 (carrier text), then 105", MORE,
        juxinli=Juxinli(
            summary="10006 code expired, new one sent", login=Step(10006, "验证码已过期，新验证码已发送，请输入", ASKS_CODE)
        ),
    ),
    Scenario(
        "13800138007", "cxxd", "104/90001 with the instruction in `guide_message`", MORE,
        juxinli=Juxinli(
            summary="10017 send CXXD to 10001", login=Step(10017, "请用本机发送CXXD至10001获取短信验证码", ASKS_CODE)
        ),
        moxie=Moxie(summary="WAIT_CODE with the CXXD text", login=(WAIT_SMS, "请用本机发送CXXD至10001获取短信验证码")),
    ),
    Scenario(
        "13800138008", "query_password", "104/90036, wrong → 90037, then 90001 → 105", MORE,
        juxinli=Juxinli(
            summary=f"10022 query password (`{QUERY_PASSWORD}`; others 10023)",
            login=Step(10022, "请输入查询密码", ASKS_QUERY_PASSWORD),
        ),
    ),
    Scenario(
        "13800138009", "busy", "retries, fail over, then 104/90035", MORE,
        juxinli=Juxinli(summary="30000 系统繁忙 (every call)", every_collect=Step(30000, "系统繁忙，请稍后再试", ENDS)),
        moxie=Moxie(summary="create task HTTP 503", fault=DOWN),
    ),
    Scenario(
        "13800138010", "sms_limit", "104/90029", MORE,
        juxinli=Juxinli(summary="30000 daily SMS limit", login=Step(30000, "短信发送次数已达上限，请明天再试", ENDS)),
        moxie=Moxie(summary="DONE_FAIL 上限", login=(DONE_FAIL, "短信发送次数已达上限")),
    ),
    Scenario(
        "13800138011", "unknown_state", "103 (raw text kept on the session)", MORE,
        juxinli=Juxinli(summary="process code 0", login=Step(0, "未知状态", ENDS)),
        moxie=Moxie(summary="DONE_FAIL unknown text", login=(DONE_FAIL, "未知错误E999")),
    ),
    Scenario(
        "13800138012", "next_datasource", "90001 → 105 → SUCCESS", MORE,
        juxinli=Juxinli(
            summary="10008 `finish:false` + `next_datasource`", code=Step(10008, "开始采集行为数据", NEXT_DATASOURCE)
        ),
    ),
    Scenario(
        "13800138013", "locked", "104/90021", MORE,
        juxinli=Juxinli(summary="10003 locked", login=Step(10003, "密码错误次数过多，账户已锁定24小时", ENDS)),
        moxie=Moxie(summary="DONE_FAIL 锁定", login=(DONE_FAIL, "密码错误次数过多，账户已锁定")),
    ),
    Scenario(
        "13800138014", "image_code",
        "104/90002 with the image in `data.auth_code`; wrong → 90028; resend → 90002 with a new image", MORE,
        moxie=Moxie(f"WAIT_CODE IMG (`{IMAGE_CODE}`)", login=(WAIT_IMAGE, "请输入图片验证码")),
    ),
    Scenario(
        "13800138015", "code_expired", "104/90010", MORE,
        juxinli=Juxinli(summary="30000 验证码失效 after the code", code=Step(30000, "验证码失效，请重新登录", ENDS)),
        moxie=Moxie(summary="DONE_FAIL after the code", after_input=(DONE_FAIL, "验证码失效，请重新登录")),
    ),
    Scenario(
        "13800138016", "carrier_upgrading", "104/90020", MORE,
        juxinli=_juxinli_ends(30000, "运营商系统升级维护中，请稍后再试"), moxie=_moxie_fails("运营商系统升级"),
    ),
    Scenario(
        "13800138017", "password_disabled", "104/90022", MORE,
        juxinli=Juxinli(refused="该号码已禁用服务密码"), moxie=_moxie_fails("个人用户或证件类型禁用服务密码"),
    ),
    Scenario(
        "13800138018", "password_not_activated", "104/90023", MORE,
        juxinli=Juxinli(refused="服务密码尚未激活"), moxie=_moxie_fails("密码未激活"),
    ),
    Scenario(
        "13800138019", "not_real_name_registered", "104/90024", MORE,
        juxinli=Juxinli(refused="该卡尚未实名登记"), moxie=_moxie_fails("该卡未实名登记"),
    ),
    Scenario(
        "13800138020", "account_abnormal", "104/90025", MORE,
        juxinli=Juxinli(refused="账号状态异常（停机）"), moxie=_moxie_fails("账号状态异常"),
    ),
    Scenario(
        "13800138021", "logged_in_elsewhere", "104/90027", MORE,
        juxinli=_juxinli_ends(30000, "您已在其他地点登录，请退出后重试"), moxie=_moxie_fails("已在其他地点登录"),
    ),
    Scenario(
        "13800138022", "sms_send_failed", "104/90031", MORE,
        juxinli=_juxinli_ends(30000, "短信验证码发送失败"), moxie=_moxie_fails("短信发送失败"),
    ),
    Scenario(
        "13800138023", "region_unsupported", "104/90033", MORE,
        juxinli=Juxinli(refused="暂不支持该地区"), moxie=_moxie_fails("该地区暂不支持"),
    ),
    Scenario(
        "13800138024", "region_upgrading", "104/90034", MORE,
        juxinli=_juxinli_ends(30000, "该地区升级中，请明天再试"), moxie=_moxie_fails("该地区升级中，请明天再试"),
    ),
    Scenario("13800138025", "moxie_busy", "104/90035", MORE, moxie=_moxie_fails("运营商系统繁忙")),
    Scenario(
        "13800138026", "input_timeout", "104/90032", MORE,
        moxie=Moxie(summary="DONE_TIMEOUT after the code", after_input=(DONE_TIMEOUT, "等待用户输入验证码超时")),
    ),
    Scenario(
        "13800138027", "task_gone", "104/90010", MORE,
        moxie=Moxie(summary="task gone (404) after the code", after_input=(GONE, "")),
    ),
    Scenario(
        "13800138028", "primary_down", "fails over to the next provider → 90001 → 105", MORE,
        juxinli=Juxinli(summary="HTTP 503 (provider down)", fault=DOWN), moxie=Moxie(summary="healthy"),
    ),
    Scenario(
        "13800138029", "late_answer",
        "105 → callback SUCCESS (the gateway asks the provider where the task stands)", MORE,
        juxinli=Juxinli(
            summary="the right code's collect is answered after the read timeout (the task already collects)",
            fault=LATE,
        ),
        moxie=Moxie(
            summary="the right code's input is answered after the read timeout (the task already crawls)", fault=LATE
        ),
    ),
    Scenario(
        "13800138030", "maintenance",
        "fails over to the other provider → 90001 → 105 → SUCCESS (the first provider asked is the one under "
        "maintenance)", MORE,
        juxinli=Juxinli(summary="HTML maintenance page (HTTP 200) to every request at login", fault=MAINTENANCE),
        moxie=Moxie(summary="the same", fault=MAINTENANCE),
    ),
    # identity only (three-factor, 驭信); the carrier providers behave like 13800138000
    Scenario("13900139006", "bad_phone", three_factor="-6", identity="bad phone → 104/90012"),
    Scenario("13900139007", "bad_id_number", three_factor="-7", identity="bad id number → 104/90005"),
    Scenario("13900139008", "bad_name", three_factor="-8", identity="name check failed → 104/90004"),
    Scenario("13900139009", "no_record", three_factor="-9", identity="no record"),
    Scenario("13900139011", "verification_busy", three_factor="-11", identity="verification centre busy"),
    Scenario("13900139012", "daily_limit", three_factor="-12", identity="daily limit reached"),
    Scenario("13900139013", "range_unsupported", three_factor="-13", identity="number range not supported"),
    Scenario("13900139020", "yuxin_unknown", yuxin=Yuxin("200", "查询成功", "10002", "未知的"), identity="unknown"),
    Scenario("13900139021", "yuxin_bad_id", yuxin=_yuxin_error("306", "请求参数idCard为空或格式错误"), identity="bad id card"),
    Scenario("13900139022", "yuxin_bad_name", yuxin=_yuxin_error("306", "请求参数userName为空或格式错误"), identity="bad name"),
    Scenario(
        "13900139023", "yuxin_bad_phone", yuxin=_yuxin_error("306", "请求参数loginphone为空或格式错误"), identity="bad phone"
    ),
    Scenario(
        "13900139024", "yuxin_source_failure", yuxin=_yuxin_error("504", "外部数据源异常"), identity="data source failure"
    ),
    Scenario("13900139025", "yuxin_busy", yuxin=_yuxin_error("503", "接口未响应"), identity="busy (not responding)"),
    Scenario("13900139026", "yuxin_offline", yuxin=Yuxin("103", "账户已下线", "", ""), identity="account offline"),
    Scenario("13900139027", "yuxin_no_balance", yuxin=Yuxin("104", "账户余额不足", "", ""), identity="no balance"),
    Scenario(
        "13900139030", "yuxin_partial", yuxin=Yuxin("201", "部分成功", "10000", "一致的"),
        identity="部分成功, consistent",
    ),
    Scenario("13900139031", "yuxin_301", yuxin=_yuxin_error("301", "参数不能为空")),
    Scenario("13900139032", "yuxin_302", yuxin=_yuxin_error("302", "请求账号不存在")),
    Scenario("13900139033", "yuxin_303", yuxin=_yuxin_error("303", "请求密码不正确")),
    Scenario("13900139034", "yuxin_304", yuxin=_yuxin_error("304", "请求帐号被冻结")),
    Scenario("13900139035", "yuxin_305", yuxin=_yuxin_error("305", "帐号没有此接口访问权限")),
    Scenario("13900139036", "yuxin_307", yuxin=_yuxin_error("307", "请求验签失败")),
    Scenario("13900139037", "yuxin_308", yuxin=_yuxin_error("308", "请求没有查询到结果")),
    Scenario("13900139038", "yuxin_309", yuxin=_yuxin_error("309", "请求重复的请求")),
    Scenario("13900139039", "yuxin_310", yuxin=_yuxin_error("310", "请求参数中存在无效数据")),
    Scenario("13900139040", "yuxin_311", yuxin=_yuxin_error("311", "权限不足")),
    Scenario("13900139041", "yuxin_312", yuxin=_yuxin_error("312", "请求账号余额不足")),
    Scenario("13900139042", "yuxin_313", yuxin=_yuxin_error("313", "剩余次数不足")),
    Scenario("13900139043", "yuxin_314", yuxin=_yuxin_error("314", "合同时间过期")),
    Scenario("13900139044", "yuxin_315", yuxin=_yuxin_error("315", "请求头信息错误")),
    Scenario("13900139045", "yuxin_500", yuxin=_yuxin_error("500", "系统错误，服务器异常")),
    Scenario("13900139046", "yuxin_501", yuxin=_yuxin_error("501", "查询超时")),
    Scenario("13900139047", "yuxin_502", yuxin=_yuxin_error("502", "请求失败")),
)  # fmt: skip

DEFAULT = Scenario("", "default", "like 13800138000")
_BY_MOBILE = {row.mobile: row for row in SCENARIOS}


def scenario(mobile: object) -> Scenario:
    """The row of ``mobile``; ``DEFAULT`` (13800138000's behaviour) for any other value."""
    return _BY_MOBILE.get(mobile, DEFAULT) if isinstance(mobile, str) else DEFAULT


def by_name(name: str) -> Scenario:
    return next(row for row in SCENARIOS if row.name == name)
