"""魔蝎 Moxie carrier v3 adapter (seed 000's brand, providers.md section 3).

Moxie is asynchronous: creating a task, submitting an input and asking for a new SMS code only
start work upstream; the decision shows up later in the task status. Every call here therefore
ends by *waiting for a decision*: the status is read every ``status_interval`` seconds until it
says something the state machine can act on, or until ``decision_deadline`` (monotonic clock)
has passed, which gives the outcome ``WORKING`` (the state machine calls ``check`` later).
``reconcile`` (where the task stands after an ambiguous call) is the same wait: Moxie's status
always says where the task stands, so only a task that was never created gives None.

    POST /carrier/v3/tasks                     {account, password, user_id, origin, real_name,
                                                id_card, login_type} -> 201 {"task_id": ".."}
    GET  /carrier/v3/tasks/{id}/status         -> {"task_id", "phase", "phase_status",
                                                   "description", "finished",
                                                   "input": {"type": "SMS"|"IMG", "value": ".."}}
    POST /carrier/v3/tasks/{id}/input          {"input": "<code>"}
    POST /carrier/v3/tasks/{id}/verifycode     {"type": "sms"} | {"type": "img"}

``verifycode`` asks for a new code of the kind the task waits for: ``sms`` a new SMS code,
``img`` a new captcha image (换一张). The ``img`` type is an assumption: the providers reference
shows only ``sms`` (seen in one source only). The adapter remembers the input type the task last
asked for in its state (``input_type``: "SMS" | "IMG") and sends ``img`` when it is IMG, ``sms``
otherwise; a refreshed image comes back as WAIT_CODE IMG (90002) with the new image.

Every call carries ``Authorization: apikey <key>``. Non-2xx answers carry ``{detail, instance}``.

Status -> login step (``_login_step``):

| phase_status | phase             | step |
|--------------|-------------------|------|
| WAIT_CODE    |                   | NEED_INPUT: SMS -> 90001, IMG -> 90002 with the image; a description that |
|              |                   | says the last code was wrong gives 90007 / 90028; one carrying an |
|              |                   | instruction (CXXD, 第二条) becomes the guide message; the input type |
|              |                   | goes into the state (``input_type``, for ``resend``) |
| DOING        | LOGIN (or before) | keep waiting (WORKING at the deadline) |
| DOING        | any later phase   | COLLECTING (login done, collection running) |
| DONE_SUCC    |                   | COLLECTING |
| DONE_FAIL    |                   | FAILED, guide from ``guide_rules.guide_for_text(description)`` ("" -> 103) |
| DONE_TIMEOUT |                   | FAILED 90032 |
| HTTP 404     |                   | FAILED 90010 (the task is gone) |

Status -> collection result (``poll``, after 105): DOING / WAIT_CODE -> RUNNING, DONE_SUCC with
``finished`` -> SUCCESS, DONE_FAIL / DONE_TIMEOUT / 404 -> FAILED.

Failures (docs/upstream-calls.md): create, input and verifycode change the task, the status
call only reads. No connection and HTTP 429 raise ``ProviderUnavailable`` for every call. A read
timeout, a connection lost after sending, a 5xx or a 2xx body that is not a JSON object raise
``ProviderUnavailable`` for the status read and ``ProviderOutcomeUnknown`` for the others; so does
a 400 whose ``detail`` says the task is not waiting (``_OUT_OF_TURN_WORDS``, assumed text: the
task is not where we think), and a create answer without ``task_id``. A status answer that is not
the protocol (no ``phase_status``, an image code without the image) is ``ProviderUnavailable``;
one in the protocol with an unknown meaning (an unknown ``phase_status`` or input type) is
``ProviderError``. A 4xx whose ``detail`` ``guide_rules`` recognises is a FAILED step with that
guide (never for 401/403, which are our configuration); any other 4xx raises ``ProviderError``.
Once a task was created or an input accepted, repeating the call would start a second task or
submit the code twice: status reads that keep failing until the deadline after such a call raise
``ProviderOutcomeUnknown`` carrying the task id, so the step reconciles instead of repeating.

Request bodies carry the password, the code, the id number and the name: messages name only the
method, the URL path, the status and the upstream's ``detail`` with those values blanked; logs
(Powertools, structured) name the task id, its phase status and the step it became, never a
``detail`` or a description. ``http.exchange`` logs every call (operations ``login`` = create
task, ``submit`` = input, ``resend`` = verifycode, ``status``, with the read's ``attempt`` within
one wait).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests
from aws_lambda_powertools import Logger

from .. import codes
from . import guide_rules
from .base import (
    CarrierStep,
    CollectResult,
    Identity,
    ProviderError,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from . import http
from .http import DEFAULT_TIMEOUT, Timeout, safe_url

ORIGIN = "carrier-auth-gateway"
LOGIN_TYPE = "PASSWORD"
TASK_GONE = "task gone"

# DOING in these phases means the login is still being decided.
_LOGIN_PHASES = frozenset({"", "INIT", "LOGIN"})
# Words that make a WAIT_CODE description an instruction worth showing to the user.
_INSTRUCTION_WORDS = ("CXXD", "第二条")
# Input type -> (guide code asking for it, guide code when the description says it was wrong)
_INPUT_GUIDES = {
    "SMS": (codes.NEED_SMS_CODE, codes.WRONG_SMS_CODE),
    "IMG": (codes.NEED_IMAGE_CODE, codes.WRONG_IMAGE_CODE),
}
# 4xx statuses that are our fault (credentials), never the user's
_AUTH_STATUSES = (401, 403)
# A 400 detail meaning "the task is not waiting for this call" (assumed wording).
_OUT_OF_TURN_WORDS = ("not waiting",)
_DETAIL_LIMIT = 200

logger = Logger(child=True)


class MoxieProvider:
    """CarrierProvider over Moxie's asynchronous carrier v3 task API."""

    name = "moxie"

    def __init__(
        self,
        base_url: str,
        apikey: str,
        timeout: Timeout = DEFAULT_TIMEOUT,
        status_interval: float = 0.5,
        decision_deadline: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"apikey {apikey}"}
        self._timeout = timeout
        self._status_interval = status_interval
        self._decision_deadline = decision_deadline
        self._sleep = sleep
        self._clock = clock

    # -- CarrierProvider -------------------------------------------------------------------

    def login(self, identity: Identity, password: str) -> CarrierStep:
        user_id = uuid.uuid4().hex
        status, body = self._call(
            "POST",
            "/carrier/v3/tasks",
            {
                "account": identity.mobile,
                "password": password,
                "user_id": user_id,
                "origin": ORIGIN,
                "real_name": identity.name,
                "id_card": identity.id_number,
                "login_type": LOGIN_TYPE,
            },
            operation="login",
            changes_state=True,
            secrets=(password, identity.id_number, identity.name),
        )
        if status >= 300:
            return self._refused(status, body, {}, "create task")
        task_id = body.get("task_id") if isinstance(body, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise ProviderOutcomeUnknown("Moxie create task answer lacks 'task_id'")
        logger.info("moxie task created", extra={"provider": self.name, "upstream_task_id": task_id})
        return self._after_change({"task_id": task_id, "user_id": user_id})

    def submit(
        self, state: dict[str, Any], identity: Identity, password: str, code: str
    ) -> CarrierStep:
        state = _session_state(state)
        status, body = self._call(
            "POST",
            f"{_task_path(state)}/input",
            {"input": code},
            operation="submit",
            changes_state=True,
            secrets=(code, password, identity.id_number, identity.name),
        )
        if status >= 300:
            return self._refused(status, body, state, "input")
        return self._after_change(state)

    def resend(self, state: dict[str, Any], identity: Identity, password: str) -> CarrierStep:
        """A new code of the kind the task waits for: a new captcha image while it waits for an
        image code (``input_type`` IMG), else a new SMS code."""
        state = _session_state(state)
        kind = "img" if state.get("input_type") == "IMG" else "sms"
        status, body = self._call(
            "POST", f"{_task_path(state)}/verifycode", {"type": kind}, operation="resend", changes_state=True
        )
        if status >= 300:
            return self._refused(status, body, state, "verifycode")
        return self._after_change(state)

    def check(self, state: dict[str, Any]) -> CarrierStep:
        return self._wait(_session_state(state))

    def reconcile(self, state: dict[str, Any]) -> CarrierStep | None:
        """Where the task stands: the status, read as after an input; None when no task was
        created (the create call's outcome was unknown)."""
        if not state.get("task_id"):
            return None
        return self._wait(_session_state(state))

    def poll(self, state: dict[str, Any]) -> CollectResult:
        state = _session_state(state)
        status, body = self._call("GET", f"{_task_path(state)}/status", operation="status", changes_state=False)
        if status == 404:
            return CollectResult("FAILED", _detail(body) or TASK_GONE, state, raw_code="404")
        if status >= 300:
            raise self._error(status, body, "status")
        view = _status_view(body)
        phase_status, description = view["phase_status"], view["description"]
        if phase_status in ("DOING", "WAIT_CODE"):
            result = "RUNNING"
        elif phase_status == "DONE_SUCC":
            result = "SUCCESS" if view["finished"] else "RUNNING"
        elif phase_status in ("DONE_FAIL", "DONE_TIMEOUT"):
            result = "FAILED"
        else:
            raise ProviderError(f"Moxie phase_status {phase_status!r} is not known")
        logger.info(
            "moxie task collection",
            extra={
                "provider": self.name,
                "upstream_task_id": state["task_id"],
                "upstream_code": phase_status,
                "result": result,
            },
        )
        return CollectResult(result, description or phase_status, state, raw_code=phase_status)

    # -- waiting for a decision ----------------------------------------------------------

    def _wait(self, state: dict[str, Any]) -> CarrierStep:
        """Read the status until it decides something or the deadline passes (-> WORKING).
        Status reads that fail are tried again until the deadline, then raise
        ``ProviderUnavailable``."""
        deadline = self._clock() + self._decision_deadline
        attempt = 0
        while True:
            attempt += 1
            try:
                step = self._status_step(state, attempt)
                if step.outcome != "WORKING" or self._clock() >= deadline:
                    return step
            except ProviderUnavailable:
                if self._clock() >= deadline:
                    raise
            self._sleep(min(self._status_interval, deadline - self._clock()))

    def _after_change(self, state: dict[str, Any]) -> CarrierStep:
        """The decision after a call that changed the task: the change went through and must
        not be repeated, so a status that stays unreadable is an unknown outcome (the step
        reconciles later), never ``ProviderUnavailable`` (which would allow a repeat)."""
        try:
            return self._wait(state)
        except ProviderUnavailable as exc:
            logger.warning(
                "moxie task status unavailable after a change",
                extra={"provider": self.name, "upstream_task_id": state["task_id"]},
            )
            raise ProviderOutcomeUnknown(f"{exc} (after the change was accepted)", state) from None

    def _status_step(self, state: dict[str, Any], attempt: int) -> CarrierStep:
        status, body = self._call(
            "GET", f"{_task_path(state)}/status", operation="status", changes_state=False, attempt=attempt
        )
        if status == 404:
            logger.info("moxie task is gone", extra={"provider": self.name, "upstream_task_id": state["task_id"]})
            return _gone(state, _detail(body))
        if status >= 300:
            return self._refused(status, body, state, "status")
        step = _login_step(_status_view(body), state)
        logger.info(
            "moxie task status",
            extra={
                "provider": self.name,
                "upstream_task_id": state["task_id"],
                "upstream_code": step.raw_code,
                "step": step.outcome,
                "guide_code": step.guide_code or None,
            },
        )
        return step

    # -- HTTP ------------------------------------------------------------------------------

    def _refused(
        self, status: int, body: Any, state: dict[str, Any], call: str
    ) -> CarrierStep:
        """A 4xx answer: a FAILED step when its detail means something to the user."""
        if status == 404 and state:
            return _gone(state, _detail(body))
        detail = _detail(body)
        if status == 400 and state and any(word in detail for word in _OUT_OF_TURN_WORDS):
            raise ProviderOutcomeUnknown(f"Moxie {call}: the task is not where we think: {detail}", state)
        guide = "" if status in _AUTH_STATUSES else guide_rules.guide_for_text(detail)
        if not guide:
            raise self._error(status, body, call)
        return CarrierStep(
            "FAILED",
            guide_code=guide,
            guide_message=codes.guide_message(guide),
            state=state,
            raw_code=str(status),
            raw_message=detail,
        )

    @staticmethod
    def _error(status: int, body: Any, call: str) -> ProviderError:
        detail = _detail(body)
        suffix = f": {detail}" if detail else ""
        return ProviderError(f"Moxie {call} answered HTTP {status}{suffix}")

    def _call(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        operation: str,
        changes_state: bool,
        secrets: Iterable[str] = (),
        attempt: int | None = None,
    ) -> tuple[int, Any]:
        """(HTTP status, parsed body: an object or None) for 2xx and 4xx; failures raise as the
        module docstring says.

        ``secrets``: values of this request that must not reach a message or a log even if the
        upstream quotes them in its ``detail``.
        """
        url = f"{self._base_url}{path}"
        where = f"{method} {safe_url(url)}"
        return http.exchange(
            method,
            url,
            provider=self.name,
            operation=operation,
            changes_state=changes_state,
            attempt=attempt,
            judge=lambda response: _judge(where, response, changes_state, secrets),
            json=payload,
            headers=self._headers,
            timeout=self._timeout,
        )


def _judge(where: str, response: requests.Response, changes_state: bool, secrets: Iterable[str]) -> tuple[int, Any]:
    """``MoxieProvider._call``'s answer: 429, 5xx and a 2xx that is not an object raise; the
    rest is (status, body) with ``secrets`` blanked in the ``detail``."""
    status = response.status_code
    body = _redacted(_body(response), secrets)
    detail = _detail(body)
    failure = f"{where} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        raise ProviderUnavailable(failure)
    if status >= 500:
        raise http.unsettled(failure, changes_state)
    if 200 <= status < 300 and not (body is None or isinstance(body, dict)):
        raise http.unsettled(f"{where} answered HTTP {status}, body not a JSON object", changes_state)
    return status, body


_NOT_JSON = object()


def _body(response: requests.Response) -> Any:
    """The JSON body; None when empty; ``_NOT_JSON`` otherwise (a text error page)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _redacted(body: Any, secrets: Iterable[str]) -> Any:
    """``body`` with the request's secret values blanked in its ``detail``."""
    if not isinstance(body, dict) or not isinstance(body.get("detail"), str):
        return body
    detail = body["detail"]
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "***")
    return {**body, "detail": detail}


