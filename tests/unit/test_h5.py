"""The hosted page's pure parts: which step a session is at, what each guide code tells the
user, the return URL, the headers, the page's files and its URL."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lambda_context import LambdaContext
from carrier_auth import codes, h5, sessions

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "functions" / "h5" / "static"


def session(status: str, guide_code: str = "", **extra: Any) -> dict[str, Any]:
    answer = sessions.answer(codes.IN_PROGRESS, guide_code) if guide_code else sessions.answer(codes.SUBMITTED)
    return {
        "task_id": "t-1",
        "status": status,
        "trace_id": "trace-1",
        "answer": answer,
        "return_url": "https://app.example.com/back?from=h5",
        **extra,
    }


def test_every_guide_code_has_advice_for_the_user() -> None:
    every = set(codes.GUIDE_MESSAGES) | set(codes.EXTENSION_MESSAGES)
    assert set(codes.USER_NEXT_ACTIONS) == every
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in codes.USER_NEXT_ACTIONS.values())


@pytest.mark.parametrize(
    ("status", "guide_code", "extra", "step"),
    [
        (sessions.AWAITING_USER, "", {}, "form"),
        (sessions.PENDING, "", {}, "processing"),
        (sessions.PROCESSING, "", {}, "processing"),
        (sessions.WAITING_INPUT, codes.NEED_SMS_CODE, {}, "sms"),
        (sessions.WAITING_INPUT, codes.WRONG_SMS_CODE, {}, "sms"),
        (sessions.WAITING_INPUT, codes.NEED_IMAGE_CODE, {}, "image"),
        (sessions.WAITING_INPUT, codes.WRONG_IMAGE_CODE, {}, "image"),
        (sessions.WAITING_INPUT, codes.NEED_QUERY_PASSWORD, {}, "query_password"),
        (sessions.WAITING_INPUT, codes.WRONG_QUERY_PASSWORD, {}, "query_password"),
        # a busy carrier after a captcha: the task still waits for the image text
        (sessions.WAITING_INPUT, codes.CARRIER_BUSY, {"input_guide": codes.NEED_IMAGE_CODE}, "image"),
        (sessions.WAITING_INPUT, codes.CARRIER_BUSY, {}, "sms"),
        (sessions.COLLECTING, "", {}, "waiting"),
        *((status, "", {}, "done") for status in sessions.FINAL),
    ],
)
def test_the_step_follows_the_session(status: str, guide_code: str, extra: dict, step: str) -> None:
    assert h5.page_state(session(status, guide_code, **extra))["data"]["step"] == step


def test_the_end_returns_to_the_app_with_the_outcome() -> None:
    data = h5.page_state(session(sessions.FAILED, codes.WRONG_PASSWORD))["data"]
    assert data["result"] == "FAILED"
    assert data["return_url"] == "https://app.example.com/back?from=h5&task_id=t-1&result=FAILED&guide_code=90006"
    assert data["next_action"] == codes.USER_NEXT_ACTIONS[codes.WRONG_PASSWORD]
    defeat = h5.page_state(session(sessions.DEFEAT))["data"]
    assert defeat["return_url"].endswith("task_id=t-1&result=DEFEAT") and defeat["next_action"]
    assert h5.page_state(session(sessions.SUCCESS))["data"]["next_action"] == ""


def test_the_resend_countdown_follows_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESEND_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("RESEND_LIMIT", "5")
    sent = int(time.time()) - 20
    data = h5.page_state(session(sessions.WAITING_INPUT, codes.NEED_SMS_CODE, code_sent_at=sent, resends=2))["data"]
    assert 39 <= data["resend"]["wait_seconds"] <= 40 and data["resend"]["left"] == 3
    never = h5.page_state(session(sessions.WAITING_INPUT, codes.NEED_IMAGE_CODE, resends=9))["data"]
    assert never["resend"] == {"wait_seconds": 0, "left": 0}


def test_a_facade_answer_about_the_same_checkpoint_is_shown() -> None:
    current = session(sessions.WAITING_INPUT, codes.NEED_SMS_CODE)
    refused = {"code": "104", "message": "短信验证码发送过于频繁", "trace_id": "trace-1",
               "data": {"guide_code": codes.SMS_TOO_FREQUENT, "guide_message": "短信验证码发送过于频繁"}}
    state = h5.page_state(current, refused)
    assert state["data"]["guide_code"] == codes.SMS_TOO_FREQUENT and state["data"]["step"] == "sms"
    older = {**refused, "trace_id": "trace-0"}  # about an earlier checkpoint: the session wins
    assert h5.page_state(current, older)["data"]["guide_code"] == codes.NEED_SMS_CODE


def test_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = h5.security_headers(https=True)
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" in headers
    monkeypatch.setenv("H5_FRAME_ANCESTORS", "'self' https://app.example.com")
    framed = h5.security_headers(https=False)
    assert "frame-ancestors 'self' https://app.example.com" in framed["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed and "Strict-Transport-Security" not in framed
    assert "unsafe" not in framed["Content-Security-Policy"]


def test_the_page_files_are_small_self_contained_and_versioned(tmp_path: Path) -> None:
    assets = h5.Assets(STATIC)
    assert set(assets.files) == {"index.html", "app.css", "app.js"}
    assert sum(len(text.encode()) for text in assets.files.values()) <= 100 * 1024
    page = assets.page('/v1/h5/"><script>')
    assert "{{" not in page and '"><script>' not in page and "&quot;&gt;&lt;script&gt;" in page
    assert f"app.js?v={assets.version}" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page and " style=" not in page
    assert not re.search(r"https?://", page)
    js = assets.files["app.js"]
    assert not re.search(r"localStorage|sessionStorage|indexedDB|document\.cookie|eval\(|new Function", js)
    for name, content in assets.files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    (tmp_path / "app.js").write_text(js + "\n", encoding="utf-8")
    assert h5.Assets(tmp_path).version != assets.version


def test_links_and_cookies_follow_the_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    event = {
        "path": "/carrier/auth/h5",
        "headers": {"Host": "abc.execute-api.cn-north-1.amazonaws.com.cn"},
        "requestContext": {"path": "/v1/carrier/auth/h5", "domainName": "abc.execute-api.cn-north-1.amazonaws.com.cn"},
    }
    assert h5.public_base(event) == "https://abc.execute-api.cn-north-1.amazonaws.com.cn/v1"
    monkeypatch.setenv("H5_BASE_URL", "https://auth.example.com/carrier/")
    assert h5.public_base(event) == "https://auth.example.com/carrier"
    page_event = {"path": "/h5/t-1/api/session", "requestContext": {"path": "/v1/h5/t-1/api/session"},
                  "headers": {"X-Forwarded-Proto": "https"}}
    cookie = str(h5._set_cookie(page_event, "t-1", "v"))
    assert "Path=/v1/h5/t-1" in cookie and "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    assert h5._cookie({"headers": {"cookie": "a=1; carrier_auth_h5=xyz; b=2"}}) == "xyz"
    assert h5._cookie({"headers": {"Cookie": "carrier_auth_h5="}}) == ""




def test_the_page_handler_serves_its_event() -> None:
    """functions/h5/app.py with events/h5/page.json, as `sam local invoke` would run it."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("h5_page_app", ROOT / "functions/h5/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = json.loads((ROOT / "events/h5/page.json").read_text(encoding="utf-8"))
    result = module.lambda_handler(event, LambdaContext("H5PageFunction"))
    assert result["statusCode"] == 200 and not result["isBase64Encoded"]
    headers = result["multiValueHeaders"]
    assert headers["Content-Type"] == ["text/html; charset=utf-8"]
    assert headers["Cache-Control"] == ["no-store"] and "Strict-Transport-Security" in headers
    base = "/v1/h5/5d1c4b8e-2f7a-4c3e-9b61-0a8f3e7d2c14"
    assert f'<meta name="h5-base" content="{base}">' in result["body"]
    assert f'src="{base}/app.js?v=' in result["body"]
