"""Phone three-factor check (seed 002, providers.md section 5): an aggregator envelope around
Tencent Cloud's ``PhoneVerification``.

Reply: ``errcode`` (0 ok), ``errmsg``, ``data{traceNo, result{responseJson{Response{Result,
Description, Isp, RequestId}}}, status}``. The seed types ``result`` as a string, its example
shows an object: both (and a string ``responseJson``) are accepted. ``Result`` is mapped in
``_VERDICTS``; -11 (verification centre busy) is transient. The check is a read (nothing changes
upstream, a repeat is only billed again), so any failure of the call - and an answer whose
envelope is not the protocol - is ``ProviderUnavailable``. Tencent's own API errors
(``Response.Error{Code, Message}``) raise: ``InternalError*`` / ``RequestLimitExceeded*`` as
``ProviderUnavailable``, any other code as ``ProviderError``; their ``Message`` is never quoted.
An ``errcode`` other than 0 is a ``ProviderError`` whose ``errmsg`` has the person's own values
masked. ``request_id`` is Tencent's ``RequestId``, or the aggregator's ``traceNo`` without one.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from ..codes import BAD_ID_NUMBER, BAD_MOBILE, BAD_NAME, IDENTITY_MISMATCH
from .base import (
    Identity,
    IdentityResult,
    ProviderError,
    ProviderUnavailable,
    Verdict,
)
from .http import DEFAULT_TIMEOUT, Timeout, post_json

BUSY_RESULT = "-11"

# Result -> (verdict, guide code)
_VERDICTS: dict[str, tuple[Verdict, str]] = {
    "0": ("consistent", ""),
    "-4": ("inconsistent", IDENTITY_MISMATCH),
    "-6": ("invalid", BAD_MOBILE),
    "-7": ("invalid", BAD_ID_NUMBER),
    "-8": ("invalid", BAD_NAME),
    "-9": ("unknown", ""),  # no record
    "-12": ("unknown", ""),  # daily limit reached
    "-13": ("unknown", ""),  # number range not supported
}

# Tencent error codes that are worth a retry
_TRANSIENT_ERROR_CODES = ("InternalError", "RequestLimitExceeded")


class ThreeFactorProvider:
    """IdentityProvider over the aggregator's ``PhoneVerification`` business code."""

    name = "three_factor"

    def __init__(self, base_url: str, token: str, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
        self._url = f"{base_url.rstrip('/')}/tech/ai/celerity/universal"
        self._token = token
        self._timeout = timeout

    def verify(self, identity: Identity) -> IdentityResult:
        body = post_json(
            self._url,
            {
                "buscode": "PhoneVerification",
                "group": "real",
                "data": {
                    "IdCard": identity.id_number,
                    "Name": identity.name,
                    "Phone": identity.mobile,
                },
            },
            provider=self.name,
            operation="verify",
            changes_state=False,
            headers={"Authorization": self._token},
            timeout=self._timeout,
        )
        response, trace_no = _tencent_response(body, identity)
        return self._result(response, trace_no)

    def _result(self, response: dict[str, Any], trace_no: str = "") -> IdentityResult:
        raw_code = str(response.get("Result", "")).strip()
        request_id = str(response.get("RequestId") or trace_no)
        if raw_code == BUSY_RESULT:
            raise ProviderUnavailable(f"three-factor busy (Result -11, RequestId {request_id})")
        if raw_code not in _VERDICTS:
            raise ProviderError(f"three-factor Result {raw_code!r} is not known")
        verdict, guide_code = _VERDICTS[raw_code]
        return IdentityResult(
            verdict=verdict,
            provider=self.name,
            guide_code=guide_code,
            isp=str(response.get("Isp") or ""),
            raw_code=raw_code,
            raw_message=str(response.get("Description") or ""),
            request_id=request_id,
        )


def _tencent_response(body: Any, identity: Identity) -> tuple[dict[str, Any], str]:
    """Unwrap the aggregator envelope down to Tencent's ``Response`` object (and ``traceNo``)."""
    envelope = _object(body, "body")
    errcode = str(envelope.get("errcode")).strip()
    if errcode != "0":
        errmsg = _mask(str(envelope.get("errmsg") or ""), identity)
        raise ProviderError(f"three-factor errcode {errcode}: {errmsg}")
    data = _object(envelope.get("data"), "data")
    trace_no = str(data.get("traceNo") or "")
    result = _object(data.get("result"), "data.result")
    response_json = _object(result.get("responseJson"), "responseJson")
    response = _object(response_json.get("Response"), "Response")
    if "Error" in response:
        _raise_tencent_error(_object(response["Error"], "Response.Error"), response, trace_no)
    return response, trace_no


def _raise_tencent_error(error: dict[str, Any], response: dict[str, Any], trace_no: str) -> NoReturn:
    # Only the code: Tencent's Message can quote parameter values (names, id numbers).
    code = str(error.get("Code") or "")
    message = f"Tencent error {code} (RequestId {response.get('RequestId') or trace_no})"
    if any(word in code for word in _TRANSIENT_ERROR_CODES):
        raise ProviderUnavailable(message)
    raise ProviderError(message)


def _mask(text: str, identity: Identity) -> str:
    """``text`` with the person's own values masked (upstream messages may quote parameters)."""
    for value in (identity.id_number, identity.name, identity.mobile):
        if value:
            text = text.replace(value, "***")
    return text


def _object(value: Any, what: str) -> dict[str, Any]:
    """``value`` as a JSON object; a string holding JSON is decoded first. Anything else is not
    the protocol: the provider is unavailable."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ProviderUnavailable(f"three-factor {what} is not JSON") from None
    if not isinstance(value, dict):
        raise ProviderUnavailable(f"three-factor {what} is not an object")
    return value