def _detail(body: Any) -> str:
    if isinstance(body, dict) and body.get("detail") is not None:
        return str(body["detail"])[:_DETAIL_LIMIT]
    return ""


# -- status answers -------------------------------------------------------------------------


def _status_view(body: Any) -> dict[str, Any]:
    """The status fields the adapter uses, normalised. Without ``phase_status`` the answer is
    not the protocol: the (read-only) status call is unavailable."""
    if not isinstance(body, dict) or not isinstance(body.get("phase_status"), str):
        raise ProviderUnavailable("Moxie status answer lacks 'phase_status'")
    raw_input = body.get("input")
    return {
        "phase": str(body.get("phase") or "").upper(),
        "phase_status": body["phase_status"].upper(),
        "description": str(body.get("description") or ""),
        "finished": str(body.get("finished")).lower() == "true",
        "input": raw_input if isinstance(raw_input, dict) else {},
    }


def _login_step(view: dict[str, Any], state: dict[str, Any]) -> CarrierStep:
    """The one place where a status answer becomes a login step (table in the module doc)."""
    phase_status, description = view["phase_status"], view["description"]
    step = CarrierStep("WORKING", state=state, raw_code=phase_status, raw_message=description)
    match phase_status:
        case "WAIT_CODE":
            _need_input(step, view)
        case "DOING":
            if view["phase"] not in _LOGIN_PHASES:
                step.outcome = "COLLECTING"
        case "DONE_SUCC":
            step.outcome = "COLLECTING"
        case "DONE_FAIL":
            _failed(step, guide_rules.guide_for_text(description))
        case "DONE_TIMEOUT":
            _failed(step, codes.INPUT_TIMEOUT)
        case _:
            raise ProviderError(f"Moxie phase_status {phase_status!r} is not known")
    return step


