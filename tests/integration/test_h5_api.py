"""The hosted page's HTTP contract without a browser (docs/h5.md): the link, its single use, the
cookie, CSRF, the same validation and secrets rules as the API. The browser walks are in
tests/browser."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from .conftest import ID_NUMBER, NAME, Api

PAGE = {"X-CarrierAuth-H5": "1", "Content-Type": "application/json"}
AGREEMENT = "2026-11-23"


class Page:
    """A browser's side: the link, then the cookie (requests keeps it as a browser would)."""

    def __init__(self, api: Api, link: dict[str, Any]) -> None:
        self.api = api
        self.link = link
        self.url, self.token = link["h5_url"].split("#t=")
        self.http = requests.Session()
        api.secrets.add(self.token)

    def post(self, action: str, body: Any, headers: dict | None = None) -> requests.Response:
        data = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
        return self.http.post(f"{self.url}/api/{action}", data=data, headers=headers or PAGE, timeout=60)

    def open(self) -> dict:
        resp = self.post("session", {"token": self.token})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def state(self) -> requests.Response:
        return self.http.get(f"{self.url}/api/state", timeout=30)

    def start(self, mobile: str = "13800138000", **over: Any) -> requests.Response:
        password = f"Pw-{uuid.uuid4().hex[:10]}"
        self.api.secrets.add(password)
        body = {"agreement_version": AGREEMENT, "name": NAME, "identity_card": ID_NUMBER, "mobile_no": mobile,
                "password": password, **over}
        return self.post("start", body)


def create(api: Api, **over: Any) -> requests.Response:
    token = f"cbtok-{uuid.uuid4().hex}"
    api.secrets.add(token)
    body = {
        "userId": f"user-{uuid.uuid4().hex[:8]}",
        "callback_set": {"callback_url": api.stack.receiver.url, "token": token},
        "return_url": "http://127.0.0.1:9/back",
        **over,
    }
    return api.post("/carrier/auth/h5", body)


def page(api: Api, **over: Any) -> Page:
    resp = create(api, **over)
    assert resp.status_code == 200, resp.text
    return Page(api, resp.json()["data"])


def test_a_link_is_a_task_waiting_for_its_user(api: Api) -> None:
    resp = create(api, mobile_no="13800138000", identity_card=ID_NUMBER, name=NAME)
    body = resp.json()
    assert body["code"] == "104"
    data = body["data"]
    assert data["h5_url"].startswith(f"{api.stack.api_url}/v1/h5/{data['task_id']}#t=")
    assert int(data["expires_at"]) - time.time() * 1000 == pytest.approx(600_000, abs=5_000)
    # the app can look at it: waiting for the user, no execution yet
    status = api.status(data["task_id"]).json()
    assert status["code"] == "104" and status["message"] == "等待用户在授权页面完成授权"
    item = api.session(data["task_id"])
    assert item["status"] == "AWAITING_USER"
    assert item["prefill"] == {"name": "张*", "identity_card": "1101**********002X", "mobile_no": "138****8000"}
    assert "h5_url" not in json.dumps(item, default=str) and Page(api, data).token not in json.dumps(item, default=str)


@pytest.mark.parametrize(
    ("over", "status", "expect"),
    [
        ({"return_url": "http://169.254.169.254/latest"}, 400, "return_url 不可用"),
        ({"return_url": "javascript:alert(1)"}, 400, "return_url"),
        ({"return_url": None}, 400, "return_url"),
        ({"callback_set": {"callback_url": "http://10.0.0.1/cb"}}, 400, "callback_url"),
        ({"mobile_no": "12345"}, 200, "90012"),
        ({"identity_card": "110105194912310021"}, 200, "90005"),
        ({"name": "X1"}, 200, "90004"),
    ],
)
def test_link_requests_are_validated_like_a_start(api: Api, over: dict, status: int, expect: str) -> None:
    body = {k: v for k, v in over.items() if v is not None}
    resp = create(api, **body) if None not in over.values() else api.post(
        "/carrier/auth/h5", {"userId": "u", "callback_set": {"callback_url": api.stack.receiver.url}})
    assert resp.status_code == status
    assert expect in resp.text
    assert "h5_url" not in resp.json()["data"]


def test_a_link_needs_an_api_key_and_the_page_does_not(api: Api) -> None:
    resp = requests.post(f"{api.stack.api_url}/carrier/auth/h5", json={}, timeout=10)
    assert resp.status_code == 403
    p = page(api)
    html = requests.get(p.url, timeout=10)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    assert html.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in html.headers["Content-Security-Policy"]


def test_the_link_works_once_and_the_cookie_continues(api: Api) -> None:
    p = page(api)
    first = p.post("session", {"token": p.token})
    assert first.status_code == 200 and first.json()["data"]["step"] == "form"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and f"Path=/v1/h5/{p.link['task_id']}" in cookie
    assert p.state().json()["data"]["step"] == "form"
    # the same browser through the link again (a reload): fine; any other browser: used
    assert p.post("session", {"token": p.token}).status_code == 200
    other = requests.post(f"{p.url}/api/session", data=json.dumps({"token": p.token}), headers=PAGE, timeout=10)
    assert other.status_code == 410 and other.json()["data"]["reason"] == "used"
    # without the cookie nothing works; a wrong token is just invalid
    assert requests.get(f"{p.url}/api/state", timeout=10).status_code == 401
    wrong = requests.post(f"{p.url}/api/session", data=json.dumps({"token": "x" * 43}), headers=PAGE, timeout=10)
    assert wrong.status_code == 404


