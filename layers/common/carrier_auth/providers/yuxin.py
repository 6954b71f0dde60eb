"""驭信 Yuxin real-name mobile check (seed 001, providers.md section 4).

``POST {base}/api/personalInfo/verifyMobile`` with the system parameters ``token`` and ``iv``
and the business parameter ``logon``: the AES-encrypted JSON ``{"idCard", "userName",
"loginphone"}``. The platform issues the key; the caller makes up the iv for every request and
sends it along.

The seed fixes neither the cipher details nor the request encoding. Defaults (all configurable):

* AES-CBC with PKCS7 padding, the key as the UTF-8 bytes of the configured text;
* a fresh 16-character random alphanumeric ``iv`` per request, sent as-is, whose UTF-8 bytes
  are the AES IV (ECB sends no ``iv``);
* ``logon`` = Base64 (standard alphabet, padded) of the ciphertext of the compact UTF-8 JSON;
* the three parameters form-encoded (``application/x-www-form-urlencoded``): the seed leaves the
  request type blank ("请求参数类型 -") and only names flat string parameters, where seed 002
  says "接口数据格式 Json" outright. ``form=False`` sends them as a JSON object instead.

The answer (codes arrive as strings, ints are accepted): ``errorCode`` says whether the request
went through, ``returnCode`` (only meaningful for 200/201) is the verdict. The mapping lives in
``_RETURN_CODES``, ``_REQUEST_ERRORS``, ``_FIELD_ERRORS`` and ``_classify``:

======================  ==========================================================
errorCode / returnCode  result
======================  ==========================================================
200|201 / 10000         consistent
200|201 / 10001         inconsistent, guide 90026
200|201 / 10002         unknown
201 / other or empty    unknown (partly successful, no verdict)
200 / other or empty    ProviderError
301, 306, 310           invalid with guide 90005 / 90004 / 90012 when ``errorDetail``
                        names idCard / userName / loginphone; otherwise ProviderError
308 (no result found)   unknown
302-305, 307, 309,      ProviderError (account, permission, signature, duplicate,
311-315                 balance, quota, contract, header problems)
500, 501, 502, 503      ProviderUnavailable (server error, query timeout, request
                        failed, interface not responding: worth a retry)
504                     unknown (the external data source failed: no verdict)
103, 104, 105           ProviderError: token refused (account offline / no balance /
                        invalid token); not retryable
anything else           ProviderError
======================  ==========================================================

The check is a read (nothing changes upstream; a repeat is only billed again): a failed call, an
HTTP 429 / 5xx and a body that is not a JSON object are ``ProviderUnavailable``.

``raw_code`` keeps ``"<errorCode>/<returnCode>"``; ``raw_message`` the ``returnDesc`` (or the
``errorDetail``) with any of the person's own values masked; ``request_id`` the first request
id-like field of the answer (top level or ``info``), the seed's shape has none.

Exception messages and logs carry codes and the seed's own wording for them only: never the
``logon`` plaintext or ciphertext, the name, id number, mobile, token or key, nor the upstream's
free text (which could quote a parameter).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..codes import BAD_ID_NUMBER, BAD_MOBILE, BAD_NAME, IDENTITY_MISMATCH
from . import http
from .base import Identity, IdentityResult, ProviderError, ProviderUnavailable, Verdict

logger = Logger(child=True)

PATH = "/api/personalInfo/verifyMobile"
MODES = ("CBC", "ECB")
KEY_ENCODINGS = ("utf-8", "hex", "base64")
OUTPUT_ENCODINGS = ("base64", "hex")
KEY_LENGTHS = (16, 24, 32)
IV_ALPHABET = string.ascii_letters + string.digits
AES_BLOCK_BYTES = 16

OK, PARTLY = "200", "201"

# returnCode -> (verdict, guide code)
_RETURN_CODES: dict[str, tuple[Verdict, str]] = {
    "10000": ("consistent", ""),
    "10001": ("inconsistent", IDENTITY_MISMATCH),
    "10002": ("unknown", ""),
}

# Codes whose errorDetail may name the bad parameter ("请求参数{$1}为空或格式错误").
_FIELD_CODES = frozenset({"301", "306", "310"})
# (substrings of errorDetail, lower-cased; guide code). The id card is checked first:
# "身份证号码" also contains "号码".
_FIELD_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("idcard", "身份证", "证件"), BAD_ID_NUMBER),
    (("username", "姓名", "用户名", "客户名"), BAD_NAME),
    (("loginphone", "手机", "电话"), BAD_MOBILE),
)

NO_RESULT = "308"
SOURCE_FAILED = "504"
TRANSIENT_CODES = frozenset({"500", "501", "502", "503"})
TOKEN_CODES = frozenset({"103", "104", "105"})

# The seed's own wording of every errorCode, for messages (never the upstream's free text).
ERROR_CODES: dict[str, str] = {
    "103": "account offline (账户已下线)",
    "104": "no balance (账户余额不足)",
    "105": "invalid token (无效token)",
    "200": "success (成功)",
    "201": "partly successful (部分成功)",
    "301": "parameter empty (参数不能为空)",
    "302": "account does not exist (请求账号不存在)",
    "303": "wrong password (请求密码不正确)",
    "304": "account frozen (请求帐号被冻结)",
    "305": "no access to this interface (请求没有此接口访问权限)",
    "306": "parameter empty or malformed (请求参数为空或格式错误)",
    "307": "signature check failed (请求验签失败)",
    "308": "no result found (请求没有查询到结果)",
    "309": "duplicate request (请求重复的请求)",
    "310": "invalid data in the parameters (请求参数中存在无效数据)",
    "311": "insufficient permission (权限不足)",
    "312": "insufficient balance (请求账号余额不足)",
    "313": "no calls left (剩余次数不足)",
    "314": "contract expired (合同时间过期)",
    "315": "bad request headers (请求头信息错误)",
    "500": "system error (系统错误，服务器异常)",
    "501": "query timeout (查询超时)",
    "502": "request failed (请求失败)",
    "503": "interface not responding (接口未响应)",
    "504": "external data source failure (外部数据源异常)",
}

# Request id-like fields, looked up at the top level and in ``info``.
_REQUEST_ID_KEYS = (
    "requestId", "request_id", "reqId", "seqNo", "serialNo", "transId", "traceNo", "orderNo",
    "tradeNo",
)


class YuxinProvider:
    """IdentityProvider over 驭信's ``verifyMobile``."""

    name = "yuxin"

    def __init__(
        self,
        base_url: str,
        token: str,
        aes_key: str,
        *,
        mode: str = "CBC",
        iv_length: int = AES_BLOCK_BYTES,
        key_encoding: str = "utf-8",
        output_encoding: str = "base64",
        form: bool = True,
        timeout: http.Timeout = http.DEFAULT_TIMEOUT,
        iv_factory: Callable[[], str] | None = None,
    ) -> None:
        self._mode = _choice(mode.upper(), MODES, "mode")
        self._key_encoding = _choice(_encoding_name(key_encoding), KEY_ENCODINGS, "key_encoding")
        self._output_encoding = _choice(output_encoding.lower(), OUTPUT_ENCODINGS, "output_encoding")
        self._key = decode_key(aes_key, self._key_encoding)
        if self._mode == "CBC" and iv_length != AES_BLOCK_BYTES:
            raise ProviderError(
                f"yuxin iv_length must be {AES_BLOCK_BYTES} for AES-CBC "
                f"(the iv's UTF-8 bytes are the AES IV), got {iv_length}"
            )
        if not token:
            raise ProviderError("yuxin token is empty")
        self._url = f"{base_url.rstrip('/')}{PATH}"
        self._token = token
        self._iv_length = iv_length
        self._form = form
        self._timeout = timeout
        self._iv_factory = iv_factory or self._random_iv

    def __repr__(self) -> str:
        return f"YuxinProvider(url={http.safe_url(self._url)!r}, mode={self._mode!r})"

    @property
    def mode(self) -> str:
        return self._mode

    def verify(self, identity: Identity) -> IdentityResult:
        params = self.build_params(identity)
        # a query: nothing changes upstream (a repeat is only billed again)
        send = http.post_form if self._form else http.post_json
        body = send(
            self._url, params, provider=self.name, operation="verify", changes_state=False, timeout=self._timeout
        )
        result = self._classify(body, identity)
        logger.info(
            "yuxin answered", extra={"provider": self.name, "upstream_code": result.raw_code, "verdict": result.verdict}
        )
        return result

    # ------------------------------------------------------------------ request
    def build_params(self, identity: Identity) -> dict[str, str]:
        """The request parameters: ``token``, ``iv`` (CBC only) and the encrypted ``logon``."""
        plaintext = logon_plaintext(identity)
        params = {"token": self._token}
        if self._mode == "CBC":
            iv = self._iv_factory()
            params["iv"] = iv
            params["logon"] = self.encrypt(plaintext, iv)
        else:
            params["logon"] = self.encrypt(plaintext)
        return params

    def encrypt(self, plaintext: bytes, iv: str | None = None) -> str:
        """AES (configured mode, PKCS7) of ``plaintext``, Base64 or hex encoded."""
        if self._mode == "CBC":
            iv_bytes = (iv or "").encode("utf-8")
            if len(iv_bytes) != AES_BLOCK_BYTES:
                raise ProviderError(f"yuxin iv must be {AES_BLOCK_BYTES} bytes in UTF-8")
            cipher_mode: modes.Mode = modes.CBC(iv_bytes)
        else:
            cipher_mode = modes.ECB()
        padder = padding.PKCS7(AES_BLOCK_BYTES * 8).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._key), cipher_mode).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        if self._output_encoding == "hex":
            return ciphertext.hex()
        return base64.b64encode(ciphertext).decode("ascii")

    def _random_iv(self) -> str:
        return "".join(secrets.choice(IV_ALPHABET) for _ in range(self._iv_length))

    # ------------------------------------------------------------------ answer
    def _classify(self, body: dict[str, Any], identity: Identity) -> IdentityResult:
        error_code = _code(body.get("errorCode"))
        return_code = _code(body.get("returnCode"))
        request_id = _request_id(body)
        where = f"yuxin errorCode {error_code or '(none)'}"
        if request_id:
            where += f" (request id {request_id})"

        def result(verdict: Verdict, guide_code: str = "") -> IdentityResult:
            message = body.get("returnDesc") if error_code in (OK, PARTLY) else None
            return IdentityResult(
                verdict=verdict,
                provider=self.name,
                guide_code=guide_code,
                raw_code=f"{error_code}/{return_code}",
                raw_message=_scrub(message or body.get("errorDetail"), identity),
                request_id=request_id,
            )

        if error_code in (OK, PARTLY):
            if return_code in _RETURN_CODES:
                return result(*_RETURN_CODES[return_code])
            if error_code == PARTLY:
                return result("unknown")
            raise ProviderError(f"{where}: returnCode {return_code or '(empty)'} is not known")
        if error_code in TOKEN_CODES:
            raise ProviderError(f"{where}: token refused, {ERROR_CODES[error_code]}")
        if error_code in _FIELD_CODES:
            guide_code = _field_guide(body.get("errorDetail"))
            if guide_code:
                return result("invalid", guide_code)
            raise ProviderError(
                f"{where}: {ERROR_CODES[error_code]}, not about a person's field "
                "(check the token, iv, AES key, mode and encodings)"
            )
        if error_code in (NO_RESULT, SOURCE_FAILED):
            return result("unknown")
        if error_code in TRANSIENT_CODES:
            raise ProviderUnavailable(f"{where}: {ERROR_CODES[error_code]}")
        if error_code in ERROR_CODES:
            raise ProviderError(f"{where}: {ERROR_CODES[error_code]}")
        raise ProviderError(f"{where} is not known")


