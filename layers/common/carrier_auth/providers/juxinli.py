"""聚信立 Juxinli orgApi v2 carrier adapter (seed 003, providers.md section 2).

Login = application form (``data.token``, ``data.datasource.website``) then a first collect
request (``captcha: ""``, ``type: ""``); submit and resend are further collect requests. The step
state keeps what the next call needs and nothing secret: ``token``, ``website`` and ``next_type``
(the last answer's ``req_msg_tpl.type``: ``SUBMIT_CAPTCHA``, or ``SUBMIT_QUERY_PWD`` after 10022,
when ``submit`` sends the code in the ``query_pwd_key`` field - public code shows both
``queryPwd`` and ``query_pwd``, so the name is a constructor argument).

``process_code`` -> (outcome, guide code) lives in ``_classify``:

| process_code | outcome |
|---|---|
| 10002, 10001 (second code) | NEED_INPUT 90001 |
| 10006 (expired, a new code was sent) | NEED_INPUT 90001, the upstream text as guide_message |
| 10017, 10018 (send CXXD to 10001) | NEED_INPUT 90001, the carrier's instruction as guide_message |
| 10004 | NEED_INPUT 90007 |
| 10022 / 10023 | NEED_INPUT 90036 / 90037 (query password; extension codes) |
| 10003 | FAILED 90006, 90021 when the text says the account is locked |
| 10007 | FAILED 90009 |
| 10008 | COLLECTING; with ``finish: false`` and ``next_datasource.website`` the adapter collects again for that website (same token and credentials, ``captcha``/``type`` empty, at most ``MAX_CONTINUATIONS`` times) and maps that answer |
| 30000 | busy (guide_rules says 90035, or says nothing and the text mentions busy/network): ``ProviderUnavailable``; otherwise ``guide_rules.guide_for_text``: an input guide -> NEED_INPUT, any other -> FAILED, none -> FAILED "" (103) |
| 0, anything else | FAILED "" (103), raw code and text kept |

The failure shape ``{"success": false, "message": m}``: busy -> ``ProviderUnavailable``;
``当前状态不能执行该操作`` (the task is not in the state the call needs: an earlier call took
effect after all) -> ``ProviderOutcomeUnknown``; a message guide_rules knows (暂不支持该地区 90033,
禁用服务密码 90022, 未激活 90023, 未实名 90024, 账号状态异常 90025, ...) -> a FAILED step with that
guide (NEED_INPUT for an input guide) from login/submit/resend; anything else -> ``ProviderError``.

The application and the collect requests change state upstream (docs/upstream-calls.md): after a
read timeout, a lost connection, a 5xx or an answer that is not the protocol (not JSON, no
``data``, no ``process_code``) they raise ``ProviderOutcomeUnknown`` - with the new token and
website when the login's first collect fails, so the step can ask about that task - and
``reconcile`` tells where the task stands: the job status by token; any collection job (采集中,
完成, 失败, or a status not yet known) means the login went through (COLLECTING); "no collection
job for this token" (``_NO_JOB_WORDS``, assumed text) means no visible effect (None: the task
still waits where it was - Juxinli shows nothing else of a task). The token and job-status calls
are reads: there every failure is ``ProviderUnavailable``.

Website hint: the application carries ``skip_mobile: false`` and ``selected_website`` computed
from the number (``numbers.describe``: carrier prefix + ISO 3166-2:CN province letters, e.g.
``chinamobilejs``), omitted when carrier or province is unknown. UNVERIFIED: one public
integration sends ``selected_website`` as a list of ``{"category", "name"}`` objects (extra, e.g.
e-commerce, datasources) rather than a name; ``selected_website_shape`` chooses ``"name"``
(default), ``"list"`` (``[{"category": "mobile", "name": hint}]``) or ``"none"``. The website used
afterwards is always the one the application answer names.

Collection progress is polled with a report access token (cached in the state as
``access_token``) and the job status call; the flow bounds the number of polls. The answers of
the two polling calls are not public. Assumed shapes (verify against the provider's docs; the
mapping lives in ``_JOB_STATUSES`` and ``_job_result`` only):

    GET /api/v2/access_report_token?org_name=..&client_secret=..&hours=24
    -> {"success": true, "code": 200, "access_token": "<hex>", "note": "..."}

    GET /api/v2/job/access_jobs_status_by_token?client_secret=..&access_token=..&token=..
    -> {"success": true, "data": {"token": "<token>", "status": "采集中" | "完成" | "失败",
                                  "message": "..."}}

Either call may answer the usual failure shape ``{"success": false, "message": "..."}``.

``http`` logs every call with its operation: ``apply`` (the application), ``login`` / ``submit``
/ ``resend`` (the collect request each step sends), ``continue`` (a ``finish: false``
continuation), ``report_token`` and ``status`` (the job status).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from .. import codes
from ..numbers import PROVINCE_ISO_CODES, describe
from . import guide_rules
from .base import (
    CarrierOutcome,
    CarrierStep,
    CollectResult,
    CollectStatus,
    Identity,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from .http import DEFAULT_TIMEOUT, Timeout, get_json, post_json

SECOND_SMS_MESSAGE = "请输入第二条短信验证码"
CXXD_MESSAGE = "请用本机发送CXXD至10001获取短信验证码"
REPORT_TOKEN_HOURS = 24
# finish:false continuations followed within one call before answering COLLECTING
MAX_CONTINUATIONS = 3

SUBMIT_CAPTCHA = "SUBMIT_CAPTCHA"
SUBMIT_QUERY_PWD = "SUBMIT_QUERY_PWD"
RESEND_CAPTCHA = "RESEND_CAPTCHA"

WebsiteShape = Literal["name", "list", "none"]

# numbers.describe() carrier -> Juxinli website prefix
CARRIER_WEBSITES: dict[str, str] = {
    "中国移动": "chinamobile",
    "中国联通": "chinaunicom",
    "中国电信": "chinatelecom",
}
# numbers.describe() province -> Juxinli website suffix: its ISO 3166-2:CN letters in lower case.
PROVINCE_CODES: dict[str, str] = {province: iso.lower() for province, iso in PROVINCE_ISO_CODES.items()}

# Only used when guide_rules has no opinion on a text.
_BUSY_WORDS = ("繁忙", "系统忙", "busy", "网络", "network")
# A refusal meaning "the task is not in the state this call needs".
_OUT_OF_TURN_WORDS = ("当前状态不能执行该操作",)
# The job-status refusal meaning "no collection job for this token" (assumed, like the shapes).
_NO_JOB_WORDS = ("没有采集任务",)
_QUERY_PASSWORD_GUIDES = frozenset({codes.NEED_QUERY_PASSWORD, codes.WRONG_QUERY_PASSWORD})

# Job status text -> collection status (assumed values, see the module docstring).
_JOB_STATUSES: dict[str, CollectStatus] = {
    "采集中": "RUNNING",
    "完成": "SUCCESS",
    "失败": "FAILED",
}


def website_for_mobile(mobile: str) -> str:
    """The Juxinli website a number most likely belongs to (``chinamobilejs``), or ""."""
    info = describe(mobile)
    prefix = CARRIER_WEBSITES.get(info.isp, "")
    province = PROVINCE_CODES.get(info.province, "")
    return f"{prefix}{province}" if prefix and province else ""


class JuxinliProvider:
    """CarrierProvider over Juxinli's orgApi v2."""

    name = "juxinli"

    def __init__(
        self,
        base_url: str,
        org_name: str,
        client_secret: str,
        timeout: Timeout = DEFAULT_TIMEOUT,
        query_pwd_key: str = "queryPwd",
        selected_website_shape: WebsiteShape = "name",
    ) -> None:
        if selected_website_shape not in ("name", "list", "none"):
            raise ValueError(f"unknown selected_website_shape {selected_website_shape!r}")
        if not query_pwd_key:
            raise ValueError("query_pwd_key must not be empty")
        self._base_url = base_url.rstrip("/")
        self._org_name = org_name
        self._client_secret = client_secret
        self._timeout = timeout
        self._query_pwd_key = query_pwd_key
        self._website_shape = selected_website_shape

    def login(self, identity: Identity, password: str) -> CarrierStep:
        try:
            data = self._post(f"/orgApi/rest/v2/applications/{self._org_name}", self._application(identity), "apply")
        except _Refused as refused:
            return refused.step({})
        state = {
            "token": _field(data, "token"),
            "website": _field(_object(data, "datasource"), "website"),
            "next_type": SUBMIT_CAPTCHA,
        }
        try:
            return self._collect(state, identity, password, "login", captcha="", request_type="")
        except ProviderOutcomeUnknown as exc:
            raise ProviderOutcomeUnknown(str(exc), state) from None

    def submit(
        self, state: dict[str, Any], identity: Identity, password: str, code: str
    ) -> CarrierStep:
        request_type = str(state.get("next_type") or SUBMIT_CAPTCHA)
        if request_type == SUBMIT_QUERY_PWD:
            return self._collect(
                state, identity, password, "submit", captcha="", request_type=request_type,
                extra={self._query_pwd_key: code},
            )  # fmt: skip
        return self._collect(state, identity, password, "submit", captcha=code, request_type=request_type)

    def resend(self, state: dict[str, Any], identity: Identity, password: str) -> CarrierStep:
        return self._collect(state, identity, password, "resend", captcha="", request_type=RESEND_CAPTCHA)

    def check(self, state: dict[str, Any]) -> CarrierStep:
        raise ProviderError("juxinli has no asynchronous login")

    def reconcile(self, state: dict[str, Any]) -> CarrierStep | None:
        """After an ambiguous collect: a collection job for the token means the login went
        through; none means no visible effect (module docstring)."""
        if not state.get("token"):
            return None  # the application never answered: there is no upstream task to ask about
        data, state = self._job(state)
        if data is None:
            return None
        status = str(data.get("status", ""))
        return CarrierStep("COLLECTING", state=state, raw_code=status, raw_message=str(data.get("message") or ""))

    def poll(self, state: dict[str, Any]) -> CollectResult:
        """One job-status call (the flow bounds how often it is made)."""
        data, state = self._job(state)
        if data is None:
            raise ProviderError("Juxinli has no collection job for this token")
        return _job_result(data, state)

    def _job(self, state: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The token's job status ``data`` (None when Juxinli has no collection job for it) and
        the state with the report access token cached."""
        token = _state_text(state, "token")
        with _reading():
            access_token = state.get("access_token") or self._report_token()
            body = get_json(
                self._url("/api/v2/job/access_jobs_status_by_token"),
                params={
                    "client_secret": self._client_secret,
                    "access_token": access_token,
                    "token": token,
                },
                timeout=self._timeout,
                provider=self.name,
                operation="status",
            )
            state = {**state, "access_token": access_token}
            if _refused_with(body, _NO_JOB_WORDS):
                return None, state
            return _data(body), state

    def _application(self, identity: Identity) -> dict[str, Any]:
        body: dict[str, Any] = {
            "basic_info": {
                "name": identity.name,
                "id_card_num": identity.id_number,
                "cell_phone_num": identity.mobile,
            },
            "skip_mobile": False,
        }
        website = website_for_mobile(identity.mobile)
        if website and self._website_shape == "name":
            body["selected_website"] = website
        elif website and self._website_shape == "list":
            body["selected_website"] = [{"category": "mobile", "name": website}]
        return body

    def _report_token(self) -> str:
        body = get_json(
            self._url("/api/v2/access_report_token"),
            params={
                "org_name": self._org_name,
                "client_secret": self._client_secret,
                "hours": REPORT_TOKEN_HOURS,
            },
            timeout=self._timeout,
            provider=self.name,
            operation="report_token",
        )
        _check_success(body)
        return _field(body, "access_token")

    def _collect(
        self,
        state: dict[str, Any],
        identity: Identity,
        password: str,
        operation: str,
        *,
        captcha: str,
        request_type: str,
        extra: dict[str, str] | None = None,
    ) -> CarrierStep:
        session_state = {
            "token": _state_text(state, "token"),
            "website": _state_text(state, "website"),
            "next_type": str(state.get("next_type") or SUBMIT_CAPTCHA),
        }
        request = {
            "token": session_state["token"],
            "account": identity.mobile,
            "password": password,
            "captcha": captcha,
            "type": request_type,
            **(extra or {}),
        }
        try:
            data = self._post_collect(request, session_state["website"], operation)
            for _ in range(MAX_CONTINUATIONS):
                website = _next_website(data)
                if not website:
                    break
                session_state["website"] = website
                request = {**request, "captcha": "", "type": ""}
                request.pop(self._query_pwd_key, None)
                data = self._post_collect(request, website, "continue")
        except _Refused as refused:
            return refused.step(session_state)
        return _step(data, session_state)

    def _post_collect(self, request: dict[str, Any], website: str, operation: str) -> dict[str, Any]:
        return self._post("/orgApi/rest/v2/messages/collect/req", {**request, "website": website}, operation)

    def _post(self, path: str, payload: dict[str, Any], operation: str) -> dict[str, Any]:
        """A state-changing call: the answer's ``data``."""
        body = post_json(
            self._url(path), payload, provider=self.name, operation=operation, changes_state=True, timeout=self._timeout
        )
        return _data(body)

    def _url(self, path: str) -> str:
        return f"{self._base_url}{path}"


class _Refused(ProviderError):
    """``success: false`` with a message guide_rules knows: a step answer, not a system error."""

    def __init__(self, message: str, guide_code: str) -> None:
        super().__init__(f"Juxinli refused the call: {message}")
        self.message = message
        self.guide_code = guide_code

    def step(self, state: dict[str, Any]) -> CarrierStep:
        outcome: CarrierOutcome = "NEED_INPUT" if self.guide_code in codes.INPUT_GUIDES else "FAILED"
        return CarrierStep(
            outcome=outcome,
            guide_code=self.guide_code,
            guide_message=codes.guide_message(self.guide_code),
            state=_with_next_type(state, self.guide_code),
            raw_message=self.message,
        )


def _classify(process_code: str, content: str) -> tuple[CarrierOutcome, str, str]:
    """The one place where a ``process_code`` becomes (outcome, guide code, guide message)."""
    match process_code:
        case "10002":
            return "NEED_INPUT", codes.NEED_SMS_CODE, codes.guide_message(codes.NEED_SMS_CODE)
        case "10001":
            return "NEED_INPUT", codes.NEED_SMS_CODE, SECOND_SMS_MESSAGE
        case "10006":
            return "NEED_INPUT", codes.NEED_SMS_CODE, content or codes.guide_message(codes.NEED_SMS_CODE)
        case "10017" | "10018":
            return "NEED_INPUT", codes.NEED_SMS_CODE, content or CXXD_MESSAGE
        case "10004":
            return "NEED_INPUT", codes.WRONG_SMS_CODE, codes.guide_message(codes.WRONG_SMS_CODE)
        case "10022":
            return "NEED_INPUT", codes.NEED_QUERY_PASSWORD, codes.guide_message(codes.NEED_QUERY_PASSWORD)
        case "10023":
            return "NEED_INPUT", codes.WRONG_QUERY_PASSWORD, codes.guide_message(codes.WRONG_QUERY_PASSWORD)
        case "10008":
            return "COLLECTING", "", ""
        case "10003":
            locked = guide_rules.guide_for_text(content) == codes.PASSWORD_LOCKED
            guide = codes.PASSWORD_LOCKED if locked else codes.WRONG_PASSWORD
            return "FAILED", guide, codes.guide_message(guide)
        case "10007":
            return "FAILED", codes.SIMPLE_PASSWORD, codes.guide_message(codes.SIMPLE_PASSWORD)
        case "30000":
            guide = guide_rules.guide_for_text(content)
            if _is_busy(content, guide):
                raise ProviderUnavailable(f"Juxinli 30000, carrier busy: {content}")
            outcome: CarrierOutcome = "NEED_INPUT" if guide in codes.INPUT_GUIDES else "FAILED"
            return outcome, guide, codes.guide_message(guide)
        case _:
            return "FAILED", "", ""


def _step(data: dict[str, Any], state: dict[str, Any]) -> CarrierStep:
    if "process_code" not in data:
        raise ProviderOutcomeUnknown("Juxinli answer lacks 'process_code'")
    raw_code = str(data["process_code"]).strip()
    content = str(data.get("content") or "")
    outcome, guide_code, message = _classify(raw_code, content)
    template = data.get("req_msg_tpl")
    template_type = template.get("type") if isinstance(template, dict) else None
    if isinstance(template_type, str) and template_type:
        state = {**state, "next_type": template_type}
    else:
        state = _with_next_type(state, guide_code)
    return CarrierStep(
        outcome=outcome,
        guide_code=guide_code,
        guide_message=message,
        state=state,
        raw_code=raw_code,
        raw_message=content,
    )


def _with_next_type(state: dict[str, Any], guide_code: str) -> dict[str, Any]:
    """The request type the next submit sends when the answer names none: what the guide asks
    for, or what was asked before."""
    if not state:
        return state
    if guide_code in _QUERY_PASSWORD_GUIDES:
        return {**state, "next_type": SUBMIT_QUERY_PWD}
    if guide_code in codes.INPUT_GUIDES:
        return {**state, "next_type": SUBMIT_CAPTCHA}
    return state


def _next_website(data: dict[str, Any]) -> str:
    """The website a ``10008, finish: false`` answer continues with, or ""."""
    if str(data.get("process_code", "")).strip() != "10008":
        return ""
    if str(data.get("finish")).lower() != "false":
        return ""
    following = data.get("next_datasource")
    website = following.get("website") if isinstance(following, dict) else None
    return website if isinstance(website, str) else ""


def _is_busy(text: str, guide: str) -> bool:
    """Transient: guide_rules says busy, or knows nothing and the text mentions busy/network.
    (升级/维护 texts that also say 稍后再试 are upgrades: guide_rules names them first.)"""
    return guide == codes.CARRIER_BUSY or (not guide and _mentions(text, _BUSY_WORDS))


def _job_result(data: dict[str, Any], state: dict[str, Any]) -> CollectResult:
    raw_status = str(data.get("status", ""))
    status = _JOB_STATUSES.get(raw_status)
    if status is None:
        raise ProviderError(f"Juxinli job status {raw_status!r} is not known")
    return CollectResult(
        status=status,
        message=str(data.get("message") or raw_status),
        state=state,
        raw_code=raw_status,
    )


@contextmanager
def _reading() -> Iterator[None]:
    """A read changes nothing upstream: an answer that is not the protocol only means the
    provider is unavailable there."""
    try:
        yield
    except ProviderOutcomeUnknown as exc:
        raise ProviderUnavailable(str(exc)) from None


def _data(body: dict[str, Any]) -> dict[str, Any]:
    _check_success(body)
    return _object(body, "data")


def _check_success(body: dict[str, Any]) -> None:
    """Raise unless ``body`` is the ``{"success": true, ...}`` envelope."""
    if str(body.get("success")).lower() == "true":
        return
    message = str(body.get("message") or "")
    if _refused_with(body, _OUT_OF_TURN_WORDS):
        raise ProviderOutcomeUnknown(f"Juxinli: the task is not in the state the call needs: {message}")
    guide = guide_rules.guide_for_text(message)
    if _is_busy(message, guide):
        raise ProviderUnavailable(f"Juxinli is busy: {message}")
    if guide:
        raise _Refused(message, guide)
    raise ProviderError(f"Juxinli refused the call: {message}")


def _refused_with(body: dict[str, Any], words: tuple[str, ...]) -> bool:
    """Whether ``body`` is the failure shape with a message mentioning one of ``words``."""
    return str(body.get("success")).lower() != "true" and _mentions(str(body.get("message") or ""), words)


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    """An object the answer must carry: without it the answer is not the protocol."""
    value = container.get(key)
    if not isinstance(value, dict):
        raise ProviderOutcomeUnknown(f"Juxinli answer lacks the object {key!r}")
    return value


def _field(container: dict[str, Any], key: str) -> str:
    """A text the answer must carry: without it the answer is not the protocol."""
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise ProviderOutcomeUnknown(f"Juxinli answer lacks {key!r}")
    return value


def _state_text(state: dict[str, Any], key: str) -> str:
    """A value the step state must hold (written by an earlier call of this adapter)."""
    value = state.get(key)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"Juxinli state lacks {key!r}")
    return value
