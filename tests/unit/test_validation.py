"""validation.py: request shape (HTTP 400, code 103, naming the field) and identity content
(guide codes 90012 / 90005 / 90004)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from stdnum.iso7064 import mod_11_2

from carrier_auth import codes
from carrier_auth.errors import ApiError
from carrier_auth.validation import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    IdentityRequest,
    StartRequest,
    SubmitRequest,
    TaskRequest,
    identity_guide_code,
    load_json,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
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
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body, ensure_ascii=False)
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


# --- names as people have them -------------------------------------------------------------------

# (as typed, as the model hands it to the facade)
NAMES = [
    ("张三", "张三"),
    ("欧阳娜娜", "欧阳娜娜"),
    ("李𡒄", "李𡒄"),  # Extension B
    ("王〇", "王〇"),  # U+3007
    ("佐々木", "佐々木"),
    ("阿卜杜·热合曼", "阿卜杜·热合曼"),  # U+00B7 itself
    ("阿卜杜・热合曼", "阿卜杜·热合曼"),  # U+30FB katakana middle dot
    ("阿卜杜．热合曼", "阿卜杜·热合曼"),  # U+FF0E fullwidth full stop
    ("买买提•吐尔逊", "买买提·吐尔逊"),  # U+2022 bullet
    ("阿卜杜‧热合曼", "阿卜杜·热合曼"),  # U+2027 hyphenation point
    ("阿卜杜･热合曼", "阿卜杜·热合曼"),  # U+FF65 halfwidth katakana middle dot
    ("阿卜杜∙热合曼", "阿卜杜·热合曼"),  # U+2219 bullet operator
    ("阿卜杜⋅热合曼", "阿卜杜·热合曼"),  # U+22C5 dot operator
    ("阿卜杜\u0387热合曼", "阿卜杜·热合曼"),  # U+0387 Greek ano teleia (NFC: U+00B7)
    ("阿卜杜\u2e31热合曼", "阿卜杜·热合曼"),  # U+2E31 word separator middle dot
    ("阿卜杜\ua78f热合曼", "阿卜杜·热合曼"),  # U+A78F Latin letter sinological dot
    ("阿卜杜.热合曼", "阿卜杜·热合曼"),  # ASCII "." between CJK parts
    ("阿卜杜。热合曼", "阿卜杜·热合曼"),  # what a Chinese IME types for "."
    ("阿卜杜 · 热合曼", "阿卜杜·热合曼"),
    ("阿卜杜··热合曼", "阿卜杜·热合曼"),  # a double dot
    ("·阿卜杜·热合曼·", "阿卜杜·热合曼"),  # leading and trailing dots
    ("阿卜杜·热合曼·买买提", "阿卜杜·热合曼·买买提"),
    ("王  五", "王五"),  # the usual alignment of two-character names
    ("\u3000张三\u3000", "张三"),
    ("张\u200b三", "张三"),  # a zero-width space
    ("葛\U000e0100优", "葛优"),  # an ideographic variation selector keeps its base
    ("\U00020000\U0002a700", "\U00020000\U0002a700"),  # Extensions B, C
    ("\U0002b740\U0002b820", "\U0002b740\U0002b820"),  # D, E
    ("\U0002ceb0\U0002ebf0", "\U0002ceb0\U0002ebf0"),  # F, I (Unicode 15.1: unassigned for Python 3.11)
    ("\U00030000\U00031350", "\U00030000\U00031350"),  # G, H (Unicode 15.0)
    ("\u3400\u4dbf", "\u3400\u4dbf"),  # Extension A, first and last
    ("\u9fff\u4e00", "\u9fff\u4e00"),  # URO's last code point (unassigned before Unicode 14)
    ("\ufa0e\ufa0f", "\ufa0e\ufa0f"),  # compatibility block, unified ideographs (no decomposition)
    ("\uf900\u4e00", "\u8c48\u4e00"),  # a compatibility ideograph: NFC gives its unified form
    ("\U0002f800\u4e00", "\u4e3d\u4e00"),  # ... from the compatibility supplement
    ("张" * 30, "张" * 30),
    ("Li Lei", "Li Lei"),
    ("  John   Smith ", "John Smith"),
    ("Jean-Luc O’Neil", "Jean-Luc O'Neil"),
    ("José Müller", "José Müller"),
    ("Jose\u0301 Mu\u0308ller", "José Müller"),  # NFC
    ("Nguyễn Văn An", "Nguyễn Văn An"),
    ("J. R. R. Tolkien", "J. R. R. Tolkien"),
    ("MUHAMMAD ABDUL RAHMAN BIN ISMAIL", "MUHAMMAD ABDUL RAHMAN BIN ISMAIL"),
    ("Ｌｉ\u3000Ｌｅｉ", "Li Lei"),  # fullwidth letters
    ("Al", "Al"),
]

BAD_NAMES = [
    "",
    " ",
    "x",
    "张",
    "张·",
    "·",
    "··",
    "张三3",
    "张3",
    "123",
    "１２",
    "张三A",  # mixed scripts
    "Li 李",
    "张-三",  # punctuation other than the dots
    "张,三",
    "张_三",
    "张!",
    "<script>",
    "张三😀",
    "😀😀",
    "\ufffd\ufffd",
    "张\ufffd",
    "张\x00三",
    "张\n三",
    "张\t三",
    "\u202e张三",  # a bidi override
    "ひらがな",
    "카나다",
    "Иван Петров",
    "ⅠⅡ",
    "⼀⼆",  # Kangxi radicals, not ideographs
    "\U000f0000\U000f0001",  # private use
    "张" * 31,
    "张三" * 20,
    "A" * 65,
    "Li--Lei",
    "-Li",
    "Li-",
    "O''Neil",
    "Li  .",
    "Li·Lei",
]


@pytest.mark.parametrize(("typed", "canonical"), NAMES)
def test_names_people_have_are_valid_and_normalised(typed: str, canonical: str) -> None:
    assert normalise_name(typed) == canonical
    assert normalise_name(canonical) == canonical  # idempotent
    assert valid_name(typed)
    assert identity_guide_code(MOBILE, ID_NUMBER, typed) == ""


@pytest.mark.parametrize("name", BAD_NAMES)
def test_what_cannot_be_a_name_is_90004(name: str) -> None:
    assert normalise_name(name) is None
    assert identity_guide_code(MOBILE, ID_NUMBER, name) == codes.BAD_NAME


@pytest.mark.parametrize(("typed", "canonical"), NAMES[:25])
def test_the_model_hands_the_facade_the_normalised_name(typed: str, canonical: str) -> None:
    req = parse(StartRequest, json.dumps(start_body(name=typed), ensure_ascii=False))
    assert req.name == canonical
    body = {"userId": "u", "name": typed, "identity_card": ID_NUMBER, "mobile_no": MOBILE}
    ident = parse(IdentityRequest, json.dumps(body))
    assert ident.name == canonical


def test_a_bad_name_reaches_the_content_check_unchanged() -> None:
    req = parse(StartRequest, json.dumps(start_body(name="张三3")))
    assert req.name == "张三3"
    assert identity_guide_code(req.mobile_no, req.identity_card, req.name) == codes.BAD_NAME


# --- foreign permanent-resident ids and residence permits ----------------------------------------


def with_check(first17: str) -> str:
    return first17 + mod_11_2.calc_check_digit(first17)


FOREIGN_ID = with_check("91184019800101001")  # Beijing, nationality 840, born 1980-01-01


@pytest.mark.parametrize(
    "number",
    [
        FOREIGN_ID,
        with_check("93112419951231123"),  # Shanghai
        with_check("94440819700615002"),  # Guangdong
        with_check("96525019000101001"),  # born 1900
        with_check("81000019900101001"),  # 港澳台居民居住证: Hong Kong
        with_check("82000019900101001"),  # Macau
        with_check("83000019900101001"),  # Taiwan
    ],
)
def test_foreign_permanent_resident_ids_and_residence_permits_are_valid(number: str) -> None:
    assert normalise_id_number(number) == number
    assert normalise_id_number(number.lower()) == number
    assert normalise_id_number(f" {number} ") == number
    assert identity_guide_code(MOBILE, number, "John Smith") == ""
    assert identity_guide_code(MOBILE, number, "约翰·史密斯") == ""


def test_fullwidth_digits_are_normalised_by_stdnum() -> None:
    assert normalise_id_number("９" + FOREIGN_ID[1:]) == FOREIGN_ID
    assert normalise_id_number("１１０１０５１９４９１２３１００２X") == ID_NUMBER


def test_a_foreign_id_with_x_as_check_digit() -> None:
    number = next(n for seq in range(1000) if (n := with_check(f"91184019800101{seq:03d}")).endswith("X"))
    assert normalise_id_number(number) == number
    assert normalise_id_number(number[:-1] + "x") == number


def test_stdnum_alone_refuses_the_foreign_id() -> None:
    from stdnum.cn import ric

    assert not ric.is_valid(FOREIGN_ID)


@pytest.mark.parametrize(
    "number",
    [
        FOREIGN_ID[:-1] + str((int(FOREIGN_ID[-1]) + 1) % 10) if FOREIGN_ID[-1] != "X" else FOREIGN_ID[:-1] + "0",
        with_check("91184019801301001"),  # month 13
        with_check("91184019800230001"),  # 30 February
        with_check("91184018991231001"),  # born before 1900
        with_check("91184030000101001"),  # born in the future
        with_check("99984019800101001"),  # no province 99
        with_check("91084019800101001"),  # no province 10
        with_check("98184019800101001"),  # no province 81 for foreigners
        with_check("80000019900101001"),  # not a permit area
        FOREIGN_ID[:-1],  # 17 digits
        FOREIGN_ID + "1",
        "9118401980010100１",  # a fullwidth digit where the check digit should be
    ],
)
def test_bad_foreign_ids_are_90005(number: str) -> None:
    assert normalise_id_number(number) is None
    assert identity_guide_code(MOBILE, number, NAME) == codes.BAD_ID_NUMBER


def test_a_resident_id_born_in_the_future_is_90005() -> None:
    number = with_check("11010520990101001")
    from stdnum.cn import ric

    assert ric.is_valid(number)  # stdnum does not look at the calendar
    assert normalise_id_number(number) is None


def test_latin_names_go_with_ordinary_resident_ids_too() -> None:
    # the number does not tell the script of the registered name: three-factor decides (90026)
    assert identity_guide_code(MOBILE, ID_NUMBER, "Li Lei") == ""


# --- submitTime ------------------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000000, 1700000000000),
        (1700000000, 1700000000000),  # seconds
        ("1700000000", 1700000000000),
        (" 1700000000000 ", 1700000000000),
        (1700000000000.0, 1700000000000),
        (946684800000, 946684800000),  # 2000-01-01T00:00:00Z
        (946684800, 946684800000),
    ],
)
def test_submit_time_in_ms_or_s(value: Any, expected: int) -> None:
    assert parse(StartRequest, json.dumps(start_body(submitTime=value))).submitTime == expected


def test_submit_time_up_to_a_day_ahead() -> None:
    ahead = now_ms() + 23 * 3600 * 1000
    assert parse(StartRequest, json.dumps(start_body(submitTime=ahead))).submitTime == ahead
    assert parse(StartRequest, json.dumps(start_body(submitTime=ahead // 1000))).submitTime == ahead // 1000 * 1000


@pytest.mark.parametrize(
    "value",
    [
        0,
        -1,
        -1700000000000,
        946684799999,  # 1999-12-31T23:59:59.999Z
        946684799,
        10**11,  # milliseconds: 1973
        99999999999,  # seconds: year 5138
        10**38,  # 39 digits: beyond DynamoDB's number range
        10**63,
    ],
)
def test_submit_time_out_of_range_is_named(value: Any) -> None:
    assert refused(StartRequest, start_body(submitTime=value)).message == "字段取值超出范围: submitTime"


def test_submit_time_more_than_a_day_ahead_is_refused() -> None:
    for value in (now_ms() + 25 * 3600 * 1000, (now_ms() + 25 * 3600 * 1000) // 1000):
        assert refused(StartRequest, start_body(submitTime=value)).message == "字段取值超出范围: submitTime"
        assert refused(SubmitRequest, submit_body(submitTime=value)).message == "字段取值超出范围: submitTime"


@pytest.mark.parametrize(
    "raw",
    [
        "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 65, "9" * 4301, '"' + "9" * 39 + '"',
        "true", "false", "null", "1.5", '"1e3"', '"0x10"', '"1_700_000_000_000"', '"-1700000000000"', '""',
        '"１７００００００００"', "[1700000000000]",
    ],
)
def test_absurd_submit_time_is_named(raw: str) -> None:
    body = json.dumps(start_body(submitTime=1700000000000)).replace("1700000000000", raw)
    assert refused(StartRequest, body).message == "字段格式错误: submitTime"


# --- body limits: size, depth, UTF-8, JSON that is not JSON ----------------------------------------------


def test_depth_limit_is_exact() -> None:
    template = json.dumps(start_body(extra="PLACEHOLDER"))  # the body itself is the first level
    ok = template.replace('"PLACEHOLDER"', "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1))
    parse(StartRequest, ok)
    deep = template.replace('"PLACEHOLDER"', "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert "嵌套过深" in refused(StartRequest, deep).message


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
@pytest.mark.parametrize("opener,closer", [("[", "]"), ('{"a":', "}")])
def test_deep_nesting_is_400_not_a_recursion_error(depth: int, opener: str, closer: str) -> None:
    for model in (StartRequest, SubmitRequest, TaskRequest, IdentityRequest):
        for raw in (opener * depth + closer * depth, '{"userId": ' + opener * depth + "1" + closer * depth + "}"):
            err = refused(model, raw[: MAX_BODY_BYTES - 1])
            assert "嵌套过深" in err.message or err.message == "请求体不是合法的JSON"
    assert "嵌套过深" in refused(StartRequest, "[" * 1000 + "]" * 1000).message


def test_brackets_inside_strings_do_not_count() -> None:
    body = start_body(extra="[" * 1000 + '\\"{{{' + "}" * 50, password='pw"[[[[\\')
    assert parse(StartRequest, json.dumps(body)).password == 'pw"[[[[\\'


def test_deep_callback_set_text_is_a_format_error() -> None:
    text = '{"callback_url": "https://app.example.com/cb", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    assert refused(StartRequest, start_body(callback_set=text)).message == "字段格式错误: callback_set"
    assert load_json('{"a": [[1]]}') == {"a": [[1]]}


def test_body_size_limit_is_413() -> None:
    body = json.dumps(start_body())
    padded = body + " " * (MAX_BODY_BYTES - len(body.encode()))
    assert parse(StartRequest, padded).name == NAME
    for raw in (padded + " ", (padded + " ").encode(), "{" + "张" * (MAX_BODY_BYTES // 3 + 1) + "}"):
        with pytest.raises(ApiError) as info:
            parse(StartRequest, raw)
        assert (info.value.status, info.value.code, info.value.message) == (413, codes.SYSTEM_ERROR, "请求体过大")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userId": "u\\xff"}'.replace(b"\\xff", b"\xff"),
        b"\xfe\xff{}",
        b'{"name": "\xe5\xbc"}',  # a truncated sequence
        '{"userId": "u\ufffd"}',  # how API Gateway hands invalid bytes over
        '{"userId": "u", "x": "\ufffd"}',
    ],
)
def test_a_body_that_is_not_utf8_is_400(raw: Any) -> None:
    assert refused(StartRequest, raw).message == "请求体不是合法的UTF-8编码"


def test_a_base64_body_is_parsed_after_powertools_decodes_it() -> None:
    """handlers pass ``event.decoded_body``: for isBase64Encoded it is the decoded text."""
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    raw = json.dumps(start_body(), ensure_ascii=False).encode()
    event = APIGatewayProxyEvent({"body": base64.b64encode(raw).decode(), "isBase64Encoded": True})
    assert parse(StartRequest, event.decoded_body).name == NAME
    assert parse(StartRequest, raw).name == NAME  # bytes are decoded strictly


@pytest.mark.parametrize(
    ("field", "escaped"),
    [("name", "\\ud800"), ("userId", "u\\udfff"), ("password", "\\ud83d"), ("mobile_no", "\\udc00")],
)
def test_lone_surrogates_are_named(field: str, escaped: str) -> None:
    raw = json.dumps(start_body(**{field: "PLACEHOLDER"})).replace("PLACEHOLDER", escaped)
    assert refused(StartRequest, raw).message == f"字段格式错误: {field}"


def test_lone_surrogates_anywhere_are_refused() -> None:
    for extra in ('"x": "\\ud800"', '"\\ud800": 1', '"x": {"y": ["\\udfff"]}'):
        raw = json.dumps(start_body())[:-1] + ", " + extra + "}"
        assert refused(StartRequest, raw).message == "请求体包含无效的Unicode字符"
    inner = json.dumps({"callback_url": "https://app.example.com/cb", "token": "PLACEHOLDER"})
    inner = inner.replace("PLACEHOLDER", "\\ud800")
    assert refused(StartRequest, start_body(callback_set=inner)).message == "字段格式错误: callback_set"


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "1e400", "9" * 5000])
def test_numbers_json_cannot_carry_in_extra_fields_are_not_json(raw: str) -> None:
    body = json.dumps(start_body())[:-1] + ', "extra": ' + raw + "}"
    assert refused(StartRequest, body).message == "请求体不是合法的JSON"
    body = json.dumps(start_body())[:-1] + ', "mobile_no": ' + raw + "}"
    assert refused(StartRequest, body).message == "字段格式错误: mobile_no"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("userId", "u" * 129),
        ("userId", "u\x00"),
        ("userId", "u\x1b[31m"),
        ("userId", "u\x9bx"),  # a C1 control
        ("mobile_no", "1" * 33),
        ("identity_card", "1" * 33),
        ("name", "张" * 65),
        ("password", "p" * 129),
    ],
)
def test_every_string_field_is_bounded(field: str, value: str) -> None:
    assert refused(StartRequest, start_body(**{field: value})).message == f"字段格式错误: {field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [("traceId", "t" * 65), ("task_id", "t" * 65), ("traceId", "t\nx"), ("task_id", "\x00"), ("auth_code", "1" * 33),
     ("auth_code", "12\x0034")],
)
def test_every_task_field_is_bounded(field: str, value: str) -> None:
    body = task_body(**{"auth_code": "123456", field: value})
    assert refused(SubmitRequest, body).message == f"字段格式错误: {field}"


def test_callback_set_fields_are_bounded() -> None:
    for cb, field in (({"callback_url": "https://a.example/" + "x" * 2048}, "callback_url"),
                      ({"callback_url": "https://a.example/", "token": "t" * 513}, "token")):
        assert refused(StartRequest, start_body(callback_set=cb)).message == f"字段格式错误: callback_set.{field}"