# ---------------------------------------------------------------------- helpers
def logon_plaintext(identity: Identity) -> bytes:
    """The ``logon`` JSON before encryption: compact, UTF-8, in the seed's field order."""
    document = {
        "idCard": identity.id_number,
        "userName": identity.name,
        "loginphone": identity.mobile,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_key(aes_key: str, key_encoding: str = "utf-8") -> bytes:
    """The AES key bytes of ``aes_key``; ProviderError (never quoting the key) when unusable."""
    encoding = _encoding_name(key_encoding)
    try:
        if encoding == "hex":
            key = bytes.fromhex(aes_key)
        elif encoding == "base64":
            key = base64.b64decode(aes_key, validate=True)
        elif encoding == "utf-8":
            key = aes_key.encode("utf-8")
        else:
            raise ProviderError(f"yuxin key_encoding must be one of {KEY_ENCODINGS}")
    except (ValueError, binascii.Error, AttributeError):
        raise ProviderError(f"yuxin aes_key is not valid {encoding}") from None
    if len(key) not in KEY_LENGTHS:
        raise ProviderError(
            f"yuxin aes_key must be 16, 24 or 32 bytes after {encoding} decoding, got {len(key)}"
        )
    return key


def _encoding_name(value: str) -> str:
    lowered = value.lower()
    return "utf-8" if lowered in ("utf8", "utf-8", "text") else lowered


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ProviderError(f"yuxin {what} must be one of {allowed}, got {value!r}")
    return value


def _code(value: Any) -> str:
    """A code as text: "200", 200 and 200.0 are all "200"; None is ""."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _field_guide(detail: Any) -> str:
    text = str(detail or "").lower()
    for words, guide_code in _FIELD_ERRORS:
        if any(word in text for word in words):
            return guide_code
    return ""


def _request_id(body: dict[str, Any]) -> str:
    info = body.get("info")
    for container in (body, info if isinstance(info, dict) else {}):
        for key in _REQUEST_ID_KEYS:
            value = container.get(key)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
                return str(value)
    return ""


def _scrub(text: Any, identity: Identity) -> str:
    """Upstream text with the person's own values masked (some services echo parameters)."""
    if text is None:
        return ""
    result = str(text)
    for value in (identity.id_number, identity.name, identity.mobile):
        if value:
            result = result.replace(value, "***")
    return result
