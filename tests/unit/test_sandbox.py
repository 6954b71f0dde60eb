"""The sandbox emulators themselves: wire shapes, checks, fault injection and log hygiene."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from carrier_auth.providers.base import Identity, ProviderOutcomeUnknown
from carrier_auth.providers.juxinli import JuxinliProvider
from carrier_auth.providers.three_factor import ThreeFactorProvider
from local.sandbox import SMS_CODE, SandboxProviders, mask_mobile
from local.sandbox.juxinli import APPLICATION_REFUSALS, LOGIN_ERRORS, QUERY_PASSWORD
from local.sandbox.moxie import DEFAULT_APIKEY, MoxieEmulator
from local.sandbox.server import _Server

NAME = "张三"
ID_NUMBER = "11010519491231002X"
PASSWORD = "pw-778899"
ORG = "SANDBOX"
SECRET = "sandbox-juxinli-secret"
TOKEN = "sandbox-three-factor-token"
TIMEOUT = (2, 5)


def basic_info(mobile: str = "13800138000") -> dict[str, Any]:
    return {"basic_info": {"name": NAME, "id_card_num": ID_NUMBER, "cell_phone_num": mobile}}


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(url, json=body, headers=headers, timeout=TIMEOUT)


def apply(sandbox: SandboxProviders, mobile: str = "13800138000") -> dict[str, Any]:
    url = f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}"
    return post(url, basic_info(mobile)).json()


def collect(sandbox: SandboxProviders, body: dict[str, Any]) -> dict[str, Any]:
    return post(f"{sandbox.juxinli_base_url}/orgApi/rest/v2/messages/collect/req", body).json()


def report_token(sandbox: SandboxProviders, secret: str = SECRET) -> dict[str, Any]:
    params = {"org_name": ORG, "client_secret": secret, "hours": 24}
    url = f"{sandbox.juxinli_base_url}/api/v2/access_report_token"
    return requests.get(url, params=params, timeout=TIMEOUT).json()


def test_base_urls(sandbox: SandboxProviders) -> None:
    assert sandbox.juxinli_base_url == f"http://127.0.0.1:{sandbox.port}/juxinli"
    assert sandbox.three_factor_base_url == f"http://127.0.0.1:{sandbox.port}/three-factor"


def test_application_answer_has_the_seed_shape(sandbox: SandboxProviders) -> None:
    body = apply(sandbox, "18900000000")

    assert body["success"] is True
    assert len(body["data"]["token"]) == 32
    assert body["data"]["cell_phone_num"] == "18900000000"
    datasource = body["data"]["datasource"]
    assert (datasource["website"], datasource["name"], datasource["category"]) == (
        "chinatelecombj",
        "北京电信",
        "mobile",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id_card_num", "110105194912310021", "身份证号码不合法"),
        ("cell_phone_num", "12345", "手机号码不合法"),
        ("name", "", "姓名不能为空"),
    ],
)
def test_application_validates_basic_info(
    sandbox: SandboxProviders, field: str, value: str, message: str
) -> None:
    body = basic_info()
    body["basic_info"][field] = value
    url = f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}"

    assert post(url, body).json() == {"success": False, "message": message}


def test_collect_answer_has_the_seed_shape(sandbox: SandboxProviders) -> None:
    data = apply(sandbox)["data"]
    request = {
        "token": data["token"],
        "account": "13800138000",
        "password": PASSWORD,
        "captcha": "",
        "type": "",
        "website": data["datasource"]["website"],
    }

    assert collect(sandbox, request) == {
        "success": True,
        "data": {
            "type": "CONTROL",
            "content": "输入动态密码",
            "process_code": 10002,
            "req_msg_tpl": {"type": "SUBMIT_CAPTCHA", "method": "AUTO"},
            "finish": False,
        },
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"token": "0" * 32}, "token无效"),
        ({"account": "13800138009"}, "账号或数据源与申请不一致"),
        ({"website": "chinaunicom"}, "账号或数据源与申请不一致"),
        ({"type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE}, "当前状态不能执行该操作"),
    ],
)
def test_collect_checks_the_application(
    sandbox: SandboxProviders, change: dict[str, str], message: str
) -> None:
    data = apply(sandbox)["data"]
    request = {
        "token": data["token"],
        "account": "13800138000",
        "password": PASSWORD,
        "captcha": "",
        "type": "",
        "website": data["datasource"]["website"],
    }

    assert collect(sandbox, {**request, **change}) == {"success": False, "message": message}


def test_report_token_requires_the_client_secret(sandbox: SandboxProviders) -> None:
    refused = report_token(sandbox, secret="wrong")
    issued = report_token(sandbox)

    assert refused["success"] is False
    assert issued["success"] is True and issued["code"] == 200
    assert len(issued["access_token"]) == 32


def test_job_status_requires_an_issued_access_token(sandbox: SandboxProviders) -> None:
    url = f"{sandbox.juxinli_base_url}/api/v2/job/access_jobs_status_by_token"
    params = {"client_secret": SECRET, "access_token": "forged", "token": "0" * 32}

    body = requests.get(url, params=params, timeout=TIMEOUT).json()

    assert body == {"success": False, "message": "access_token无效"}


def test_job_done_at_once_when_no_running_polls_are_configured() -> None:
    with SandboxProviders(collect_polls_before_done=0, juxinli_org_name=ORG) as sandbox:
        provider = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=TIMEOUT)
        identity = Identity(NAME, ID_NUMBER, "13800138000")
        state = provider.login(identity, PASSWORD).state
        state = provider.submit(state, identity, PASSWORD, SMS_CODE).state

        assert provider.poll(state).status == "SUCCESS"


def test_three_factor_answer_has_the_seed_shape(sandbox: SandboxProviders) -> None:
    body = {
        "buscode": "PhoneVerification",
        "group": "real",
        "data": {"IdCard": ID_NUMBER, "Name": NAME, "Phone": "13000000000"},
    }

    url = f"{sandbox.three_factor_base_url}/tech/ai/celerity/universal"

    reply = post(url, body, {"Authorization": TOKEN}).json()
    assert (reply["errcode"], reply["errmsg"], reply["data"]["status"]) == (0, "SUCCESS", "success")
    assert len(reply["data"]["traceNo"]) == 19
    response = reply["data"]["result"]["responseJson"]["Response"]
    assert {key: response[key] for key in ("Result", "Description", "Isp")} == {
        "Result": "0",
        "Description": "认证通过",
        "Isp": "联通",
    }
    assert response["RequestId"]


@pytest.mark.parametrize(
    ("headers", "body", "errcode"),
    [
        ({"Authorization": "wrong"}, {"buscode": "PhoneVerification", "group": "real"}, 401),
        ({}, {"buscode": "PhoneVerification", "group": "real"}, 401),
        ({"Authorization": TOKEN}, {"buscode": "Other", "group": "real"}, 400),
        ({"Authorization": TOKEN}, {"buscode": "PhoneVerification", "group": "real"}, 400),
    ],
)
def test_three_factor_checks_the_request(
    sandbox: SandboxProviders, headers: dict[str, str], body: dict[str, Any], errcode: int
) -> None:
    url = f"{sandbox.three_factor_base_url}/tech/ai/celerity/universal"

    reply = post(url, body, headers).json()

    assert reply["errcode"] == errcode and reply["data"] is None


def test_fault_injection_is_scoped_by_prefix(sandbox: SandboxProviders) -> None:
    sandbox.fail_next("/juxinli", status=503)
    three_factor = ThreeFactorProvider(sandbox.three_factor_base_url, TOKEN, timeout=TIMEOUT)
    url = f"{sandbox.juxinli_base_url}/api/v2/access_report_token"

    assert three_factor.verify(Identity(NAME, ID_NUMBER, "13800138000")).verdict == "consistent"
    assert requests.get(url, timeout=TIMEOUT).status_code == 503
    assert requests.get(url, timeout=TIMEOUT).status_code == 200


def test_requests_seen_counts_by_prefix(sandbox: SandboxProviders) -> None:
    juxinli_before = sandbox.requests_seen("/juxinli")
    three_factor_before = sandbox.requests_seen("/three-factor")
    sandbox.fail_next("/three-factor", status=502)

    report_token(sandbox)
    report_token(sandbox)
    post(f"{sandbox.three_factor_base_url}/tech/ai/celerity/universal", {})

    assert sandbox.requests_seen("/juxinli") - juxinli_before == 2
    assert sandbox.requests_seen("/three-factor") - three_factor_before == 1


def test_concurrent_flows_keep_their_own_state(sandbox: SandboxProviders) -> None:
    provider = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=TIMEOUT)
    mobiles = [
        "13800138000", "13800138003", "13800138004", "13700137000", "13800138006", "13800138007",
        "13800138012",
    ] * 3  # fmt: skip

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda mobile: run_flow(provider, mobile), mobiles))

    expected = {
        "13800138000": "SUCCESS",
        "13800138003": "FAILED",
        "13800138004": "SUCCESS",
        "13700137000": "SUCCESS",
        "13800138006": "SUCCESS",
        "13800138007": "SUCCESS",
        "13800138012": "SUCCESS",
    }
    assert outcomes == [expected[mobile] for mobile in mobiles]


def run_flow(provider: JuxinliProvider, mobile: str) -> str:
    """Log in, answer every code request with the right code, poll until the job ends."""
    identity = Identity(NAME, ID_NUMBER, mobile)
    step = provider.login(identity, PASSWORD)
    step = provider.resend(step.state, identity, PASSWORD)
    step = provider.submit(step.state, identity, PASSWORD, "000000")
    while step.outcome == "NEED_INPUT":
        step = provider.submit(step.state, identity, PASSWORD, SMS_CODE)
    assert step.outcome == "COLLECTING"
    result = provider.poll(step.state)
    for _ in range(5):
        if result.status != "RUNNING":
            break
        result = provider.poll(result.state)
    return result.status


def test_logs_never_carry_secrets_or_identity(
    sandbox: SandboxProviders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    juxinli = JuxinliProvider(sandbox.juxinli_base_url, ORG, SECRET, timeout=TIMEOUT)
    three_factor = ThreeFactorProvider(sandbox.three_factor_base_url, TOKEN, timeout=TIMEOUT)

    assert three_factor.verify(Identity(NAME, ID_NUMBER, "13800138000")).verdict == "consistent"
    assert run_flow(juxinli, "13800138004") == "SUCCESS"
    assert run_flow(juxinli, "13800138012") == "SUCCESS"
    assert run_flow(juxinli, "13800138006") == "SUCCESS"
    assert juxinli.login(Identity(NAME, ID_NUMBER, "13800138002"), PASSWORD).outcome == "FAILED"
    assert juxinli.login(Identity(NAME, ID_NUMBER, "13800138017"), PASSWORD).guide_code == "90022"
    query = Identity(NAME, ID_NUMBER, "13800138008")
    step = juxinli.login(query, PASSWORD)
    step = juxinli.submit(step.state, query, PASSWORD, "111111")  # wrong query password
    step = juxinli.submit(step.state, query, PASSWORD, QUERY_PASSWORD)
    assert juxinli.submit(step.state, query, PASSWORD, SMS_CODE).outcome == "COLLECTING"
    expires = Identity(NAME, ID_NUMBER, "13800138015")
    step = juxinli.login(expires, PASSWORD)
    assert juxinli.submit(step.state, expires, PASSWORD, SMS_CODE).guide_code == "90010"
    with pytest.raises(ProviderOutcomeUnknown):
        juxinli.login(Identity(NAME, ID_NUMBER, "13800138028"), PASSWORD)

    # the sandbox logs with the standard library, the providers through Powertools (a child of
    # the service logger: "<service>.carrier_auth.providers.http")
    ours = [record for record in caplog.records if "carrier_auth." in record.name]
    names = {record.name for record in ours}
    assert "carrier_auth.sandbox" in names
    assert any(name.endswith("carrier_auth.providers.http") for name in names)
    logged = "\n".join(record.getMessage() for record in ours)
    for masked in ("138****8004", "138****8008", "138****8012", "138****8017", "138****8028"):
        assert masked in logged
    assert "type=SUBMIT_QUERY_PWD process_code=10023" in logged
    for value in (PASSWORD, SMS_CODE, QUERY_PASSWORD, "111111", ID_NUMBER, NAME):
        assert value not in caplog.text
    # urllib3's DEBUG lines quote request URLs, so the query-string secrets are checked on ours
    for value in ("13800138004", "13800138008", "13800138028", SECRET, TOKEN):
        assert all(value not in record.getMessage() for record in ours)


@pytest.mark.parametrize(
    ("mobile", "masked"),
    [("13800138000", "138****8000"), ("1380013", "****"), (None, "****"), ("1380013800X", "****")],
)
def test_mask_mobile(mobile: Any, masked: str) -> None:
    assert mask_mobile(mobile) == masked


# ---------------------------------------------------------------- Juxinli scenarios on the wire
def first_collect(sandbox: SandboxProviders, mobile: str, **over: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply for ``mobile`` and send the first collect; (the request sent, the answer)."""
    data = apply(sandbox, mobile)["data"]
    request = {
        "token": data["token"],
        "account": mobile,
        "password": PASSWORD,
        "captcha": "",
        "type": "",
        "website": data["datasource"]["website"],
        **over,
    }
    return request, collect(sandbox, request)


