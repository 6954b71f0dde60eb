"""Sandbox emulator of 魔蝎 Moxie carrier v3 (providers.md section 3). Local and tests only.

Served by ``SandboxProviders`` under ``PREFIX`` (more: ``sandbox.mount(prefix, MoxieEmulator(..))``);
the adapter's base URL is then ``sandbox.url(PREFIX)``. Tasks live in memory; the server calls
``handle`` under its lock, so the emulator itself is not thread-safe.

Calls (every one needs ``Authorization: apikey <apikey>``, else 401):

    POST /carrier/v3/tasks                  {account, password, user_id, ...} -> 201 {"task_id"}
    GET  /carrier/v3/tasks/{id}/status      -> 200 status (below), 404 when the task is unknown/gone
    POST /carrier/v3/tasks/{id}/input       {"input": "<code>"} -> 201 {}
    POST /carrier/v3/tasks/{id}/verifycode  {"type": "sms"} -> 201 {} (a new SMS code), or
                                            {"type": "img"} -> 201 {} (a new captcha image)

Status answer::

    {"task_id": "..", "phase": "LOGIN" | "CRAWL" | "DONE",
     "phase_status": "DOING" | "WAIT_CODE" | "DONE_SUCC" | "DONE_FAIL" | "DONE_TIMEOUT",
     "description": "..", "finished": false,
     "input": {"type": "SMS" | "IMG", "value": "<base64 PNG for IMG, else empty>"}}  # WAIT_CODE only

Errors: ``{"detail": "..", "instance": "<path>"}`` with 400 (bad body / out of turn), 401, 404,
405, and 503 for the provider-down scenario.

Progression: after a create, and after each input or resend that keeps the task in login, the
status answers phase ``LOGIN`` / ``DOING`` for ``login_polls`` calls, then the decision. After
the last correct code it answers ``CRAWL`` / ``DOING`` for ``crawl_polls`` calls, then the
row's ``crawl`` end (``DONE`` / ``DONE_SUCC``, ``finished: true``; else phase ``CRAWL``).
Finished tasks keep answering their last status.
SMS code ``SMS_CODE`` (123456) is right; any other answers ``WAIT_CODE`` SMS again with
"短信验证码错误，请重新输入". The image code is ``IMAGE_CODE`` (ab12, case-insensitive).
A resend is accepted while an SMS code is awaited: ``WAIT_CODE`` SMS "验证码已重新发送"; an image
refresh (type ``img``, an assumed type: the providers reference shows only ``sms``) while an
image code is awaited: ``WAIT_CODE`` IMG "图片验证码已刷新" with a new image. The other type
(sms while an image is awaited, img while an SMS code is) is a 400, "task is not waiting for ...".

What it does for a number (the account) - the login's decision, what an input or the right
code leads to, how the crawl ends, faults - is the number's ``moxie`` row in
``local.sandbox.scenarios``. Faults: ``DOWN``, the task creation answers HTTP 503; ``LATE``, the
input of the right code is answered ``late_answer_seconds`` after the task moved on to CRAWL (an
input that took effect and timed out); ``MAINTENANCE``, HTTP 200 with an HTML page to every
request while ``maintenance`` (shared with the server's other emulators, see
``local.sandbox.common.Maintenance``) says this emulator is down for that number.

Log lines (logger ``carrier_auth.sandbox``) carry the call, a masked mobile, a task id prefix
and the phase status: never a password, code, id number, name or image.
"""

from __future__ import annotations

import base64
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from .common import MAINTENANCE_PAGE, Late, Maintenance, Reply, Settings, logger, mask_mobile
from .scenarios import (
    DONE_FAIL,
    DONE_SUCC,
    DOWN,
    GONE,
    IMAGE_CODE,
    LATE,
    MAINTENANCE,
    SCENARIOS,
    SMS_CODE,
    WAIT_IMAGE,
    Moxie,
    scenario,
)

PREFIX = "/moxie"
DEFAULT_APIKEY = "sandbox-moxie-apikey"

# mobile -> the DONE_FAIL description the login ends with (a view of the table)
LOGIN_FAILURES: dict[str, str] = {
    row.mobile: row.moxie.login[1] for row in SCENARIOS if row.moxie.login[0] == DONE_FAIL
}

ASK_SMS = Moxie().login[1]
WRONG_SMS = "短信验证码错误，请重新输入"
WRONG_IMAGE = "图片验证码错误"
RESENT = "验证码已重新发送"
IMAGE_REFRESHED = "图片验证码已刷新"

_TASKS = "/carrier/v3/tasks"


def build(settings: Settings) -> MoxieEmulator:
    return MoxieEmulator(settings.moxie_apikey, late_answer_seconds=settings.late_answer_seconds)