def _need_input(step: CarrierStep, view: dict[str, Any]) -> None:
    input_type = str(view["input"].get("type") or "").upper()
    if input_type not in _INPUT_GUIDES:
        raise ProviderError(f"Moxie asks for an input of unknown type {input_type!r}")
    ask, wrong = _INPUT_GUIDES[input_type]
    step.state = {**step.state, "input_type": input_type}  # a copy: what resend asks for
    description = view["description"]
    guide = wrong if guide_rules.guide_for_text(description) == wrong else ask
    step.outcome = "NEED_INPUT"
    step.guide_code = guide
    if any(word in description for word in _INSTRUCTION_WORDS):
        step.guide_message = description
    else:
        step.guide_message = codes.guide_message(guide)
    if input_type == "IMG":
        image = view["input"].get("value")
        if not isinstance(image, str) or not image:
            raise ProviderUnavailable("Moxie asks for an image code without the image")
        step.auth_image = image


def _failed(step: CarrierStep, guide: str) -> None:
    step.outcome = "FAILED"
    step.guide_code = guide
    step.guide_message = codes.guide_message(guide)


def _gone(state: dict[str, Any], detail: str) -> CarrierStep:
    guide = codes.CODE_EXPIRED_RELOGIN
    return CarrierStep(
        "FAILED",
        guide_code=guide,
        guide_message=codes.guide_message(guide),
        state=state,
        raw_code="404",
        raw_message=detail or TASK_GONE,
    )


def _session_state(state: dict[str, Any]) -> dict[str, Any]:
    """The adapter's own keys of the session's provider state: the task, and the input type it
    last asked for (kept only when known, so ``resend`` asks for the right kind of code)."""
    task_id = state.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise ProviderError("Moxie state lacks 'task_id'")
    kept = {"task_id": task_id, "user_id": str(state.get("user_id") or "")}
    if state.get("input_type") in _INPUT_GUIDES:
        kept["input_type"] = state["input_type"]
    return kept


def _task_path(state: dict[str, Any]) -> str:
    return f"/carrier/v3/tasks/{quote(state['task_id'], safe='')}"