@pytest.mark.parametrize("mobile", sorted(LOGIN_ERRORS))
def test_login_errors_have_the_error_shape(sandbox: SandboxProviders, mobile: str) -> None:
    process_code, content = LOGIN_ERRORS[mobile]

    _request, answer = first_collect(sandbox, mobile)

    assert answer == {
        "success": True,
        "data": {"type": "ERROR", "content": content, "process_code": process_code, "finish": True},
    }


def test_login_error_table_matches_the_contract() -> None:
    assert {mobile: code for mobile, (code, _content) in LOGIN_ERRORS.items()} == {
        "13800138002": 10003,
        "13800138005": 10007,
        "13800138010": 30000,
        "13800138011": 0,
        "13800138013": 10003,
        "13800138016": 30000,
        "13800138021": 30000,
        "13800138022": 30000,
        "13800138024": 30000,
    }


@pytest.mark.parametrize(
    ("mobile", "message"),
    [
        ("13800138017", "该号码已禁用服务密码"),
        ("13800138018", "服务密码尚未激活"),
        ("13800138019", "该卡尚未实名登记"),
        ("13800138020", "账号状态异常（停机）"),
        ("13800138023", "暂不支持该地区"),
    ],
)
def test_application_refusals(sandbox: SandboxProviders, mobile: str, message: str) -> None:
    assert apply(sandbox, mobile) == {"success": False, "message": message}
    assert APPLICATION_REFUSALS[mobile] == message


