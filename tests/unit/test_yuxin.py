"""YuxinProvider (驭信 verifyMobile, seed 001): AES vectors, the sandbox emulator over real HTTP,
refusals of broken requests, other cipher configurations and log hygiene."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from carrier_auth.providers.base import Identity, ProviderError, ProviderUnavailable
from carrier_auth.providers.yuxin import YuxinProvider, logon_plaintext
from local.sandbox import SandboxProviders
from local.sandbox.yuxin import SCENARIOS, YuxinEmulator

NAME = "张三"
ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"
TOKEN = "sandbox-yuxin-token"
KEY = "0123456789abcdef"
IV = "Yx7Kq2Lm9Pz4Rt6W"
TIMEOUT = (2, 5)
PREFIX = "/yuxin"
ECB_PREFIX = "/yuxin-ecb-hex"
KEY256_PREFIX = "/yuxin-aes256"
VERIFY = "/api/personalInfo/verifyMobile"

# ---------------------------------------------------------------------------------------------
# Known answers, computed once with the openssl command line tool (OpenSSL 3.0), independently
# of the code under test, for PLAINTEXT below (the compact UTF-8 JSON of person()):
#   KEY=$(printf 0123456789abcdef | xxd -p); IV=$(printf Yx7Kq2Lm9Pz4Rt6W | xxd -p)
#   printf '%s' "$PLAINTEXT" | openssl enc -aes-128-cbc -K $KEY -iv $IV -base64 -A
#   printf '%s' "$PLAINTEXT" | openssl enc -aes-128-ecb -K $KEY -nosalt | xxd -p | tr -d '\n'
#   printf '%s' "$PLAINTEXT" | openssl enc -aes-256-cbc -K $KEY_256_HEX -iv $IV -base64 -A
# (openssl enc pads with PKCS#7 by default.)
PLAINTEXT = '{"idCard":"11010519491231002X","userName":"张三","loginphone":"13800138000"}'
CBC_BASE64 = (
    "bKbZ0oK3+EWtZDGJkkKpyZwqvhuDvxu7RR0vx9tqs/eo9jSeDMH5bzcbKQ393kjTSozpT83BBkQzQqj79O1hfBxY"
    "jrSt+vNWyOcrWQxEMtw="
)
ECB_HEX = (
    "033adb2c7a995034ea20a2645184406895a4dcb51974acee397fb5cbc40dd4b766e0a12047c1a6abdeac2785"
    "48507782bbd49643c7eddbc140a445693ecf6e546dbff118f7d0a3870b5f42656955a794"
)
KEY_256_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
CBC_256_BASE64 = (
    "RUUjKYo1sgrtfl5B/2sPiCMsJm8BjsYpX5hPqFjwoJUQw157sH/G07/jXN7TKgMUf9Em3vMYLfHReQ87fAYHZ15k"
    "0QDG08OgMtLBvAYVO30="
)


def person(mobile: str = MOBILE) -> Identity:
    return Identity(name=NAME, id_number=ID_NUMBER, mobile=mobile)


# --------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def mounted(sandbox_server: SandboxProviders) -> Iterator[SandboxProviders]:
    """The emulator variants on the shared sandbox."""
    sandbox_server.mount(PREFIX, YuxinEmulator())
    sandbox_server.mount(ECB_PREFIX, YuxinEmulator(mode="ECB", output_encoding="hex"))
    sandbox_server.mount(KEY256_PREFIX, YuxinEmulator(aes_key=KEY_256_HEX, key_encoding="hex"))
    yield sandbox_server


@pytest.fixture
def yuxin(mounted: SandboxProviders, sandbox: SandboxProviders) -> SandboxProviders:
    return sandbox


@pytest.fixture
def provider(yuxin: SandboxProviders) -> YuxinProvider:
    return YuxinProvider(yuxin.url(PREFIX), TOKEN, KEY, timeout=TIMEOUT)


def raw_post(sandbox: SandboxProviders, params: dict[str, str], *, form: bool = True) -> dict[str, Any]:
    url = sandbox.url(PREFIX) + VERIFY
    if form:
        response = requests.post(url, data=params, timeout=TIMEOUT)
    else:
        response = requests.post(url, json=params, timeout=TIMEOUT)
    assert response.status_code == 200
    return response.json()


# ----------------------------------------------------------------------- (a) AES vectors
def test_logon_plaintext_is_compact_utf8_json() -> None:
    assert logon_plaintext(person()) == PLAINTEXT.encode("utf-8")


def test_cbc_base64_matches_openssl() -> None:
    provider = YuxinProvider("http://unused", TOKEN, KEY, iv_factory=lambda: IV)

    assert provider.build_params(person()) == {"token": TOKEN, "iv": IV, "logon": CBC_BASE64}
    assert provider.encrypt(PLAINTEXT.encode("utf-8"), IV) == CBC_BASE64


def test_base64_key_gives_the_same_ciphertext() -> None:
    key_b64 = base64.b64encode(KEY.encode()).decode()
    provider = YuxinProvider("http://unused", TOKEN, key_b64, key_encoding="base64", iv_factory=lambda: IV)

    assert provider.build_params(person())["logon"] == CBC_BASE64


def test_ecb_hex_matches_openssl_and_sends_no_iv() -> None:
    provider = YuxinProvider("http://unused", TOKEN, KEY, mode="ECB", output_encoding="hex")

    assert provider.build_params(person()) == {"token": TOKEN, "logon": ECB_HEX}


def test_aes256_hex_key_matches_openssl() -> None:
    provider = YuxinProvider("http://unused", TOKEN, KEY_256_HEX, key_encoding="hex", iv_factory=lambda: IV)

    assert provider.build_params(person())["logon"] == CBC_256_BASE64


def test_a_fresh_alphanumeric_iv_per_request() -> None:
    provider = YuxinProvider("http://unused", TOKEN, KEY)

    ivs = {provider.build_params(person())["iv"] for _ in range(20)}

    assert len(ivs) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9]{16}", iv) for iv in ivs)


@pytest.mark.parametrize(
    ("key", "options", "message"),
    [
        ("0123456789abcde", {}, "16, 24 or 32 bytes after utf-8 decoding, got 15"),
        ("00" * 20, {"key_encoding": "hex"}, "got 20"),
        ("not-hex-at-all!!", {"key_encoding": "hex"}, "not valid hex"),
        ("***not*base64***", {"key_encoding": "base64"}, "not valid base64"),
        (KEY, {"key_encoding": "latin-1"}, "key_encoding must be one of"),
        (KEY, {"mode": "GCM"}, "mode must be one of"),
        (KEY, {"output_encoding": "base32"}, "output_encoding must be one of"),
        (KEY, {"iv_length": 12}, "iv_length must be 16"),
    ],
)
def test_bad_configuration_is_refused_at_construction(key: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ProviderError, match=re.escape(message)) as caught:
        YuxinProvider("http://unused", TOKEN, key, **options)
    assert key not in str(caught.value)


def test_ecb_ignores_iv_length() -> None:
    assert YuxinProvider("http://unused", TOKEN, KEY, mode="ecb", iv_length=0).mode == "ECB"


# ------------------------------------------------------------- (b) every emulator scenario
OUTCOMES: dict[str, tuple[str, str] | type[Exception]] = {
    "13800138000": ("consistent", ""),
    "13800138001": ("inconsistent", "90026"),
    "13900139020": ("unknown", ""),
    "13900139021": ("invalid", "90005"),
    "13900139022": ("invalid", "90004"),
    "13900139023": ("invalid", "90012"),
    "13900139024": ("unknown", ""),
    "13900139025": ProviderUnavailable,
    "13900139026": ProviderError,
    "13900139027": ProviderError,
    "13900139030": ("consistent", ""),
    "13900139031": ProviderError,
    "13900139032": ProviderError,
    "13900139033": ProviderError,
    "13900139034": ProviderError,
    "13900139035": ProviderError,
    "13900139036": ProviderError,
    "13900139037": ("unknown", ""),
    "13900139038": ProviderError,
    "13900139039": ProviderError,
    "13900139040": ProviderError,
    "13900139041": ProviderError,
    "13900139042": ProviderError,
    "13900139043": ProviderError,
    "13900139044": ProviderError,
    "13900139045": ProviderUnavailable,
    "13900139046": ProviderUnavailable,
    "13900139047": ProviderUnavailable,
}


def test_every_scenario_has_an_expected_outcome() -> None:
    assert set(OUTCOMES) == set(SCENARIOS) | {MOBILE}
    error_codes = {scenario[0] for scenario in SCENARIOS.values()} | {"105"}
    seed_codes = {"103", "104", "105", "200", "201", "500", "501", "502", "503", "504"}
    seed_codes |= {str(code) for code in range(301, 316)}
    assert error_codes == seed_codes


@pytest.mark.parametrize("mobile", sorted(OUTCOMES))
def test_scenario(provider: YuxinProvider, yuxin: SandboxProviders, mobile: str) -> None:
    expected = OUTCOMES[mobile]
    error_code, _, return_code, _ = SCENARIOS.get(mobile, ("200", "", "10000", ""))

    if isinstance(expected, type):
        with pytest.raises(expected, match=f"errorCode {error_code}") as caught:
            provider.verify(person(mobile))
        if expected is ProviderError:
            assert not isinstance(caught.value, ProviderUnavailable)
        return
    result = provider.verify(person(mobile))

    assert (result.verdict, result.guide_code) == expected
    assert result.provider == "yuxin"
    assert result.raw_code == f"{error_code}/{return_code}"
    assert result.raw_message


def test_consistent_keeps_the_seed_wording(provider: YuxinProvider) -> None:
    result = provider.verify(person())

    assert (result.raw_code, result.raw_message, result.request_id) == ("200/10000", "一致的", "")


@pytest.mark.parametrize(
    ("mobile", "words"),
    [("13900139026", "account offline"), ("13900139027", "no balance")],
)
def test_token_failures_say_which(provider: YuxinProvider, mobile: str, words: str) -> None:
    with pytest.raises(ProviderError, match=f"token refused, {words}"):
        provider.verify(person(mobile))


def test_wrong_token_is_a_provider_error(yuxin: SandboxProviders) -> None:
    wrong = YuxinProvider(yuxin.url(PREFIX), "not-the-token", KEY, timeout=TIMEOUT)

    with pytest.raises(ProviderError, match="errorCode 105.*invalid token") as caught:
        wrong.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


def test_wrong_key_is_a_provider_error(yuxin: SandboxProviders) -> None:
    wrong = YuxinProvider(yuxin.url(PREFIX), TOKEN, "fedcba9876543210", timeout=TIMEOUT)

    with pytest.raises(ProviderError, match="errorCode 306.*not about a person") as caught:
        wrong.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


def test_the_emulator_checks_the_id_number_itself(provider: YuxinProvider) -> None:
    result = provider.verify(Identity(name=NAME, id_number="110105194912310021", mobile=MOBILE))

    assert (result.verdict, result.guide_code) == ("invalid", "90005")


def test_form_is_the_default_and_json_is_optional(yuxin: SandboxProviders) -> None:
    emulator = YuxinEmulator()
    yuxin.mount("/yuxin-format", emulator)
    url = yuxin.url("/yuxin-format")

    assert YuxinProvider(url, TOKEN, KEY, timeout=TIMEOUT).verify(person()).verdict == "consistent"
    assert emulator.last_format == "form"
    as_json = YuxinProvider(url, TOKEN, KEY, form=False, timeout=TIMEOUT)
    assert as_json.verify(person("13800138001")).verdict == "inconsistent"
    assert emulator.last_format == "json"


# ------------------------------------------------------ (c) broken requests reach refusals
def good_params(**changes: str | None) -> dict[str, str]:
    params = {"token": TOKEN, "iv": IV, "logon": CBC_BASE64}
    params.update(changes)  # type: ignore[arg-type]
    return {key: value for key, value in params.items() if value is not None}


def encrypted(plaintext: bytes, key: str = KEY) -> str:
    return YuxinProvider("http://unused", TOKEN, key).encrypt(plaintext, IV)


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_well_formed_raw_request_is_consistent(yuxin: SandboxProviders, form: bool) -> None:
    body = raw_post(yuxin, good_params(), form=form)

    assert body == {
        "errorCode": "200",
        "errorDetail": "查询成功",
        "errorReason": None,
        "info": None,
        "returnCode": "10000",
        "returnDesc": "一致的",
    }


@pytest.mark.parametrize(
    ("changes", "error_code", "detail"),
    [
        ({"token": "wrong"}, "105", "无效token"),
        ({"token": None}, "105", "无效token"),
        ({"iv": None}, "306", "请求参数iv为空或格式错误"),
        ({"iv": IV[:15]}, "306", "请求参数iv为空或格式错误"),
        ({"iv": IV + "X"}, "306", "请求参数iv为空或格式错误"),
        ({"iv": "Xx7Kq2Lm9Pz4Rt6W"}, "306", "请求参数logon为空或格式错误"),  # wrong iv: "{" garbled
        ({"logon": None}, "306", "请求参数logon为空或格式错误"),
        ({"logon": "not base64 !"}, "306", "请求参数logon为空或格式错误"),
        ({"logon": CBC_BASE64[:-8]}, "306", "请求参数logon为空或格式错误"),  # not whole blocks
        ({"logon": encrypted(PLAINTEXT.encode(), "fedcba9876543210")}, "306", "请求参数logon为空或格式错误"),
        ({"logon": encrypted(b"not json")}, "306", "请求参数logon为空或格式错误"),
        ({"logon": encrypted(b"[1, 2]")}, "306", "请求参数logon为空或格式错误"),
        ({"logon": encrypted(b'{"idCard":"11010519491231002X","userName":"x"}')}, "301", "参数不能为空"),
    ],
)
def test_broken_request_is_refused(
    yuxin: SandboxProviders, changes: dict[str, str | None], error_code: str, detail: str
) -> None:
    body = raw_post(yuxin, good_params(**changes))

    assert (body["errorCode"], body["errorDetail"]) == (error_code, detail)
    assert body["returnCode"] == ("" if error_code == "105" else "0")


def test_bad_padding_is_refused(yuxin: SandboxProviders) -> None:
    # One block whose last byte, decrypted, is not a valid PKCS7 count.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    block = b"0123456789abcde\x00"
    encryptor = Cipher(algorithms.AES(KEY.encode()), modes.CBC(IV.encode())).encryptor()
    logon = base64.b64encode(encryptor.update(block) + encryptor.finalize()).decode()

    body = raw_post(yuxin, good_params(logon=logon))

    assert (body["errorCode"], body["errorDetail"]) == ("306", "请求参数logon为空或格式错误")


def test_other_paths_are_not_found(yuxin: SandboxProviders) -> None:
    response = requests.post(yuxin.url(PREFIX) + "/api/other", data=good_params(), timeout=TIMEOUT)

    assert response.status_code == 404


# ----------------------------------------------------------- (d) other configurations
def test_ecb_hex_round_trip(yuxin: SandboxProviders) -> None:
    provider = YuxinProvider(yuxin.url(ECB_PREFIX), TOKEN, KEY, mode="ECB", output_encoding="hex", timeout=TIMEOUT)

    assert provider.verify(person()).verdict == "consistent"
    assert provider.verify(person("13800138001")).verdict == "inconsistent"
    assert provider.verify(person("13900139022")).guide_code == "90004"


def test_ecb_emulator_refuses_a_cbc_provider(yuxin: SandboxProviders) -> None:
    provider = YuxinProvider(yuxin.url(ECB_PREFIX), TOKEN, KEY, timeout=TIMEOUT)

    with pytest.raises(ProviderError, match="errorCode 306"):
        provider.verify(person())


def test_aes256_hex_key_round_trip(yuxin: SandboxProviders) -> None:
    provider = YuxinProvider(yuxin.url(KEY256_PREFIX), TOKEN, KEY_256_HEX, key_encoding="hex", timeout=TIMEOUT)

    assert provider.verify(person("13900139020")).verdict == "unknown"
    assert provider.verify(person()).verdict == "consistent"


def test_cbc_hex_with_base64_key_round_trip(yuxin: SandboxProviders) -> None:
    key_b64 = base64.b64encode(b"k" * 24).decode()
    yuxin.mount("/yuxin-b64", YuxinEmulator(aes_key=key_b64, key_encoding="base64", output_encoding="hex"))
    provider = YuxinProvider(
        yuxin.url("/yuxin-b64"), TOKEN, key_b64, key_encoding="base64", output_encoding="hex", form=False,
        timeout=TIMEOUT,
    )

    assert provider.verify(person("13900139023")).guide_code == "90012"
    assert provider.verify(person()).verdict == "consistent"


# ------------------------------------------------------------- mapping of other answers
def answer(error_code: Any, return_code: Any = "0", **extra: Any) -> dict[str, Any]:
    return {
        "errorCode": error_code,
        "errorDetail": extra.pop("errorDetail", "查询成功"),
        "errorReason": None,
        "info": extra.pop("info", None),
        "returnCode": return_code,
        "returnDesc": extra.pop("returnDesc", None),
        **extra,
    }


@pytest.mark.parametrize(
    ("body", "verdict", "guide_code", "raw_code"),
    [
        (answer(200, 10001, returnDesc="不一致的"), "inconsistent", "90026", "200/10001"),
        (answer(200.0, 10000), "consistent", "", "200/10000"),
        (answer("201", "", returnDesc=""), "unknown", "", "201/"),
        (answer("310", errorDetail="请求参数中存在无效数据: idCard"), "invalid", "90005", "310/0"),
        (answer("301", errorDetail="参数姓名不能为空"), "invalid", "90004", "301/0"),
        (answer("306", errorDetail="手机号格式错误"), "invalid", "90012", "306/0"),
    ],
)
def test_answer_mapping(
    provider: YuxinProvider, yuxin: SandboxProviders, body: dict[str, Any], verdict: str, guide_code: str,
    raw_code: str,
) -> None:
    yuxin.respond_next(PREFIX, body)

    result = provider.verify(person())

    assert (result.verdict, result.guide_code, result.raw_code) == (verdict, guide_code, raw_code)


@pytest.mark.parametrize(
    "body",
    [
        answer("200", "0"),
        answer("200", None),
        answer("999"),
        answer(None),
        answer("102", ""),
    ],
)
def test_unusable_answers_are_provider_errors(provider: YuxinProvider, yuxin: SandboxProviders, body: Any) -> None:
    yuxin.respond_next(PREFIX, body)

    with pytest.raises(ProviderError) as caught:
        provider.verify(person())
    assert not isinstance(caught.value, ProviderUnavailable)


@pytest.mark.parametrize(
    "body",
    [
        answer("200", "10000", requestId="req-1"),
        answer("200", "10000", info={"seqNo": "req-1"}),
    ],
)
def test_request_id_is_kept(provider: YuxinProvider, yuxin: SandboxProviders, body: dict[str, Any]) -> None:
    yuxin.respond_next(PREFIX, body)

    assert provider.verify(person()).request_id == "req-1"


def test_request_id_is_in_error_messages(provider: YuxinProvider, yuxin: SandboxProviders) -> None:
    yuxin.respond_next(PREFIX, answer("501", requestId="req-2"))

    with pytest.raises(ProviderUnavailable, match="request id req-2.*query timeout"):
        provider.verify(person())


def test_echoed_values_are_masked_in_raw_message(provider: YuxinProvider, yuxin: SandboxProviders) -> None:
    yuxin.respond_next(PREFIX, answer("200", "10001", returnDesc=f"{NAME}与{ID_NUMBER}不一致的"))

    assert provider.verify(person()).raw_message == "***与***不一致的"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_http_failures_are_transient(provider: YuxinProvider, yuxin: SandboxProviders, status: int) -> None:
    yuxin.fail_next(PREFIX, status=status)

    with pytest.raises(ProviderUnavailable):
        provider.verify(person())


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (["not", "an", "object"], None),
        ("<html>系统维护中</html>", "text/html"),
        ('{"errorCode": "2', "application/json"),
    ],
)
def test_answers_that_are_not_the_protocol_are_transient(
    provider: YuxinProvider, yuxin: SandboxProviders, body: Any, content_type: str | None
) -> None:
    """The check only reads: an answer that is not the protocol is an unavailable provider."""
    yuxin.respond_next(PREFIX, body, content_type=content_type)

    with pytest.raises(ProviderUnavailable):
        provider.verify(person())


def test_timeout_is_transient(yuxin: SandboxProviders) -> None:
    impatient = YuxinProvider(yuxin.url(PREFIX), TOKEN, KEY, timeout=(2, 0.2))
    yuxin.latency_seconds = 1

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        impatient.verify(person())


# ----------------------------------------------------------------------- (e) log hygiene
def test_no_secret_or_personal_value_in_logs_or_errors(
    yuxin: SandboxProviders, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    provider = YuxinProvider(yuxin.url(PREFIX), TOKEN, KEY, timeout=TIMEOUT, iv_factory=lambda: IV)
    wrong_token = YuxinProvider(yuxin.url(PREFIX), "wrong-token-value", KEY, timeout=TIMEOUT)
    messages: list[str] = [repr(provider)]

    for mobile in ("13800138000", "13800138001", "13900139021", "13900139024"):
        result = provider.verify(person(mobile))
        messages += [result.raw_message, result.raw_code, result.request_id]
    for mobile in ("13900139025", "13900139026", "13900139032"):
        with pytest.raises(ProviderError) as caught:
            provider.verify(person(mobile))
        messages.append(str(caught.value))
    with pytest.raises(ProviderError) as caught:
        wrong_token.verify(person())
    messages.append(str(caught.value))

    text = caplog.text + "\n".join(messages)
    assert "yuxin" in caplog.text and "138****8001" in caplog.text
    forbidden = [NAME, ID_NUMBER, MOBILE, "13800138001", "13900139021", TOKEN, "wrong-token-value", KEY,
                 CBC_BASE64[:16], PLAINTEXT[:20], "loginphone\":"]
    for value in forbidden:
        assert value not in text, value
