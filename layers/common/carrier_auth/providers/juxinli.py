"""聚信立 Juxinli orgApi v2 carrier adapter (seed 003, providers.md section 2).

Login = application form (``data.token``, ``data.datasource.website``) then a first collect
request; submit and resend are further collect requests. ``process_code`` is mapped to the
gateway's guide codes in ``_classify``. Collection progress is polled with a report access token
(cached in the step state as ``access_token``) and the job status call.

The answers of the two polling calls are not public. Assumed shapes (verify against the
provider's docs; the mapping lives in ``_JOB_STATUSES`` and ``_job_result`` only):

    GET /api/v2/access_report_token?org_name=..&client_secret=..&hours=24
    -> {"success": true, "code": 200, "access_token": "<hex>", "note": "..."}

    GET /api/v2/job/access_jobs_status_by_token?client_secret=..&access_token=..&token=..
    -> {"success": true, "data": {"token": "<token>", "status": "采集中" | "完成" | "失败",
                                  "message": "..."}}

Either call may answer the usual failure shape ``{"success": false, "message": "..."}``.
"""

from __future__ import annotations

from typing import Any

from ..codes import (
    CARRIER_BUSY,
    NEED_SMS_CODE,
    PASSWORD_LOCKED,
    SIMPLE_PASSWORD,
    SMS_TOO_FREQUENT,
    WRONG_PASSWORD,
    WRONG_SMS_CODE,
    guide_message,
)
from .base import (
    CarrierOutcome,
    CarrierStep,
    CollectResult,
    CollectStatus,
    Identity,
    ProviderError,
    ProviderUnavailable,
)
from .http import DEFAULT_TIMEOUT, Timeout, get_json, post_json

SECOND_SMS_MESSAGE = "请输入第二条短信验证码"
REPORT_TOKEN_HOURS = 24

_BUSY_WORDS = ("繁忙", "busy")
_SMS_LIMIT_WORDS = ("上限", "频繁")
_LOCKED_WORDS = ("锁定",)

# Job status text -> collection status (assumed values, see the module docstring).
_JOB_STATUSES: dict[str, CollectStatus] = {
    "采集中": "RUNNING",
    "完成": "SUCCESS",
    "失败": "FAILED",
}


class JuxinliProvider:
    """CarrierProvider over Juxinli's orgApi v2."""

    name = "juxinli"

    def __init__(
        self,
        base_url: str,
        org_name: str,
        client_secret: str,
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._org_name = org_name
        self._client_secret = client_secret
        self._timeout = timeout

    def login(self, identity: Identity, password: str) -> CarrierStep:
        data = self._post(
            f"/orgApi/rest/v2/applications/{self._org_name}",
            {
                "basic_info": {
                    "name": identity.name,
                    "id_card_num": identity.id_number,
                    "cell_phone_num": identity.mobile,
                }
            },
        )
        website = _text(_dict(data, "datasource"), "website")
        state = {"token": _text(data, "token"), "website": website}
        return self._collect(state, identity, password, captcha="", request_type="")

    def submit(
        self, state: dict[str, Any], identity: Identity, password: str, code: str
    ) -> CarrierStep:
        return self._collect(state, identity, password, captcha=code, request_type="SUBMIT_CAPTCHA")

    def resend(self, state: dict[str, Any], identity: Identity, password: str) -> CarrierStep:
        return self._collect(state, identity, password, captcha="", request_type="RESEND_CAPTCHA")

    def poll(self, state: dict[str, Any]) -> CollectResult:
        token = _text(state, "token")
        access_token = state.get("access_token") or self._report_token()
        body = get_json(
            self._url("/api/v2/job/access_jobs_status_by_token"),
            params={
                "client_secret": self._client_secret,
                "access_token": access_token,
                "token": token,
            },
            timeout=self._timeout,
        )
        return _job_result(_data(body), {**state, "access_token": access_token})

    def _report_token(self) -> str:
        body = get_json(
            self._url("/api/v2/access_report_token"),
            params={
                "org_name": self._org_name,
                "client_secret": self._client_secret,
                "hours": REPORT_TOKEN_HOURS,
            },
            timeout=self._timeout,
        )
        _check_success(body)
        return _text(body, "access_token")

    def _collect(
        self,
        state: dict[str, Any],
        identity: Identity,
        password: str,
        *,
        captcha: str,
        request_type: str,
    ) -> CarrierStep:
        session_state = {"token": _text(state, "token"), "website": _text(state, "website")}
        data = self._post(
            "/orgApi/rest/v2/messages/collect/req",
            {
                **session_state,
                "account": identity.mobile,
                "password": password,
                "captcha": captcha,
                "type": request_type,
            },
        )
        return _step(data, session_state)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return _data(post_json(self._url(path), payload, timeout=self._timeout))

    def _url(self, path: str) -> str:
        return f"{self._base_url}{path}"


def _classify(process_code: str, content: str) -> tuple[CarrierOutcome, str, str]:
    """The one place where a ``process_code`` becomes (outcome, guide code, guide message)."""
    match process_code:
        case "10002":
            return "NEED_INPUT", NEED_SMS_CODE, guide_message(NEED_SMS_CODE)
        case "10001":
            return "NEED_INPUT", NEED_SMS_CODE, SECOND_SMS_MESSAGE
        case "10006":
            return "NEED_INPUT", NEED_SMS_CODE, content or guide_message(NEED_SMS_CODE)
        case "10004":
            return "NEED_INPUT", WRONG_SMS_CODE, guide_message(WRONG_SMS_CODE)
        case "10008":
            return "COLLECTING", "", ""
        case "10003":
            guide = PASSWORD_LOCKED if _mentions(content, _LOCKED_WORDS) else WRONG_PASSWORD
            return "FAILED", guide, guide_message(guide)
        case "10007":
            return "FAILED", SIMPLE_PASSWORD, guide_message(SIMPLE_PASSWORD)
        case "30000":
            guide = SMS_TOO_FREQUENT if _mentions(content, _SMS_LIMIT_WORDS) else CARRIER_BUSY
            return "FAILED", guide, guide_message(guide)
        case _:
            return "FAILED", "", ""


def _step(data: dict[str, Any], state: dict[str, Any]) -> CarrierStep:
    raw_code = str(data.get("process_code", "")).strip()
    content = str(data.get("content") or "")
    outcome, guide_code, message = _classify(raw_code, content)
    return CarrierStep(
        outcome=outcome,
        guide_code=guide_code,
        guide_message=message,
        state=state,
        raw_code=raw_code,
        raw_message=content,
    )


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


def _data(body: Any) -> dict[str, Any]:
    _check_success(body)
    return _dict(body, "data")


def _check_success(body: Any) -> None:
    """Raise unless ``body`` is the ``{"success": true, ...}`` envelope."""
    if not isinstance(body, dict):
        raise ProviderError("Juxinli answered something other than a JSON object")
    if str(body.get("success")).lower() == "true":
        return
    message = str(body.get("message") or "")
    if _mentions(message, _BUSY_WORDS):
        raise ProviderUnavailable(f"Juxinli is busy: {message}")
    raise ProviderError(f"Juxinli refused the call: {message}")


def _mentions(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


def _dict(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise ProviderError(f"Juxinli answer lacks the object {key!r}")
    return value


def _text(container: dict[str, Any], key: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"Juxinli answer or state lacks {key!r}")
    return value