def tiny_png(width: int = 16, height: int = 8, seed: int = 0) -> bytes:
    """A valid greyscale PNG (stdlib only): a striped pattern that varies with ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + bytes(((x * 37 + y * 59 + seed * 101) % 256) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def captcha_image(seed: int = 0) -> str:
    """Base64 of a small captcha PNG, as Moxie sends it in ``input.value``."""
    return base64.b64encode(tiny_png(seed=seed)).decode("ascii")


def _view(
    phase: str,
    phase_status: str,
    description: str = "",
    *,
    input_type: str = "",
    image: str = "",
    finished: bool = False,
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "phase": phase,
        "phase_status": phase_status,
        "description": description,
        "finished": finished,
    }
    if input_type:
        view["input"] = {"type": input_type, "value": image}
    return view


def _wait_sms(description: str = ASK_SMS) -> dict[str, Any]:
    return _view("LOGIN", "WAIT_CODE", description, input_type="SMS")


@dataclass
class _MoxieTask:
    task_id: str
    mobile: str
    # login_img -> login_sms -> (login_second_sms) -> crawl -> done; or failed / gone
    stage: str
    decision: dict[str, Any]
    doing_phase: str = "LOGIN"
    doing_left: int = 0
    images: int = 0
    rules: Moxie = field(init=False)

    def __post_init__(self) -> None:
        self.rules = scenario(self.mobile).moxie

    def after(self, phase: str, polls: int, decision: dict[str, Any]) -> None:
        """``polls`` status answers ``phase`` / DOING, then ``decision``."""
        self.doing_phase, self.doing_left, self.decision = phase, polls, decision


class MoxieEmulator:
    """Moxie carrier v3 tasks in memory (see the module docstring)."""

    def __init__(
        self,
        apikey: str = DEFAULT_APIKEY,
        login_polls: int = 1,
        crawl_polls: int = 1,
        late_answer_seconds: float = 12.0,
    ) -> None:
        """``late_answer_seconds``: how late the ``LATE`` scenario's accepted code is answered
        (set it above the gateway's upstream read timeout)."""
        self._apikey = apikey
        self._login_polls = login_polls
        self._crawl_polls = crawl_polls
        self._late_answer_seconds = late_answer_seconds
        self.maintenance = Maintenance()  # replaced by the server's when mounted
        self._tasks: dict[str, _MoxieTask] = {}

    def handle(self, method: str, path: str, query: Any, headers: Any, body: Any) -> Reply:
        if headers.get("Authorization") != f"apikey {self._apikey}":
            logger.info("sandbox moxie %s refused: bad apikey", _route(path))
            return _error(401, "invalid apikey", path)
        if path == _TASKS:
            if method != "POST":
                return _error(405, "method not allowed", path)
            account = body.get("account") if isinstance(body, dict) else None
            return self._maintenance_page(account, login=True) or self._create(body, path)
        parts = path.removeprefix(_TASKS + "/").split("/")
        if not path.startswith(_TASKS + "/") or len(parts) != 2:
            return _error(404, "not found", path)
        task_id, action = parts
        expected = {"status": "GET", "input": "POST", "verifycode": "POST"}.get(action)
        if expected is None:
            return _error(404, "not found", path)
        if method != expected:
            return _error(405, "method not allowed", path)
        task = self._tasks.get(task_id)
        if task is None or task.stage == "gone":
            logger.info("sandbox moxie %s task=%s unknown", action, task_id[:8])
            return _error(404, "task not found", path)
        page = self._maintenance_page(task.mobile, login=False)
        if page:
            return page
        if action == "status":
            return self._status(task)
        if action == "input":
            return self._input(task, body, path)
        return self._verifycode(task, body, path)

    # -- calls -----------------------------------------------------------------------------

    def _create(self, body: Any, path: str) -> Reply:
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", path)
        mobile = body.get("account")
        for key in ("account", "password", "user_id"):
            if not isinstance(body.get(key), str) or not body[key]:
                logger.info("sandbox moxie create mobile=%s refused: no %s", mask_mobile(mobile), key)
                return _error(400, f"{key} is required", path)
        if not (len(mobile) == 11 and mobile.isdigit()):
            logger.info("sandbox moxie create refused: bad account")
            return _error(400, "手机号码不正确", path)
        if scenario(mobile).moxie.fault == DOWN:
            logger.info("sandbox moxie create mobile=%s -> 503", mask_mobile(mobile))
            return _error(503, "service unavailable", path)
        task_id = uuid.uuid4().hex
        task = self._first_decision(task_id, mobile)
        self._tasks[task_id] = task
        logger.info("sandbox moxie create mobile=%s task=%s", mask_mobile(mobile), task_id[:8])
        return 201, {"task_id": task_id}

    def _first_decision(self, task_id: str, mobile: str) -> _MoxieTask:
        status, description = scenario(mobile).moxie.login
        if status == DONE_FAIL:
            task = _MoxieTask(task_id, mobile, "failed", _view("LOGIN", DONE_FAIL, description))
        elif status == WAIT_IMAGE:
            task = _MoxieTask(task_id, mobile, "login_img", {})
            task.decision = self._wait_image(task, description)
        else:
            task = _MoxieTask(task_id, mobile, "login_sms", _wait_sms(description))
        task.doing_left = self._login_polls
        return task

    def _status(self, task: _MoxieTask) -> Reply:
        if task.doing_left > 0:
            task.doing_left -= 1
            view = _view(task.doing_phase, "DOING", "正在登录" if task.doing_phase == "LOGIN" else "正在采集")
        else:
            view = task.decision
        logger.info(
            "sandbox moxie status mobile=%s task=%s -> %s/%s",
            mask_mobile(task.mobile),
            task.task_id[:8],
            view["phase"],
            view["phase_status"],
        )
        return 200, {"task_id": task.task_id, **view}

    def _input(self, task: _MoxieTask, body: Any, path: str) -> Reply:
        code = body.get("input") if isinstance(body, dict) else None
        if not isinstance(code, str) or not code:
            return _error(400, "input is required", path)
        if not self._awaiting_input(task):
            logger.info("sandbox moxie input mobile=%s refused: not waiting", mask_mobile(task.mobile))
            return _error(400, "task is not waiting for an input", path)
        outcome = self._take_input(task, code)
        logger.info("sandbox moxie input mobile=%s task=%s -> %s", mask_mobile(task.mobile), task.task_id[:8], outcome)
        if task.rules.fault == LATE and outcome == "crawling":
            return 201, Late({}, self._late_answer_seconds)
        return 201, {}

    def _take_input(self, task: _MoxieTask, code: str) -> str:
        """Move the task on after an input; a short word for the log (never the code)."""
        login, rules = self._login_polls, task.rules
        if rules.after_input is not None:
            status, description = rules.after_input
            if status == GONE:
                task.stage = "gone"
                return "gone"
            task.stage = "failed"
            task.after("LOGIN", login, _view("LOGIN", status, description))
            return status.lower()
        if task.stage == "login_img":
            if code.lower() != IMAGE_CODE:
                task.after("LOGIN", login, self._wait_image(task, WRONG_IMAGE))
                return "wrong image code"
            task.stage = "login_sms"
            task.after("LOGIN", login, _wait_sms())
            return "image ok"
        if code != SMS_CODE:
            task.after("LOGIN", login, _wait_sms(WRONG_SMS))
            return "wrong sms code"
        if rules.second_code and task.stage == "login_sms":
            task.stage = "login_second_sms"
            task.after("LOGIN", login, _wait_sms(rules.second_code))
            return "second sms"
        task.stage = "crawl"
        status, description = rules.crawl
        if status == DONE_SUCC:
            task.after("CRAWL", self._crawl_polls, _view("DONE", DONE_SUCC, description, finished=True))
        else:
            task.after("CRAWL", self._crawl_polls, _view("CRAWL", status, description))
        return "crawling"

    def _verifycode(self, task: _MoxieTask, body: Any, path: str) -> Reply:
        kind = str(body.get("type", "")).lower() if isinstance(body, dict) else ""
        if kind not in ("sms", "img"):
            return _error(400, "type must be sms or img", path)
        stages: tuple[str, ...]
        if kind == "img":
            stages, awaited = ("login_img",), "an image code"
        else:
            stages, awaited = ("login_sms", "login_second_sms"), "an SMS code"
        if task.stage not in stages or not self._awaiting_input(task):
            logger.info("sandbox moxie verifycode %s mobile=%s refused: not waiting", kind, mask_mobile(task.mobile))
            return _error(400, f"task is not waiting for {awaited}", path)
        if kind == "img":
            task.after("LOGIN", self._login_polls, self._wait_image(task, IMAGE_REFRESHED))
        else:
            task.after("LOGIN", self._login_polls, _wait_sms(RESENT))
        logger.info("sandbox moxie verifycode %s mobile=%s task=%s resent", kind, mask_mobile(task.mobile), task.task_id[:8])
        return 201, {}

    # -- helpers ---------------------------------------------------------------------------

    def _maintenance_page(self, mobile: Any, login: bool) -> Reply | None:
        """The maintenance page for a request about a ``MAINTENANCE`` number while this emulator
        is the one down for it; ``login``: the request creates a task."""
        if scenario(mobile).moxie.fault != MAINTENANCE or not self.maintenance.applies(self, login):
            return None
        logger.info("sandbox moxie %s mobile=%s -> maintenance page", "create" if login else "task", mask_mobile(mobile))
        return 200, MAINTENANCE_PAGE

    @staticmethod
    def _awaiting_input(task: _MoxieTask) -> bool:
        return task.doing_left == 0 and task.decision.get("phase_status") == "WAIT_CODE"

    @staticmethod
    def _wait_image(task: _MoxieTask, description: str) -> dict[str, Any]:
        task.images += 1
        return _view("LOGIN", "WAIT_CODE", description, input_type="IMG", image=captcha_image(task.images))


def _route(path: str) -> str:
    """The call's name for a log line (no task id)."""
    return path.rsplit("/", 1)[-1] if path.startswith(_TASKS + "/") else path


def _error(status: int, detail: str, path: str) -> Reply:
    return status, {"detail": detail, "instance": path}