@pytest.mark.parametrize(
    ("mobile", "process_code", "content"),
    [
        ("13800138006", 10006, "验证码已过期，新验证码已发送，请输入"),
        ("13800138007", 10017, "请用本机发送CXXD至10001获取短信验证码"),
    ],
)
def test_prompts_that_ask_for_the_sms_code(
    sandbox: SandboxProviders, mobile: str, process_code: int, content: str
) -> None:
    request, answer = first_collect(sandbox, mobile)
    done = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})

    assert answer == {
        "success": True,
        "data": {
            "type": "CONTROL",
            "content": content,
            "process_code": process_code,
            "req_msg_tpl": {"type": "SUBMIT_CAPTCHA", "method": "AUTO"},
            "finish": False,
        },
    }
    assert (done["data"]["process_code"], done["data"]["finish"]) == (10008, True)


def test_query_password_on_the_wire(sandbox: SandboxProviders) -> None:
    request, answer = first_collect(sandbox, "13800138008")
    query = {**request, "type": "SUBMIT_QUERY_PWD"}

    out_of_turn = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})
    wrong = collect(sandbox, {**query, "queryPwd": "111111"})
    snake_case = collect(sandbox, {**query, "query_pwd": QUERY_PASSWORD})  # not the configured key
    right = collect(sandbox, {**query, "queryPwd": QUERY_PASSWORD})
    done = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})

    assert answer["data"] == {
        "type": "CONTROL",
        "content": "请输入查询密码",
        "process_code": 10022,
        "req_msg_tpl": {"type": "SUBMIT_QUERY_PWD", "method": "AUTO"},
        "finish": False,
    }
    assert out_of_turn == {"success": False, "message": "当前状态不能执行该操作"}
    assert wrong["data"]["process_code"] == snake_case["data"]["process_code"] == 10023
    assert wrong["data"]["req_msg_tpl"]["type"] == "SUBMIT_QUERY_PWD"
    assert right["data"]["process_code"] == 10002
    assert right["data"]["req_msg_tpl"]["type"] == "SUBMIT_CAPTCHA"
    assert done["data"]["process_code"] == 10008