def test_a_token_acts_only_on_its_own_task(api: Api) -> None:
    mine, theirs = page(api), page(api)
    mine.open()
    # my cookie is scoped to my task's path; sent to another task on purpose, it does not fit
    cookie = mine.http.cookies.get("carrier_auth_h5")
    resp = requests.get(f"{theirs.url}/api/state", headers={"Cookie": f"carrier_auth_h5={cookie}"}, timeout=10)
    assert resp.status_code == 401
    # my link token on their task: invalid
    resp = requests.post(f"{theirs.url}/api/session", data=json.dumps({"token": mine.token}), headers=PAGE, timeout=10)
    assert resp.status_code == 404
    # an API task has no page at all
    _, started = api.start()
    task_url = f"{api.stack.api_url}/v1/h5/{started['data']['task_id']}"
    resp = requests.post(f"{task_url}/api/session", data=json.dumps({"token": mine.token}), headers=PAGE, timeout=10)
    assert resp.status_code == 404


def test_csrf_needs_the_page_header_json_and_the_same_origin(api: Api) -> None:
    p = page(api)
    p.open()
    assert p.post("number", {"mobile_no": "13800138000"}, headers={"Content-Type": "application/json"}).status_code == 403
    assert p.post("number", "mobile_no=13800138000", headers={"X-CarrierAuth-H5": "1",
                  "Content-Type": "application/x-www-form-urlencoded"}).status_code == 415
    evil = {**PAGE, "Origin": "https://evil.example"}
    assert p.post("number", {"mobile_no": "13800138000"}, headers=evil).status_code == 403
    same = {**PAGE, "Origin": api.stack.api_url}
    resp = p.post("number", {"mobile_no": "13800138000"}, headers=same)
    assert resp.status_code == 200 and resp.json()["data"] == {
        "valid": True, "isp": "中国移动", "region": "北京市", "guide_code": "", "guide_message": ""}
    assert p.post("number", {"mobile_no": "12345"}).json()["data"]["guide_code"] == "90012"


def test_the_start_validates_records_consent_and_starts_once(api: Api) -> None:
    p = page(api, mobile_no="13800138000")
    p.open()
    assert p.start(agreement_version="2020-01-01").status_code == 400
    assert "password" in p.post("start", {"agreement_version": AGREEMENT, "name": NAME}).text
    bad = p.start(identity_card="110105194912310021").json()
    assert bad["data"]["guide_code"] == "90005" and bad["data"]["step"] == "form"
    assert api.session(p.link["task_id"])["status"] == "AWAITING_USER"
    # the prefilled mobile wins over whatever the form says
    answer = p.start(mobile_no="13800138002").json()
    assert answer["data"]["guide_code"] == "90001" and answer["data"]["step"] == "sms"
    item = api.session(p.link["task_id"])
    assert item["mobile_masked"] == "138****8000" and "prefill_enc" not in item
    assert item["consent"]["version"] == AGREEMENT
    assert abs(int(item["consent"]["at"]) - time.time() * 1000) < 60_000
    # a second tap (another tab): the same task's current state, no second execution
    again = p.start().json()
    assert again["data"]["step"] == "sms" and again["trace_id"] == answer["trace_id"]


def test_code_resend_and_state_reuse_the_facades(api: Api) -> None:
    p = page(api)
    p.open()
    answer = p.start().json()
    assert answer["data"]["resend"]["left"] == 5
    stale = p.post("code", {"trace_id": "not-current", "auth_code": "123456"})
    assert stale.status_code == 409 and stale.json()["data"]["step"] == "sms"
    wrong = p.post("code", {"trace_id": answer["trace_id"], "auth_code": "111111"}).json()
    assert wrong["data"]["guide_code"] == "90007" and wrong["data"]["step"] == "sms"
    resent = p.post("resend", {"trace_id": wrong["trace_id"]}).json()
    assert resent["data"]["guide_code"] == "90001" and resent["data"]["resend"]["left"] == 4
    api.secrets.add("123456")
    done = p.post("code", {"trace_id": resent["trace_id"], "auth_code": "123456"}).json()
    assert done["code"] == "105" and done["data"]["step"] in ("waiting", "done")
    assert api.stack.receiver.wait_for(p.link["task_id"]) is not None
    final = p.state().json()["data"]
    assert final["step"] == "done" and final["result"] == "SUCCESS"
    assert final["return_url"] == f"http://127.0.0.1:9/back?task_id={p.link['task_id']}&result=SUCCESS"


def test_assets_are_cacheable_by_version_and_unknown_ones_are_404(api: Api) -> None:
    p = page(api)
    html = requests.get(p.url, timeout=10).text
    script = html.split('<script src="')[1].split('"')[0]
    resp = requests.get(api.stack.api_url + script, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in resp.headers["Cache-Control"]
    assert requests.get(f"{p.url}/index.html", timeout=10).status_code == 404
    assert requests.get(f"{p.url}/secrets.py", timeout=10).status_code == 404
