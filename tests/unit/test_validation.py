"""validation.py: request shape (HTTP 400, code 103, naming the field) and identity content
(guide codes 90012 / 90005 / 90004)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from carrier_auth import codes
from carrier_auth.errors import ApiError
from carrier_auth.validation import (
    StartRequest,
    SubmitRequest,
    TaskRequest,
    identity_guide_code,
    normalise_id_number,
    normalise_mobile,
    parse,
    valid_name,
)

MOBILE = "13800138000"
ID_NUMBER = "11010519491231002X"
NAME = "张三"


def start_body(**changes: Any) -> dict[str, Any]:
    body = {
        "userId": f"user-{uuid.uuid4().hex[:8]}",
        "mobile_no": MOBILE,
        "identity_card": ID_NUMBER,
        "name": NAME,
        "password": "123456",
        "submitTime": 1700000000000,
        "callback_set": {"callback_url": "https://app.example.com/cb", "token": "tok-1"},
    }
    body.update(changes)
    return body


def task_body(**changes: Any) -> dict[str, Any]:
    body = {
        "userId": f"user-{uuid.uuid4().hex[:8]}",
        "traceId": uuid.uuid4().hex,
        "task_id": f"task-{uuid.uuid4().hex}",
        "mobile_no": MOBILE,
        "identity_card": ID_NUMBER,
        "submitTime": 1700000000000,
        "callback_set": {"callback_url": "https://app.example.com/cb", "token": "tok-1"},
    }
    body.update(changes)
    return body


def submit_body(**changes: Any) -> dict[str, Any]:
    return task_body(auth_code="123456", **changes)


def refused(model: type, body: Any) -> ApiError:
    raw = body if isinstance(body, str) or body is None else json.dumps(body, ensure_ascii=False)
    with pytest.raises(ApiError) as info:
        parse(model, raw)
    assert info.value.status == 400
    assert info.value.code == codes.SYSTEM_ERROR
    return info.value


# --- shape ------------------------------------------------------------------------------------


def test_valid_start_request() -> None:
    body = start_body()
    req = parse(StartRequest, json.dumps(body, ensure_ascii=False))
    assert req.userId == body["userId"]
    assert (req.mobile_no, req.identity_card, req.name, req.password) == (MOBILE, ID_NUMBER, NAME, "123456")
    assert req.submitTime == 1700000000000
    assert req.callback_set.callback_url == "https://app.example.com/cb"
    assert req.callback_set.token == "tok-1"


def test_valid_submit_and_task_requests() -> None:
    sub = parse(SubmitRequest, json.dumps(submit_body()))
    assert sub.auth_code == "123456" and sub.task_id.startswith("task-")
    task = parse(TaskRequest, json.dumps(task_body()))
    assert task.traceId and task.callback_set is not None


@pytest.mark.parametrize(
    ("model", "factory", "fields"),
    [
        (
            StartRequest,
            start_body,
            ["userId", "mobile_no", "identity_card", "name", "password", "submitTime", "callback_set"],
        ),
        (
            SubmitRequest,
            submit_body,
            ["userId", "traceId", "task_id", "mobile_no", "auth_code", "identity_card", "submitTime"],
        ),
        (TaskRequest, task_body, ["userId", "traceId", "task_id", "mobile_no", "identity_card", "submitTime"]),
    ],
    ids=["start", "submit", "task"],
)
def test_each_missing_required_field_is_named(model: type, factory: Any, fields: list[str]) -> None:
    for field in fields:
        body = factory()
        del body[field]
        assert refused(model, body).message == f"缺少必填字段: {field}", field


@pytest.mark.parametrize("field", ["userId", "mobile_no", "identity_card", "name", "password"])
def test_empty_string_counts_as_missing(field: str) -> None:
    assert refused(StartRequest, start_body(**{field: ""})).message == f"缺少必填字段: {field}"


def test_missing_callback_url_inside_callback_set_is_named() -> None:
    err = refused(StartRequest, start_body(callback_set={"token": "x"}))
    assert err.message == "缺少必填字段: callback_set.callback_url"


def test_empty_object_names_the_first_field() -> None:
    assert refused(StartRequest, {}).message == "缺少必填字段: userId"


@pytest.mark.parametrize("raw", ["", None, "{", "not json", "{'userId': 1}"])
def test_non_json_body(raw: str | None) -> None:
    err = refused(StartRequest, raw)
    assert err.message == "请求体不是合法的JSON"


@pytest.mark.parametrize("raw", ["[]", "[1, 2]", '"text"', "42", "null", "true"])
def test_non_object_json(raw: str) -> None:
    assert refused(StartRequest, raw).message == "请求体必须是JSON对象"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("submitTime", "soon"),
        ("submitTime", 1.5),
        ("submitTime", {"t": 1}),
        ("userId", ["u"]),
        ("userId", None),
        ("name", {"first": "三"}),
        ("password", "x" * 129),
        ("callback_set", 12),
        ("callback_set", "[1]"),
        ("callback_set", "not json"),
    ],
)
def test_wrong_type_is_named(field: str, value: Any) -> None:
    assert refused(StartRequest, start_body(**{field: value})).message == f"字段格式错误: {field}"


def test_wrong_type_inside_callback_set_is_named() -> None:
    err = refused(StartRequest, start_body(callback_set={"callback_url": ["x"], "token": "t"}))
    assert err.message == "字段格式错误: callback_set.callback_url"


def test_callback_set_as_json_string() -> None:
    text = json.dumps({"callback_url": "https://app.example.com/hook", "token": "abc"})
    req = parse(StartRequest, json.dumps(start_body(callback_set=text)))
    assert req.callback_set.callback_url == "https://app.example.com/hook"
    assert req.callback_set.token == "abc"
    # a JSON-string callback_set without callback_url names the nested field
    err = refused(StartRequest, start_body(callback_set="{}"))
    assert err.message == "缺少必填字段: callback_set.callback_url"


def test_callback_set_as_json_string_on_submit() -> None:
    text = json.dumps({"callback_url": "https://app.example.com/hook"})
    req = parse(SubmitRequest, json.dumps(submit_body(callback_set=text)))
    assert req.callback_set.callback_url == "https://app.example.com/hook"
    assert req.callback_set.token == ""


def test_numbers_are_accepted_for_string_fields_and_strings_stripped() -> None:
    body = start_body(mobile_no=13800138000, userId="  u-1  ", submitTime="1700000000001")
    req = parse(StartRequest, json.dumps(body))
    assert req.mobile_no == "13800138000"
    assert req.userId == "u-1"
    assert req.submitTime == 1700000000001


def test_unknown_fields_are_ignored() -> None:
    req = parse(StartRequest, json.dumps(start_body(extra_field="whatever")))
    assert not hasattr(req, "extra_field")


# --- identity content -------------------------------------------------------------------------


@pytest.mark.parametrize("mobile", ["12345", "01012345678", "+14155550100", "1380013800", "23800138000", ""])
def test_bad_mobile_is_90012(mobile: str) -> None:
    assert normalise_mobile(mobile) is None
    assert identity_guide_code(mobile, ID_NUMBER, NAME) == codes.BAD_MOBILE == "90012"


@pytest.mark.parametrize("mobile", ["13800138000", "+86 13800138000", "+8613800138000", "138 0013 8000"])
def test_valid_mobile(mobile: str) -> None:
    assert normalise_mobile(mobile) == "13800138000"
    assert identity_guide_code(mobile, ID_NUMBER, NAME) == ""


@pytest.mark.parametrize("id_number", ["110105194912310021", "11010519491231002", "1101051949123100XX", ""])
def test_bad_id_number_is_90005(id_number: str) -> None:
    assert normalise_id_number(id_number) is None
    assert identity_guide_code(MOBILE, id_number, NAME) == codes.BAD_ID_NUMBER == "90005"


@pytest.mark.parametrize("id_number", ["11010519491231002X", "11010519491231002x"])
def test_valid_id_number_upper_and_lower_x(id_number: str) -> None:
    assert normalise_id_number(id_number) == "11010519491231002X"
    assert identity_guide_code(MOBILE, id_number, NAME) == ""


@pytest.mark.parametrize("name", ["x", "张三3", "张", "", "张 ", "<script>", "张三" * 20])
def test_bad_name_is_90004(name: str) -> None:
    assert not valid_name(name)
    assert identity_guide_code(MOBILE, ID_NUMBER, name) == codes.BAD_NAME == "90004"


@pytest.mark.parametrize("name", ["张三", "阿卜杜·热合曼", "欧阳娜娜", "Li Lei"])
def test_valid_names(name: str) -> None:
    assert valid_name(name)
    assert identity_guide_code(MOBILE, ID_NUMBER, name) == ""


def test_name_is_optional_for_identity_check() -> None:
    # realname (驭信) asks without a name
    assert identity_guide_code(MOBILE, ID_NUMBER, None) == ""


def test_first_bad_field_wins_phone_then_id_then_name() -> None:
    assert identity_guide_code("12345", "110105194912310021", "x") == codes.BAD_MOBILE
    assert identity_guide_code(MOBILE, "110105194912310021", "x") == codes.BAD_ID_NUMBER
    assert identity_guide_code(MOBILE, ID_NUMBER, "x") == codes.BAD_NAME