def test_every_collect_is_busy(sandbox: SandboxProviders) -> None:
    request, answer = first_collect(sandbox, "13800138009")
    submit = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})
    resend = collect(sandbox, {**request, "type": "RESEND_CAPTCHA"})

    for body in (answer, submit, resend):
        assert body["data"]["process_code"] == 30000
        assert body["data"]["content"] == "系统繁忙，请稍后再试"


def test_next_datasource_on_the_wire(sandbox: SandboxProviders) -> None:
    request, _answer = first_collect(sandbox, "13800138012")

    unfinished = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})
    stale = collect(sandbox, request)  # still the carrier's website
    finished = collect(sandbox, {**request, "website": "jingdong"})

    data = unfinished["data"]
    assert (data["process_code"], data["finish"]) == (10008, False)
    assert "req_msg_tpl" not in data
    following = data["next_datasource"]
    assert (following["website"], following["name"], following["category"]) == ("jingdong", "京东", "e_business")
    assert stale == {"success": False, "message": "账号或数据源与申请不一致"}
    assert (finished["data"]["process_code"], finished["data"]["finish"]) == (10008, True)


def test_code_expires_after_submit(sandbox: SandboxProviders) -> None:
    request, _answer = first_collect(sandbox, "13800138015")
    wrong = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": "000000"})
    expired = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})
    again = collect(sandbox, {**request, "type": "SUBMIT_CAPTCHA", "captcha": SMS_CODE})

    assert wrong["data"]["process_code"] == 10004
    assert expired["data"] == {
        "type": "ERROR",
        "content": "验证码失效，请重新登录",
        "process_code": 30000,
        "finish": True,
    }
    assert again == {"success": False, "message": "当前状态不能执行该操作"}


