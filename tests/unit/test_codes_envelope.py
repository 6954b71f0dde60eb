"""codes.py and envelope.py against the app-facing contract (seed 000)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from carrier_auth import codes, envelope

SEED_000 = Path(os.environ.get("CARRIER_AUTH_SEED_000", "/work/shared/seeds/000_730d06d8d23c7609.txt"))
_ROW = re.compile(r"^\|\s*(?P<code>[^|]+?)\s*\|\s*(?P<text>[^|]+?)\s*\|\s*$")


def _seed_text() -> str:
    if not SEED_000.is_file():
        pytest.skip(f"seed 000 not found at {SEED_000} (set CARRIER_AUTH_SEED_000)")
    return SEED_000.read_text(encoding="utf-8")


def _first_table_after(marker: str) -> dict[str, str]:
    """The first two-column markdown table after the first line starting with ``marker``."""
    lines = _seed_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(marker))
    rows: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        match = _ROW.match(line)
        if not match or match["code"] in ("code", ":---") or set(match["code"]) <= {":", "-"}:
            continue
        code = match["code"].replace("\\_", "_").replace("*", "")
        rows[code] = match["text"].replace("\\_", "_")
    return rows


@pytest.fixture(scope="module")
def seed_guide_table() -> dict[str, str]:
    return _first_table_after("@guide\\_code demo")


def test_seed_guide_table_parsed(seed_guide_table: dict[str, str]) -> None:
    assert len(seed_guide_table) == 25
    assert seed_guide_table["90001"] == "请输入短信验证码"
    assert seed_guide_table["90035"] == "运营商系统繁忙"


def test_guide_messages_match_seed_exactly(seed_guide_table: dict[str, str]) -> None:
    assert codes.GUIDE_MESSAGES == seed_guide_table


def test_code_messages_match_seed() -> None:
    assert codes.CODE_MESSAGES == _first_table_after("@code demo")
    assert (codes.SYSTEM_ERROR, codes.IN_PROGRESS, codes.SUBMITTED) == ("103", "104", "105")


def test_callback_vocabulary_matches_seed() -> None:
    table = _first_table_after("## **异步回调返回数据**")
    assert table["error_message"].split("、") == [
        codes.CALLBACK_MESSAGES["success"],
        codes.CALLBACK_MESSAGES["defeat"],
        codes.CALLBACK_MESSAGES["error"],
    ]
    assert table["error_code"].split("、") == [codes.CALLBACK_SUCCESS, codes.CALLBACK_DEFEAT]


def test_every_named_guide_constant_is_in_the_table() -> None:
    named = {
        value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"900\d\d", value)
    }
    assert named == set(codes.GUIDE_MESSAGES) | set(codes.EXTENSION_MESSAGES)
    assert not set(codes.GUIDE_MESSAGES) & set(codes.EXTENSION_MESSAGES)  # extensions use unused slots
    # a few names against their seed meaning
    assert codes.guide_message(codes.BAD_MOBILE) == "账号（手机号）错误，请检查后重试"
    assert codes.guide_message(codes.BAD_ID_NUMBER) == "身份证号码为空或者不合法"
    assert codes.guide_message(codes.BAD_NAME) == "用户名不正确"
    assert codes.guide_message(codes.INPUT_TIMEOUT) == "等待用户输入验证码超时"


def test_all_codes_are_strings() -> None:
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in codes.GUIDE_MESSAGES.items())
    assert all(isinstance(k, str) for k in codes.CODE_MESSAGES)


def test_unknown_guide_code_has_empty_message() -> None:
    assert codes.guide_message("99999") == ""
    assert codes.guide_message("") == ""


# --- envelope -------------------------------------------------------------------------------


def test_envelope_fields_and_defaults() -> None:
    before = int(time.time() * 1000)
    body = envelope.envelope(codes.SUBMITTED)
    after = int(time.time() * 1000)

    assert set(body) == {"code", "message", "trace_id", "date_stamp", "data"}
    assert body["code"] == "105" and isinstance(body["code"], str)
    assert body["message"] == "提交成功，后台认证中，认证结果会通过回调通知APP"
    assert body["data"] == {}
    assert isinstance(body["date_stamp"], str) and body["date_stamp"].isdigit()
    assert len(body["date_stamp"]) == 13  # milliseconds
    assert before <= int(body["date_stamp"]) <= after
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"])


def test_trace_id_is_fresh_on_every_call() -> None:
    ids = {envelope.envelope(codes.IN_PROGRESS)["trace_id"] for _ in range(50)}
    ids |= {envelope.new_trace_id() for _ in range(50)}
    assert len(ids) == 100


def test_envelope_explicit_values_are_kept() -> None:
    data = envelope.task_data("task-1", "90001", "请输入短信验证码")
    body = envelope.envelope("103", "自定义", data, trace_id="abc")
    assert (body["code"], body["message"], body["trace_id"]) == ("103", "自定义", "abc")
    assert body["data"] == {
        "task_id": "task-1",
        "guide_code": "90001",
        "guide_message": "请输入短信验证码",
        "auth_code": "",
    }
    # an explicit empty message stays empty (None means "the code's default")
    assert envelope.envelope("103", "")["message"] == ""
    assert envelope.envelope("103", None)["message"] == "系统异常"


def test_task_data_has_the_seed_data_fields() -> None:
    assert set(envelope.task_data()) == {"task_id", "guide_code", "guide_message", "auth_code"}
    assert all(v == "" for v in envelope.task_data().values())


@pytest.mark.parametrize("guide_code", sorted(codes.GUIDE_MESSAGES))
def test_guide_answer_for_every_guide_code(guide_code: str) -> None:
    body = envelope.guide("task-9", guide_code)
    text = codes.GUIDE_MESSAGES[guide_code]
    assert body["code"] == "104"
    assert body["message"] == text
    assert body["data"] == {"task_id": "task-9", "guide_code": guide_code, "guide_message": text, "auth_code": ""}


def test_guide_answer_with_custom_message_and_trace_id() -> None:
    body = envelope.guide("task-9", "", "处理中", trace_id="t-1")
    assert (body["code"], body["message"], body["trace_id"]) == ("104", "处理中", "t-1")
    assert body["data"]["guide_code"] == "" and body["data"]["guide_message"] == "处理中"


def test_http_renders_utf8_json_without_escapes() -> None:
    body = envelope.guide("task-1", codes.BAD_MOBILE)
    resp = envelope.http(200, body)

    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "账号（手机号）错误" in resp.body  # ensure_ascii=False: no \\uXXXX escapes
    assert "\\u" not in resp.body
    assert json.loads(resp.body) == body


def test_http_status_is_passed_through() -> None:
    resp = envelope.http(400, envelope.envelope(codes.SYSTEM_ERROR, "缺少必填字段: userId"))
    assert resp.status_code == 400
    assert json.loads(resp.body)["message"] == "缺少必填字段: userId"
