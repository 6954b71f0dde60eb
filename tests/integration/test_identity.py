"""Identity checks as APIs (with the keyed-hash cache) and as the carrier flow's pre-check."""

from __future__ import annotations

import itertools
import uuid

import pytest
from stdnum.cn import ric

_serial = itertools.count(100)


def fresh_id_number() -> str:
    """A valid id number nobody else in the suite uses (so the identity cache starts cold)."""
    base = f"1101051990{next(_serial) % 12 + 1:02d}{next(_serial) % 28 + 1:02d}{next(_serial) % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")  # the function expects a digit in the check position


def identity_body(mobile: str, **over) -> dict:
    body = {"userId": f"u-{uuid.uuid4().hex[:6]}", "name": "李四", "identity_card": fresh_id_number(), "mobile_no": mobile}
    body.update(over)
    return body


@pytest.mark.parametrize("path,prefix", [("/identity/three-factor", "/three-factor"), ("/identity/realname", "/yuxin")])
def test_consistent_answer_then_the_cache(api, stack, path, prefix):
    body = identity_body("13800138000")
    api.secrets.add(body["identity_card"])
    before = stack.sandbox.requests_seen(prefix)
    first = api.post(path, body)
    assert first.status_code == 200
    data = first.json()["data"]
    assert data["verdict"] == "consistent" and data["cached"] is False
    assert data["provider"] in ("three_factor", "yuxin")
    assert set(data) >= {"verdict", "isp", "provider", "raw_code", "raw_message", "request_id", "cached"}
    second = api.post(path, body).json()["data"]
    assert second["cached"] is True and second["verdict"] == "consistent"
    assert stack.sandbox.requests_seen(prefix) == before + 1  # the second check cost no upstream call


@pytest.mark.parametrize("path", ["/identity/three-factor", "/identity/realname"])
def test_inconsistent_is_90026(api, path):
    out = api.post(path, identity_body("13800138001")).json()
    assert out["code"] == "104"
    assert out["data"]["verdict"] == "inconsistent" and out["data"]["guide_code"] == "90026"


@pytest.mark.parametrize(
    "over,guide",
    [({"mobile_no": "12345"}, "90012"), ({"identity_card": "110105194912310021"}, "90005"), ({"name": "李4"}, "90004")],
)
def test_bad_input_never_reaches_the_upstream(api, stack, over, guide):
    before = stack.sandbox.requests_seen("/three-factor")
    out = api.post("/identity/three-factor", identity_body("13800138000", **over))
    assert out.status_code == 200 and out.json()["data"]["guide_code"] == guide
    assert stack.sandbox.requests_seen("/three-factor") == before


def test_missing_field_is_400(api):
    body = identity_body("13800138000")
    body.pop("identity_card")
    resp = api.post("/identity/realname", body)
    assert resp.status_code == 400 and "identity_card" in resp.json()["message"]


def test_provider_down_is_503_not_500(api, stack):
    stack.sandbox.fail_next("/three-factor", status=503, count=1)
    resp = api.post("/identity/three-factor", identity_body("13800138000"))
    assert resp.status_code == 503 and resp.json()["code"] == "103"


@pytest.mark.parametrize("mobile,guide", [("13900139006", "90012"), ("13900139007", "90005"), ("13900139008", "90004")])
def test_pre_check_names_the_bad_field(api, mobile, guide):
    _body, answer = api.start(mobile)
    assert answer["data"]["guide_code"] == guide


def test_primary_down_falls_back_to_realname(api, stack):
    before = stack.sandbox.requests_seen("/yuxin")
    stack.sandbox.fail_next("/three-factor", status=503, count=3)  # 1 try + 2 ASL retries
    _body, answer = api.start("13800138000", identity_card=fresh_id_number())
    assert answer["data"]["guide_code"] == "90001"
    item = api.session(answer["data"]["task_id"])
    assert "identity_three_factor" not in item
    assert item["identity_yuxin"]["verdict"] == "consistent"
    assert stack.sandbox.requests_seen("/yuxin") == before + 1


def test_fallback_that_says_inconsistent_stops_the_task(api, stack):
    stack.sandbox.fail_next("/three-factor", status=503, count=3)
    _body, answer = api.start("13800138001", identity_card=fresh_id_number())
    assert answer["data"]["guide_code"] == "90026"


def test_unknown_follows_the_rule(api, stack):
    with stack.function_env(IDENTITY_PROVIDERS="yuxin,three_factor"):
        _body, answer = api.start("13900139020", identity_card=fresh_id_number())  # 驭信 10002 unknown
        assert answer["data"]["guide_code"] == "90001"
        with stack.function_env(IDENTITY_UNKNOWN_RULE="reject"):
            _body, answer = api.start("13900139020", identity_card=fresh_id_number())
    assert answer["data"]["guide_code"] == "90026"


def test_both_must_agree(api, stack):
    with stack.function_env(IDENTITY_POLICY="both"):
        _body, answer = api.start("13800138000", identity_card=fresh_id_number())
        item = api.session(answer["data"]["task_id"])
        assert answer["data"]["guide_code"] == "90001"
        assert item["identity_three_factor"]["verdict"] == item["identity_yuxin"]["verdict"] == "consistent"
        with stack.function_env(IDENTITY_UNKNOWN_RULE="reject"):
            _body, answer = api.start("13900139020", identity_card=fresh_id_number())  # three-factor yes, 驭信 unknown
    assert answer["data"]["guide_code"] == "90026"