def test_provider_down_number_gets_http_503(sandbox: SandboxProviders) -> None:
    url = f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}"

    down = post(url, basic_info("13800138028"))
    collect_down = post(
        f"{sandbox.juxinli_base_url}/orgApi/rest/v2/messages/collect/req",
        {"token": "0" * 32, "account": "13800138028", "password": PASSWORD, "type": "", "captcha": ""},
    )

    assert down.status_code == collect_down.status_code == 503
    assert not down.headers["Content-Type"].startswith("application/json")
    assert apply(sandbox, "13800138000")["success"] is True  # only that number


@pytest.mark.parametrize(
    ("selected", "website", "name"),
    [
        ("chinamobilejs", "chinamobilejs", "江苏移动"),
        ([{"category": "mobile", "name": "chinaunicomgd"}], "chinaunicomgd", "广东联通"),
        ([{"category": "e_business", "name": "jingdong"}], "chinamobilebj", "北京移动"),
        ([], "chinamobilebj", "北京移动"),
        (None, "chinamobilebj", "北京移动"),
    ],
)
def test_selected_website_chooses_the_datasource(
    sandbox: SandboxProviders, selected: Any, website: str, name: str
) -> None:
    body = {**basic_info("13800138000"), "skip_mobile": False, "selected_website": selected}

    url = f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}"

    datasource = post(url, body).json()["data"]["datasource"]

    assert (datasource["website"], datasource["name"]) == (website, name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"selected_website": "chinamobilexx"}, "数据源不存在"),
        ({"selected_website": ["chinamobilebj"]}, "数据源不存在"),
        ({"selected_website": 7}, "数据源不存在"),
        ({"skip_mobile": "no"}, "skip_mobile参数错误"),
    ],
)
def test_application_checks_the_options(
    sandbox: SandboxProviders, change: dict[str, Any], message: str
) -> None:
    body = {**basic_info("13800138000"), **change}
    url = f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}"

    assert post(url, body).json() == {"success": False, "message": message}


def test_datasource_follows_the_number_province(sandbox: SandboxProviders) -> None:
    assert apply(sandbox, "18852951275")["data"]["datasource"]["website"] == "chinamobilejs"
    assert apply(sandbox, "13000000000")["data"]["datasource"]["website"] == "chinaunicomsd"
    assert apply(sandbox, "19900000000")["data"]["datasource"]["website"] == "chinatelecom"


