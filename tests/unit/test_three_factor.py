"""ThreeFactorProvider against the sandbox three-factor emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json

from typing import Any

import pytest

from carrier_auth.providers.base import Identity, ProviderError, ProviderUnavailable
from carrier_auth.providers.three_factor import ThreeFactorProvider
from local.sandbox import SandboxProviders

NAME = "张三"
ID_NUMBER = "11010519491231002X"
TOKEN = "sandbox-three-factor-token"
UNIVERSAL = "/three-factor/tech/ai/celerity/universal"


@pytest.fixture
def provider(sandbox: SandboxProviders) -> ThreeFactorProvider:
    return ThreeFactorProvider(sandbox.three_factor_base_url, TOKEN, timeout=(2, 5))


def person(mobile: str = "13800138000") -> Identity:
    return Identity(name=NAME, id_number=ID_NUMBER, mobile=mobile)


def envelope(response: dict[str, Any], *, result_as_text: bool = False) -> dict[str, Any]:
    result: Any = {"responseJson": {"Response": response}}
    if result_as_text:
        result = json.dumps(result, ensure_ascii=False)
    return {
        "errcode": 0,
        "data": {"traceNo": "1529628301297995777", "result": result, "status": "success"},
        "errmsg": "SUCCESS",
    }


def test_consistent(provider: ThreeFactorProvider) -> None:
    result = provider.verify(person())

    assert (result.verdict, result.guide_code) == ("consistent", "")
    assert result.provider == "three_factor"
    assert (result.isp, result.raw_code, result.raw_message) == ("移动", "0", "认证通过")
    assert result.request_id


@pytest.mark.parametrize(
    ("mobile", "verdict", "guide_code", "raw_code"),
    [
        ("13800138001", "inconsistent", "90026", "-4"),
        ("13900139006", "invalid", "90012", "-6"),
        ("13900139007", "invalid", "90005", "-7"),
        ("13900139008", "invalid", "90004", "-8"),
        ("13900139009", "unknown", "", "-9"),
        ("13900139012", "unknown", "", "-12"),
        ("13900139013", "unknown", "", "-13"),
    ],
)
def test_result_mapping(
    provider: ThreeFactorProvider, mobile: str, verdict: str, guide_code: str, raw_code: str
) -> None:
    result = provider.verify(person(mobile))

    assert (result.verdict, result.guide_code, result.raw_code) == (verdict, guide_code, raw_code)
    assert result.raw_message
    assert result.request_id


# Every Result of seed 002 and Tencent's -12/-13, as the upstream sends it (Isp and RequestId
# set), through the envelope: the verdict, the guide code and the kept fields.
SEED_RESULTS = [
    ("0", "认证通过", "consistent", ""),
    ("-4", "三要素信息不一致", "inconsistent", "90026"),
    ("-6", "手机号码不合法", "invalid", "90012"),
    ("-7", "身份证号码有误", "invalid", "90005"),
    ("-8", "姓名校验不通过", "invalid", "90004"),
    ("-9", "没有记录", "unknown", ""),
    ("-12", "认证次数超过当日限制，请次日重试", "unknown", ""),
    ("-13", "不支持该号段", "unknown", ""),
]


def test_the_table_covers_every_documented_result() -> None:
    documented = {"0", "-4", "-6", "-7", "-8", "-9", "-11", "-12", "-13"}
    assert {row[0] for row in SEED_RESULTS} | {"-11"} == documented


@pytest.mark.parametrize(("code", "description", "verdict", "guide_code"), SEED_RESULTS)
@pytest.mark.parametrize("isp", ["移动", "电信", "联通", ""])
def test_every_result_keeps_isp_and_request_id(
    provider: ThreeFactorProvider,
    sandbox: SandboxProviders,
    code: str,
    description: str,
    verdict: str,
    guide_code: str,
    isp: str,
) -> None:
    request_id = f"rid-{code}-{len(isp)}"
    response = {"Result": code, "Description": description, "Isp": isp, "RequestId": request_id}
    sandbox.respond_next(UNIVERSAL, envelope(response))

    result = provider.verify(person())

    assert (result.verdict, result.guide_code) == (verdict, guide_code)
    assert (result.raw_code, result.raw_message) == (code, description)
    assert (result.isp, result.request_id) == (isp, request_id)
    assert result.provider == "three_factor"


def test_busy_result_names_the_request_id(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    response = {"Result": -11, "Description": "验证中心服务繁忙", "Isp": "", "RequestId": "rid-busy"}
    sandbox.respond_next(UNIVERSAL, envelope(response))

    with pytest.raises(ProviderUnavailable, match="-11.*rid-busy"):
        provider.verify(person())


def test_trace_no_stands_in_for_a_missing_request_id(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    sandbox.respond_next(UNIVERSAL, envelope({"Result": "0", "Isp": "移动"}))

    assert provider.verify(person()).request_id == "1529628301297995777"


def test_inconsistent_keeps_the_isp(provider: ThreeFactorProvider) -> None:
    assert provider.verify(person("13800138001")).isp == "移动"


def test_busy_result_is_transient(provider: ThreeFactorProvider) -> None:
    with pytest.raises(ProviderUnavailable, match="-11"):
        provider.verify(person("13900139011"))


def test_wrong_token_is_a_provider_error(sandbox: SandboxProviders) -> None:
    wrong = ThreeFactorProvider(sandbox.three_factor_base_url, "not-the-token")

    with pytest.raises(ProviderError, match="errcode 401") as caught:
        wrong.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize(
    ("response", "verdict"),
    [
        ({"Result": 0, "Description": "认证通过", "Isp": "联通", "RequestId": "r-1"}, "consistent"),
        ({"Result": -4, "Description": "信息不一致", "Isp": "电信", "RequestId": "r-2"}, "inconsistent"),
    ],
)
def test_integer_result(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, response: dict[str, Any], verdict: str
) -> None:
    sandbox.respond_next(UNIVERSAL, envelope(response))

    result = provider.verify(person())

    assert (result.verdict, result.raw_code) == (verdict, str(response["Result"]))
    assert (result.isp, result.request_id) == (response["Isp"], response["RequestId"])


def test_result_sent_as_a_json_string(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    response = {"Result": "-8", "Description": "姓名校验不通过", "Isp": "", "RequestId": "r-3"}
    sandbox.respond_next(UNIVERSAL, envelope(response, result_as_text=True))

    result = provider.verify(person())

    assert (result.verdict, result.guide_code) == ("invalid", "90004")


@pytest.mark.parametrize(
    "code", ["InternalError", "InternalError.UnknownError", "RequestLimitExceeded"]
)
def test_transient_tencent_error(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, code: str
) -> None:
    error = {"Error": {"Code": code, "Message": "内部错误"}, "RequestId": "r-4"}
    sandbox.respond_next(UNIVERSAL, envelope(error))

    with pytest.raises(ProviderUnavailable, match=code):
        provider.verify(person())


def test_tencent_error_message_is_not_quoted(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    message = f"参数Name({NAME})或IdCard({ID_NUMBER})不合法"
    error = {"Error": {"Code": "InvalidParameterValue", "Message": message}, "RequestId": "r-5"}
    sandbox.respond_next(UNIVERSAL, envelope(error))

    with pytest.raises(ProviderError, match="InvalidParameterValue") as caught:
        provider.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)
    assert NAME not in str(caught.value) and ID_NUMBER not in str(caught.value)


@pytest.mark.parametrize(
    "code", ["FailedOperation.UnKnown", "InvalidParameter", "UnauthorizedOperation.Arrears", ""]
)
def test_other_tencent_errors_are_provider_errors(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, code: str
) -> None:
    error = {"Error": {"Code": code, "Message": "失败"}, "RequestId": "r-7"}
    sandbox.respond_next(UNIVERSAL, envelope(error))

    with pytest.raises(ProviderError, match="RequestId r-7") as caught:
        provider.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


def test_errmsg_is_masked(provider: ThreeFactorProvider, sandbox: SandboxProviders) -> None:
    errmsg = f"参数错误: Name={NAME}, IdCard={ID_NUMBER}, Phone=13800138000"
    sandbox.respond_next(UNIVERSAL, {"errcode": 400, "errmsg": errmsg, "data": None})

    with pytest.raises(ProviderError, match="errcode 400") as caught:
        provider.verify(person())
    text = str(caught.value)
    assert NAME not in text and ID_NUMBER not in text and "13800138000" not in text


def test_unknown_result_is_a_provider_error(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    sandbox.respond_next(UNIVERSAL, envelope({"Result": "-99", "RequestId": "r-6"}))

    with pytest.raises(ProviderError, match="-99"):
        provider.verify(person())


@pytest.mark.parametrize(
    "body",
    [
        {"errcode": 500, "errmsg": "下游异常", "data": None},
        {"errcode": "E1001", "errmsg": "余额不足"},
    ],
)
def test_refusals_are_provider_errors(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, body: Any
) -> None:
    sandbox.respond_next(UNIVERSAL, body)

    with pytest.raises(ProviderError) as caught:
        provider.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"errcode": 0, "data": {"result": "not json"}}, None),
        ({"errcode": 0, "data": {"result": {"responseJson": {}}}}, None),
        (["not", "an", "object"], None),
        ("<html><body>系统维护中</body></html>", "text/html"),
        ('{"errcode": 0, "data": {"tra', "application/json"),
    ],
)
def test_answers_that_are_not_the_protocol_are_transient(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, body: Any, content_type: str | None
) -> None:
    """The check only reads: an answer that is not the protocol is an unavailable provider."""
    sandbox.respond_next(UNIVERSAL, body, content_type=content_type)

    with pytest.raises(ProviderUnavailable):
        provider.verify(person())


@pytest.mark.parametrize("status", [500, 503])
def test_http_5xx_is_transient(
    provider: ThreeFactorProvider, sandbox: SandboxProviders, status: int
) -> None:
    sandbox.fail_next("/three-factor", status=status)

    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify(person())
    assert NAME not in str(caught.value) and ID_NUMBER not in str(caught.value)


def test_fault_count_then_recovery(
    provider: ThreeFactorProvider, sandbox: SandboxProviders
) -> None:
    sandbox.fail_next("/three-factor", status=503, count=2)

    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            provider.verify(person())
    assert provider.verify(person()).verdict == "consistent"


def test_timeout_is_transient(sandbox: SandboxProviders) -> None:
    impatient = ThreeFactorProvider(sandbox.three_factor_base_url, TOKEN, timeout=(2, 0.2))
    sandbox.latency_seconds = 2

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        impatient.verify(person())
