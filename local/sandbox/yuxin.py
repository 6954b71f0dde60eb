"""Sandbox emulator of 驭信 Yuxin's real-name mobile check (seed 001). Local and tests only.

Served by ``SandboxProviders`` under ``PREFIX`` (more: ``sandbox.mount(prefix, YuxinEmulator(..))``);
the provider's base URL is then ``sandbox.url(PREFIX)``. It serves ``POST
/api/personalInfo/verifyMobile`` and reads ``token``, ``iv`` and ``logon`` from a JSON object
body, a form body (a dict, or the raw ``str``/``bytes`` of an
``application/x-www-form-urlencoded`` body) or the query string.

Checks, in the order a real gateway would make them (token first, seed section 5.1):

==============================================  =============================================
request                                         answer (errorCode, errorDetail)
==============================================  =============================================
token absent or not the configured one          105 无效token (returnCode "")
CBC and iv absent, or not 16 bytes in UTF-8     306 请求参数iv为空或格式错误
logon absent, not Base64/hex, not a whole       306 请求参数logon为空或格式错误
number of blocks, bad padding, not UTF-8 JSON
object
idCard / userName / loginphone key missing      301 参数不能为空
idCard empty or not a valid PRC id number       306 请求参数idCard为空或格式错误
userName empty                                  306 请求参数userName为空或格式错误
loginphone not 11 digits starting with 1        306 请求参数loginphone为空或格式错误
==============================================  =============================================

Then the decrypted ``loginphone`` picks the answer: the number's ``yuxin`` in
``local.sandbox.scenarios`` (every code of the seed's table has a number there), ``CONSISTENT``
(200 / 10000 一致的) for any other number.

Answers use the seed's shape: ``{"errorCode", "errorDetail", "errorReason": null, "info":
null, "returnCode", "returnDesc"}``, codes as strings. The cipher is configured like the
provider (``mode`` CBC/ECB, ``key_encoding`` utf-8/hex/base64, ``output_encoding``
base64/hex) and decryption is implemented here on its own, not borrowed from the adapter.
``last_format`` says how the last request's parameters arrived, by its Content-Type ("form",
"json", or "query" for neither).
Log lines (logger ``carrier_auth.sandbox``) carry a masked mobile and the codes only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from stdnum.cn import ric

from .common import Reply, Settings, logger, mask_mobile
from .scenarios import CONSISTENT, SCENARIOS as ROWS, scenario

PREFIX = "/yuxin"
PATH = "/api/personalInfo/verifyMobile"
DEFAULT_TOKEN = "sandbox-yuxin-token"
DEFAULT_AES_KEY = "0123456789abcdef"

# loginphone -> (errorCode, errorDetail, returnCode, returnDesc): the numbers not CONSISTENT (a view)
SCENARIOS: dict[str, tuple[str, str, str, str | None]] = {
    row.mobile: row.yuxin for row in ROWS if row.yuxin != CONSISTENT
}

_FIELDS = ("idCard", "userName", "loginphone")
_MOBILE = re.compile(r"1\d{10}")


def build(settings: Settings) -> YuxinEmulator:
    return YuxinEmulator(settings.yuxin_token, settings.yuxin_aes_key)


class YuxinEmulator:
    """驭信 ``verifyMobile``: real decryption of ``logon``, answers chosen by ``loginphone``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        aes_key: str = DEFAULT_AES_KEY,
        *,
        mode: str = "CBC",
        key_encoding: str = "utf-8",
        output_encoding: str = "base64",
    ) -> None:
        self._token = token
        self._mode = mode.upper()
        if self._mode not in ("CBC", "ECB"):
            raise ValueError("mode must be CBC or ECB")
        self._key = _key_bytes(aes_key, key_encoding.lower())
        if len(self._key) not in (16, 24, 32):
            raise ValueError("the AES key must be 16, 24 or 32 bytes")
        self._output_encoding = output_encoding.lower()
        if self._output_encoding not in ("base64", "hex"):
            raise ValueError("output_encoding must be base64 or hex")
        self.last_format = ""

    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: Any) -> Reply:
        if method != "POST" or path != PATH:
            return 404, _answer("404", "接口不存在", "0", None)
        params, self.last_format = _params(query, headers, body)
        if params.get("token") != self._token:
            logger.info("sandbox yuxin refused: bad token")
            return 200, _answer("105", "无效token", "", "")
        iv = params.get("iv") or ""
        if self._mode == "CBC" and len(iv.encode("utf-8")) != 16:
            logger.info("sandbox yuxin refused: bad iv")
            return 200, _bad_parameter("iv")
        logon = self._decrypt(params.get("logon") or "", iv)
        if logon is None:
            logger.info("sandbox yuxin refused: logon not decryptable")
            return 200, _bad_parameter("logon")
        mobile = logon.get("loginphone")
        problem = _check_fields(logon)
        if problem is not None:
            logger.info("sandbox yuxin mobile=%s refused: errorCode %s", mask_mobile(mobile), problem["errorCode"])
            return 200, problem
        error_code, detail, return_code, description = scenario(mobile).yuxin
        logger.info(
            "sandbox yuxin mobile=%s errorCode=%s returnCode=%s",
            mask_mobile(mobile),
            error_code,
            return_code or "(empty)",
        )
        return 200, _answer(error_code, detail, return_code, description)

    def _decrypt(self, logon: str, iv: str) -> dict[str, Any] | None:
        """The decrypted ``logon`` object, or None when anything about it is wrong."""
        try:
            if self._output_encoding == "hex":
                ciphertext = binascii.unhexlify(logon)
            else:
                ciphertext = base64.b64decode(logon, validate=True)
        except (ValueError, binascii.Error):
            return None
        if not ciphertext or len(ciphertext) % 16:
            return None
        mode = modes.CBC(iv.encode("utf-8")) if self._mode == "CBC" else modes.ECB()
        decryptor = Cipher(algorithms.AES(self._key), mode).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        plaintext = _strip_pkcs7(padded)
        if plaintext is None:
            return None
        try:
            document = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return document if isinstance(document, dict) else None