# ---------------------------------------------------------------- provider-level conditions
MOXIE_AUTH = {"Authorization": f"apikey {DEFAULT_APIKEY}"}
LATE_SECONDS = 2.0


@pytest.fixture
def pair() -> Iterator[SandboxProviders]:
    """A fresh sandbox with Juxinli and a mounted Moxie (they share the maintenance state)."""
    with SandboxProviders(late_answer_seconds=LATE_SECONDS) as providers:
        providers.mount("/moxie", MoxieEmulator(late_answer_seconds=LATE_SECONDS))
        yield providers


def moxie_create(sandbox: SandboxProviders, mobile: str) -> requests.Response:
    body = {"account": mobile, "password": PASSWORD, "user_id": "u-1"}
    return requests.post(f"{sandbox.url('/moxie')}/carrier/v3/tasks", json=body, headers=MOXIE_AUTH, timeout=TIMEOUT)


def juxinli_application(sandbox: SandboxProviders, mobile: str) -> requests.Response:
    return post(f"{sandbox.juxinli_base_url}/orgApi/rest/v2/applications/{ORG}", basic_info(mobile))


def is_maintenance_page(response: requests.Response) -> bool:
    return (
        response.status_code == 200
        and response.headers["Content-Type"].startswith("text/html")
        and "系统维护中" in response.text
    )


def test_maintenance_follows_the_first_provider_asked(pair: SandboxProviders) -> None:
    # Juxinli first: down for every retry, Moxie healthy, then Juxinli recovers
    assert is_maintenance_page(juxinli_application(pair, "13800138030"))
    assert is_maintenance_page(juxinli_application(pair, "13800138030"))
    created = moxie_create(pair, "13800138030")
    assert created.status_code == 201
    status = requests.get(
        f"{pair.url('/moxie')}/carrier/v3/tasks/{created.json()['task_id']}/status", headers=MOXIE_AUTH, timeout=TIMEOUT
    )
    assert status.json()["phase_status"] == "DOING"
    # Moxie first: now Moxie is the one down, Juxinli is healthy
    assert is_maintenance_page(moxie_create(pair, "13800138030"))
    assert is_maintenance_page(moxie_create(pair, "13800138030"))
    assert juxinli_application(pair, "13800138030").json()["success"] is True


def test_maintenance_covers_every_request_about_the_number(pair: SandboxProviders) -> None:
    created = moxie_create(pair, "13800138030")  # Moxie is asked first: Moxie is down
    assert is_maintenance_page(created)
    token = juxinli_application(pair, "13800138030").json()["data"]["token"]  # Juxinli healthy
    collect_body = {"token": token, "account": "13800138030", "password": PASSWORD, "captcha": "", "type": ""}
    assert collect(pair, {**collect_body, "website": "chinamobilebj"})["data"]["process_code"] == 10002
    assert moxie_create(pair, "13800138000").status_code == 201  # only that number


def test_late_answer_moves_the_task_at_once_and_holds_nobody_up(pair: SandboxProviders) -> None:
    token = apply(pair, "13800138029")["data"]["token"]
    base = {"token": token, "account": "13800138029", "password": PASSWORD, "website": "chinamobilebj"}
    assert collect(pair, {**base, "captcha": "", "type": ""})["data"]["process_code"] == 10002
    started = time.monotonic()

    with ThreadPoolExecutor(max_workers=1) as pool:
        late = pool.submit(collect, pair, {**base, "captcha": SMS_CODE, "type": "SUBMIT_CAPTCHA"})
        access_token = report_token(pair)["access_token"]
        params = {"client_secret": SECRET, "access_token": access_token, "token": token}
        url = f"{pair.juxinli_base_url}/api/v2/job/access_jobs_status_by_token"
        deadline = started + LATE_SECONDS
        while (job := requests.get(url, params=params, timeout=TIMEOUT).json())["success"] is not True:
            assert time.monotonic() < deadline, job
        collecting_seen = time.monotonic()
        answer = late.result(timeout=LATE_SECONDS + 5)

    assert job["data"]["status"] == "采集中"
    assert collecting_seen - started < LATE_SECONDS  # the state changed before the answer went out
    assert time.monotonic() - started >= LATE_SECONDS
    assert answer["data"]["process_code"] == 10008


