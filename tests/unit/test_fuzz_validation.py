"""Property-based fuzzing of validation.parse: whatever arrives, a model or an ApiError 400/413.

Bounded and deterministic (``derandomize=True``, no example database, no deadline), so the file
runs in seconds and the same examples every time. Accepted models are checked further: every
string encodes to UTF-8, submitTime is milliseconds in range, the name is already canonical,
the identity checks answer, and the facade's body digest (``json.loads`` of the same body,
``json.dumps(..., ensure_ascii=False).encode()``) cannot fail.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.lambda_context import LambdaContext

from carrier_auth import codes
from carrier_auth.errors import ApiError
from carrier_auth.validation import (
    EPOCH_2000_MS,
    MAX_AHEAD_MS,
    MAX_BODY_BYTES,
    IdentityRequest,
    StartRequest,
    SubmitRequest,
    TaskRequest,
    identity_guide_code,
    normalise_id_number,
    normalise_mobile,
    normalise_name,
    parse,
)

FUZZ = settings(
    max_examples=250, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
MODELS = [StartRequest, SubmitRequest, TaskRequest, IdentityRequest]
OUTCOMES: Counter[str] = Counter()  # what the fuzzing saw, printed by the last test (-s)

# every character class that has hurt someone: CJK of all planes, dots, controls, surrogates
# (through \\u escapes), U+FFFD, emoji, bidi controls, combining marks, fullwidth forms
_ODD = st.sampled_from(
    list("张三李𡒄王〇阿卜杜·・．•‧･∙⋅·.。 \u3000\u00a0\t\n\x00\x7f\x85\ufffd\u200b\u202e\u0301😀丽豈ｚ１")
    + ["\ud800", "\udfff", "\U000e0100", "\U0002ebf0", "\U00031350", "\U0010ffff"]
)
_text = st.one_of(st.text(max_size=40), st.lists(_ODD, max_size=12).map("".join))
_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**45), max_value=10**45),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 10**38, 10**39 - 1, 1e400, 1700000000, 1700000000000, 1700000000000.0, 1.5, True, False]),
)
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _text)
_json = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=12
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def valid_body(model: type[BaseModel]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    body: dict[str, Any] = {
        "userId": "u-1",
        "mobile_no": "13800138000",
        "identity_card": "11010519491231002X",
        "submitTime": now,
    }
    if model in (StartRequest, IdentityRequest):
        body["name"] = "张三"
    if model is StartRequest:
        body.update(password="pw", callback_set={"callback_url": "https://app.example.com/cb", "token": "t"})
    if model in (SubmitRequest, TaskRequest):
        body.update(traceId="a" * 32, task_id="task-1")
    if model is SubmitRequest:
        body["auth_code"] = "123456"
    if model is IdentityRequest:
        del body["submitTime"]
    return body


@st.composite
def mutated_bodies(draw: st.DrawFn, model: type[BaseModel]) -> str | bytes:
    body = valid_body(model)
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*body, "callback_set", "extra", "callback_set.callback_url"]))
        action = draw(st.sampled_from(["replace", "delete", "json-text"]))
        if field == "callback_set.callback_url":
            body["callback_set"] = {"callback_url": draw(st.one_of(_text, _json)), "token": draw(_text)}
        elif action == "delete":
            body.pop(field, None)
        elif action == "json-text":
            body[field] = _dumps(draw(_json))
        else:
            body[field] = draw(_json)
    text = _dumps(body)
    how = draw(st.sampled_from(["str", "bytes", "truncated", "bad-utf8"]))
    if how == "bytes":
        return text.encode("utf-8", "surrogatepass")
    if how == "truncated":
        return text[: draw(st.integers(0, len(text)))]
    if how == "bad-utf8":
        raw = text.encode("utf-8", "surrogatepass")
        cut = draw(st.integers(0, len(raw)))
        return raw[:cut] + draw(st.binary(min_size=1, max_size=4)) + raw[cut:]
    return text


_deep = st.builds(
    lambda depth, opener, inner: opener * depth + inner + {"[": "]", '{"a":': "}"}[opener] * depth,
    st.integers(1, 5000),
    st.sampled_from(["[", '{"a":']),
    st.sampled_from(["1", '"x"', "{}", "[]", ""]),
)
_bodies = {
    "random json": _json.map(_dumps),
    "random text": st.text(max_size=200),
    "random bytes": st.binary(max_size=200),
    "deep nesting": st.one_of(_deep, _deep.map(lambda s: '{"userId": ' + s + "}")),
    "big numbers": st.sampled_from(["1" * 5000, "-" + "9" * 4301, "1e999999", "NaN", "-Infinity", "[1e400]"]).map(
        lambda n: '{"submitTime": ' + n + ', "mobile_no": ' + n + "}"
    ),
    "oversized": st.integers(MAX_BODY_BYTES - 10, MAX_BODY_BYTES + 100).map(lambda n: '{"a": "' + "x" * n + '"}'),
}


def _check(model: type[BaseModel], body: Any) -> None:
    try:
        req = parse(model, body)
    except ApiError as exc:
        assert exc.status in (400, 413), (exc.status, exc.message)
        assert exc.code == codes.SYSTEM_ERROR
        exc.message.encode("utf-8")  # renders in the envelope
        OUTCOMES[f"{model.__name__} {exc.status}"] += 1
        return
    OUTCOMES[f"{model.__name__} model"] += 1
    assert isinstance(req, model)
    json.dumps(req.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # everything encodes
    if "submitTime" in model.model_fields:
        assert EPOCH_2000_MS <= req.submitTime <= time.time() * 1000 + MAX_AHEAD_MS
    name = getattr(req, "name", None)
    code = identity_guide_code(req.mobile_no, req.identity_card, name)
    assert code in ("", codes.BAD_MOBILE, codes.BAD_ID_NUMBER, codes.BAD_NAME)
    if name is not None and normalise_name(name) is not None:
        assert normalise_name(name) == name  # the model hands the facade the canonical name
    # facade._body_digest re-parses the accepted body with plain json: it must not fail
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    json.dumps(json.loads(text), sort_keys=True, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_mutated_valid_bodies(model: type[BaseModel], data: st.DataObject) -> None:
    _check(model, data.draw(mutated_bodies(model)))


@pytest.mark.parametrize("kind", list(_bodies))
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_hostile_bodies(model: type[BaseModel], kind: str, data: st.DataObject) -> None:
    _check(model, data.draw(_bodies[kind]))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@FUZZ
@given(data=st.data())
def test_odd_strings_in_string_fields(model: type[BaseModel], data: st.DataObject) -> None:
    body = valid_body(model)
    for field in data.draw(st.lists(st.sampled_from([k for k, v in body.items() if isinstance(v, str)]), max_size=3)):
        body[field] = data.draw(_text)
    _check(model, _dumps(body))


@FUZZ
@given(text=st.one_of(_text, st.text(max_size=80)))
def test_identity_checks_never_raise_and_names_are_canonical(text: str) -> None:
    normalise_mobile(text)
    number = normalise_id_number(text)
    assert number is None or (len(number) == 18 and number.isascii())
    name = normalise_name(text)
    if name is not None:
        assert normalise_name(name) == name  # idempotent
        name.encode("utf-8")
        assert "·" not in (name[0], name[-1]) and "··" not in name


def test_zz_report_outcomes() -> None:
    """Prints the outcome distribution of the fuzzing above (run with -s to see it)."""
    if not OUTCOMES:
        pytest.skip("run with the rest of the file")
    print("\nfuzz outcomes:", dict(sorted(OUTCOMES.items())), "total", sum(OUTCOMES.values()))
    assert any(key.endswith("model") for key in OUTCOMES)
    assert any(key.endswith("400") for key in OUTCOMES)


# ------------------------------------------------- the routes validate exactly as parse does
@pytest.fixture(scope="module")
def start_handler() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CarrierAuth")  # flushed (and cleared) per call
        yield _start_handler()


def _start_handler() -> Any:
    """functions/start, its facade replaced by a marker: the refusals are Powertools' validation
    of the declared model (handlers.resolver), nothing reaches AWS."""
    import importlib.util
    from pathlib import Path

    from carrier_auth import facade

    root = Path(__file__).resolve().parents[2]
    original = facade.start
    facade.start = lambda req, tenant: (200, {"accepted": req.model_dump(mode="json")})
    try:
        spec = importlib.util.spec_from_file_location("start_app_fuzz", root / "functions/start/app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        facade.start = original
    event = json.loads((root / "events/start/valid.json").read_text(encoding="utf-8"))
    return module.lambda_handler, event




@FUZZ
@given(raw=st.one_of(mutated_bodies(StartRequest), *_bodies.values()))
def test_the_start_route_answers_what_parse_decides(start_handler: Any, raw: str | bytes) -> None:
    handler, event = start_handler
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw  # API Gateway: U+FFFD
    try:
        expected: tuple[int, Any] = (200, {"accepted": parse(StartRequest, text).model_dump(mode="json")})
    except ApiError as exc:
        expected = (exc.status, exc.message)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate outside a JSON escape cannot come over HTTP
    result = handler({**event, "body": text}, LambdaContext("StartFunction"))
    answer = json.loads(result["body"])
    got = (result["statusCode"], answer if result["statusCode"] == 200 else answer["message"])
    assert got == expected