def _key_bytes(aes_key: str, key_encoding: str) -> bytes:
    if key_encoding == "hex":
        return binascii.unhexlify(aes_key)
    if key_encoding == "base64":
        return base64.b64decode(aes_key, validate=True)
    if key_encoding in ("utf-8", "utf8"):
        return aes_key.encode("utf-8")
    raise ValueError("key_encoding must be utf-8, hex or base64")


def _strip_pkcs7(padded: bytes) -> bytes | None:
    count = padded[-1]
    if not 1 <= count <= 16 or padded[-count:] != bytes([count]) * count:
        return None
    return padded[:-count]


def _params(query: dict[str, str], headers: Any, body: Any) -> tuple[dict[str, str], str]:
    """Request parameters and how they arrived ("form", "json" or "query"); the body wins."""
    content_type = str((headers.get("Content-Type") if headers is not None else "") or "")
    source = "form" if "x-www-form-urlencoded" in content_type else "json" if "json" in content_type else "query"
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        body = {key: values[0] for key, values in parse_qs(body).items()}
    if not isinstance(body, dict):
        body = {}
    params = {key: str(value) for key, value in query.items()}
    params.update({key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()})
    return params, source


def _check_fields(logon: dict[str, Any]) -> dict[str, Any] | None:
    if any(field not in logon for field in _FIELDS):
        return _answer("301", "参数不能为空", "0", None)
    id_card, name, mobile = (str(logon[field] or "") for field in _FIELDS)
    if not id_card or not ric.is_valid(id_card):
        return _bad_parameter("idCard")
    if not name.strip():
        return _bad_parameter("userName")
    if not _MOBILE.fullmatch(mobile):
        return _bad_parameter("loginphone")
    return None


def _bad_parameter(name: str) -> dict[str, Any]:
    return _answer("306", f"请求参数{name}为空或格式错误", "0", None)


def _answer(error_code: str, detail: str, return_code: str, description: str | None) -> dict[str, Any]:
    return {
        "errorCode": error_code,
        "errorDetail": detail,
        "errorReason": None,
        "info": None,
        "returnCode": return_code,
        "returnDesc": description,
    }