def test_moxie_late_answer_moves_the_task_at_once(pair: SandboxProviders) -> None:
    task_id = moxie_create(pair, "13800138029").json()["task_id"]
    task = f"{pair.url('/moxie')}/carrier/v3/tasks/{task_id}"
    deadline = time.monotonic() + 5
    while requests.get(f"{task}/status", headers=MOXIE_AUTH, timeout=TIMEOUT).json()["phase_status"] != "WAIT_CODE":
        assert time.monotonic() < deadline  # one LOGIN/DOING answer, then the prompt

    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{task}/input", json={"input": SMS_CODE}, headers=MOXIE_AUTH, timeout=(2, 0.3))
    status = requests.get(f"{task}/status", headers=MOXIE_AUTH, timeout=TIMEOUT).json()

    assert (status["phase"], status["phase_status"]) == ("CRAWL", "DOING")


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [(None, "text/plain; charset=utf-8"), ("text/html", "text/html"), ("application/json", "application/json")],
)
def test_scripted_text_answers_choose_their_content_type(
    sandbox: SandboxProviders, content_type: str | None, expected: str
) -> None:
    sandbox.respond_next("/juxinli", '{"success": tr', content_type=content_type)

    response = requests.get(f"{sandbox.juxinli_base_url}/api/v2/access_report_token", timeout=TIMEOUT)

    assert (response.status_code, response.headers["Content-Type"], response.text) == (200, expected, '{"success": tr')


def test_delayed_answer_still_takes_effect(sandbox: SandboxProviders) -> None:
    token = apply(sandbox)["data"]["token"]
    base = {"token": token, "account": "13800138000", "password": PASSWORD, "website": "chinamobilebj"}
    sandbox.delay_next("/juxinli/orgApi/rest/v2/messages/collect/req", 1)

    with pytest.raises(requests.ReadTimeout):
        requests.post(
            f"{sandbox.juxinli_base_url}/orgApi/rest/v2/messages/collect/req",
            json={**base, "captcha": "", "type": ""},
            timeout=(2, 0.2),
        )

    # the first collect was taken: a second one is out of turn
    again = collect(sandbox, {**base, "captcha": "", "type": ""})
    assert again == {"success": False, "message": "当前状态不能执行该操作"}


def test_dropped_connection_after_the_effect(sandbox: SandboxProviders) -> None:
    token = apply(sandbox)["data"]["token"]
    base = {"token": token, "account": "13800138000", "password": PASSWORD, "website": "chinamobilebj"}
    sandbox.drop_next("/juxinli")

    with pytest.raises(requests.ConnectionError):
        collect(sandbox, {**base, "captcha": "", "type": ""})

    assert collect(sandbox, {**base, "captcha": SMS_CODE, "type": "SUBMIT_CAPTCHA"})["data"]["process_code"] == 10008


def test_listen_backlog_fits_many_environments() -> None:
    assert _Server.request_queue_size == 1024


def test_per_call_latency_from_the_environment_applies_to_every_upstream_and_can_be_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARRIER_AUTH_SANDBOX_LATENCY_MS", "150")
    with SandboxProviders() as providers:
        providers.mount("/moxie", MoxieEmulator())
        assert providers.latency_seconds == pytest.approx(0.15)
        three_factor = f"{providers.three_factor_base_url}/tech/ai/celerity/universal"
        for url in (three_factor, f"{providers.url('/moxie')}/carrier/v3/tasks"):
            began = time.perf_counter()
            post(url, {})
            assert time.perf_counter() - began >= 0.15
        providers.set_latency_ms(0)
        providers.latency_seconds = 1  # a test's extra delay ...
        providers.clear_faults()  # ... is dropped, back to the configured value
        assert providers.latency_seconds == 0
    assert SandboxProviders(latency_ms=20).latency_seconds == pytest.approx(0.02)
    monkeypatch.setenv("CARRIER_AUTH_SANDBOX_LATENCY_MS", "fast")
    with pytest.raises(ValueError, match="CARRIER_AUTH_SANDBOX_LATENCY_MS"):
        SandboxProviders()
