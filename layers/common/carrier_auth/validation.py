"""Request parsing and validation in the seed's vocabulary.

Two layers, as the API contract needs them:
- shape: a body that is not JSON, a missing or mistyped field -> HTTP 400, code 103, naming the field;
  a body over ``MAX_BODY_BYTES`` -> HTTP 413, code 103;
- content: a bad phone number, id number or name -> HTTP 200, code 104 with guide 90012 / 90005 / 90004,
  decided by phonenumbers and python-stdnum before anything is called upstream.

Hostile input never gets further than a 400/413: the body is size-limited, UTF-8, nested at
most ``MAX_JSON_DEPTH`` deep (checked by a linear scan before ``json`` recurses), real JSON
(no NaN / Infinity / numbers that overflow a float), free of lone surrogates anywhere (they
cannot be encoded again), and every field the models accept is bounded.

Names are normalised by the models, so the facades only ever see (and send upstream) the
canonical form: NFC, every middle-dot variant -> U+00B7, no spaces inside a Chinese name.

The request models live in ``models.py`` (pydantic) and are imported from here on first use,
like phonenumbers and python-stdnum: together they cost more than half of ``import boto3``, and
a function that never validates a body (GET /carrier/auth/{task_id}) should not load them.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import time
import unicodedata
from typing import TYPE_CHECKING, Any

from . import codes
from .errors import ApiError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .models import (  # noqa: F401
        CallbackSet,
        H5Code,
        H5LinkToken,
        H5Number,
        H5Request,
        H5Resend,
        H5Start,
        IdentityRequest,
        StartRequest,
        SubmitRequest,
        TaskRequest,
    )

_MODELS = frozenset({"CallbackSet", "IdentityRequest", "StartRequest", "SubmitRequest", "TaskRequest",
                     "H5Request", "H5LinkToken", "H5Number", "H5Start", "H5Resend", "H5Code"})


def __getattr__(name: str) -> Any:
    """The request models, imported (with pydantic) on first use: ``from .validation import StartRequest``."""
    if name in _MODELS:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32

# --------------------------------------------------------------------------- names
# Explicit code-point ranges: Python 3.11 and 3.13 ship different Unicode versions, so neither
# unicodedata names nor categories may decide (unassigned code points of a block are accepted).
_IDEOGRAPH_BLOCKS = (
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs (URO)
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x2A6DF),  # Extension B
    (0x2A700, 0x2B73F),  # Extension C
    (0x2B740, 0x2B81F),  # Extension D
    (0x2B820, 0x2CEAF),  # Extension E
    (0x2CEB0, 0x2EBEF),  # Extension F
    (0x2EBF0, 0x2EE5F),  # Extension I
    (0x2F800, 0x2FA1F),  # CJK Compatibility Ideographs Supplement
    (0x30000, 0x3134F),  # Extension G
    (0x31350, 0x323AF),  # Extension H
    (0x323B0, 0x3347F),  # Extension J (Unicode 17)
)
_IDEOGRAPHS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in _IDEOGRAPH_BLOCKS)
_HAN_EXTRA = "\u3005\u3007"  # 々 (iteration mark) and 〇 (ideographic number zero: 王〇)
# middle dots as keyboards and fonts produce them; all become U+00B7 between the parts of a name
# (U+0387 is NFC-mapped to U+00B7 already; "." and "。" are what a Chinese IME types for ".")
MIDDLE_DOTS = "\u00b7\u0387\u2022\u2024\u2027\u2219\u22c5\u2e31\u30fb\ua78f\ufe52\uff0e\uff65\u3002\uff61."
_SPACES = " \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# invisible format characters and variation selectors: dropped (an IVS keeps its base ideograph)
_INVISIBLE = re.compile("[\u00ad\u200b-\u200d\u2060\ufeff\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_LETTER = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_MARK = "\u0300-\u036f"

_HAS_IDEOGRAPH = re.compile(f"[{_IDEOGRAPHS}]")
_CJK_NAME_CHARS = re.compile(f"[{_IDEOGRAPHS}{_HAN_EXTRA}{re.escape(MIDDLE_DOTS)} ]+")
_DOT_RUN = re.compile(f"[{re.escape(MIDDLE_DOTS)}]+")
_SPACE_RUN = re.compile(f"[{_SPACES}]+")
_LATIN_NAME = re.compile(
    rf"(?:[{_LETTER}][{_MARK}]*)+(?:['-](?:[{_LETTER}][{_MARK}]*)+)*\.?"
    rf"(?: (?:[{_LETTER}][{_MARK}]*)+(?:['-](?:[{_LETTER}][{_MARK}]*)+)*\.?)*"
)
_LATIN_LETTER = re.compile(f"[{_LETTER}]")
_FOLD = {
    **{cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)},  # fullwidth ASCII -> ASCII
    0x2019: "'", 0x02BC: "'", 0x2018: "'",  # apostrophes
    0x2010: "-", 0x2011: "-",  # hyphens
}
MAX_CJK_NAME = 30
MAX_LATIN_NAME = 64


def normalise_name(name: str) -> str | None:
    """The canonical form of a person's name, or None when it cannot be a name.

    Chinese names: ideographs of every CJK block and 〇, parts joined by a single U+00B7 (any
    middle-dot variant, an ASCII "." or an IME "。" between parts; leading, trailing and repeated
    dots dropped; spaces dropped: "王  五" is a common alignment); 2 to 30 characters.
    Latin names (foreigners' and some residence-permit holders' names): letters (accents too),
    single spaces, hyphens, apostrophes, an abbreviating "."; 2 to 64 characters.
    Mixed scripts, digits, other punctuation, emoji, controls, U+FFFD: None.
    """
    if not isinstance(name, str) or len(name) > 4 * MAX_LATIN_NAME:
        return None
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", name)).translate(_FOLD)
    text = _SPACE_RUN.sub(" ", text).strip(" ")
    if _HAS_IDEOGRAPH.search(text):
        if not _CJK_NAME_CHARS.fullmatch(text):
            return None
        parts = [part for part in _DOT_RUN.split(text.replace(" ", "")) if part]
        result = "\u00b7".join(parts)
        if not 2 <= len(result) <= MAX_CJK_NAME:
            return None
    else:
        if not _LATIN_NAME.fullmatch(text) or len(_LATIN_LETTER.findall(text)) < 2 or len(text) > MAX_LATIN_NAME:
            return None
        result = text
    return unicodedata.normalize("NFC", result)


def valid_name(name: str) -> bool:
    return normalise_name(name) is not None


def _normalised_name(value: str) -> str:
    # a name that cannot be normalised stays as it came: identity_guide_code answers 90004 for it
    return normalise_name(value) or value


# --------------------------------------------------------------------------- submitTime
EPOCH_2000_MS = 946_684_800_000
SECONDS_BELOW = 10**11  # a smaller submitTime is in seconds (10**11 ms is 1973, 10**11 s is year 5138)
MAX_AHEAD_MS = 86_400_000
_DIGITS = re.compile(r"[0-9]{1,20}")


def _submit_time_input(value: Any) -> Any:
    """Integers only: a JSON integer, an integral float or a string of ASCII digits."""
    from pydantic_core import PydanticCustomError  # loaded already: pydantic calls this

    if isinstance(value, bool):
        raise PydanticCustomError("submit_time_type", "submitTime must be an integer")
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.fullmatch(text):
            raise PydanticCustomError("submit_time_type", "submitTime must be an integer")
        return int(text)
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise PydanticCustomError("submit_time_type", "submitTime must be an integer")
        return int(value)
    return value


def _submit_time_ms(value: int) -> int:
    """Milliseconds since the epoch, between 2000-01-01 and a day from now."""
    from pydantic_core import PydanticCustomError  # loaded already: pydantic calls this

    ms = value * 1000 if 0 < value < SECONDS_BELOW else value
    if not EPOCH_2000_MS <= ms <= int(time.time() * 1000) + MAX_AHEAD_MS:
        raise PydanticCustomError("value_out_of_range", "submitTime out of range")
    return ms


# --------------------------------------------------------------------------- model validators
def _parse_callback_set(value: Any) -> Any:
    # the seed types callback_set as "String" (a JSON data set): accept an object or its JSON text
    if isinstance(value, str):
        try:
            loaded = load_json(value)
        except ValueError:
            return value
        return value if isinstance(loaded, dict) and _not_json_value(loaded) is not None else loaded
    return value


# --------------------------------------------------------------------------- the body
class JsonTooDeep(ValueError):
    """Nested deeper than MAX_JSON_DEPTH."""


_OUTSIDE_STRING = re.compile(r'[\[\]{}"]')
_INSIDE_STRING = re.compile(r'["\\]')


def _too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """A linear scan for brackets outside strings (escapes respected), before json recurses."""
    depth, pos = 0, 0
    while (match := _OUTSIDE_STRING.search(text, pos)) is not None:
        char, pos = match.group(), match.end()
        if char == '"':
            while True:
                inside = _INSIDE_STRING.search(text, pos)
                if inside is None:
                    return False  # an unterminated string: json refuses it
                pos = inside.end()
                if inside.group() == '"':
                    break
                pos += 1  # the escaped character
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class NotJsonNumber:
    """What ``load_json`` puts where the text has a number JSON cannot carry (NaN, Infinity, a
    float beyond double range, an integer of more than MAX_NUMBER_DIGITS digits): no model
    field accepts it, so the refusal names the field."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text[:16]

    def __repr__(self) -> str:
        return f"NotJsonNumber({self.text!r})"


MAX_NUMBER_DIGITS = 64


def _float(text: str) -> float | NotJsonNumber:
    value = float(text)
    return value if math.isfinite(value) else NotJsonNumber(text)


def _int(text: str) -> int | NotJsonNumber:
    # before int(): Python refuses more than 4300 digits with a ValueError, we name the field instead
    return int(text) if len(text) <= MAX_NUMBER_DIGITS else NotJsonNumber(text)


def load_json(text: str) -> Any:
    """``json.loads`` nested at most MAX_JSON_DEPTH deep (else JsonTooDeep, a ValueError);
    NaN, Infinity and absurd numbers come back as NotJsonNumber. Raises ValueError."""
    if _too_deep(text):
        raise JsonTooDeep("too deep")
    try:
        return json.loads(text, parse_constant=NotJsonNumber, parse_float=_float, parse_int=_int)
    except RecursionError:  # not reachable after the scan; never a 500 if it were
        raise JsonTooDeep("too deep") from None


def _body_text(body: str | bytes | None) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "请求体过大")
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "请求体不是合法的UTF-8编码") from None
    else:
        if len(body) > MAX_BODY_BYTES or len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            raise ApiError(413, "请求体过大")
        text = body
    if "\ufffd" in text:  # API Gateway hands invalid bytes over as U+FFFD
        raise ApiError(400, "请求体不是合法的UTF-8编码")
    return text


def _not_json_value(payload: dict[str, Any]) -> tuple[str, str] | None:
    """(top-level key, "number" | "unicode") for the first value JSON cannot carry below ``payload``:
    a NotJsonNumber, or a string or key with a lone surrogate ("\\ud800": it could never be
    encoded, stored or hashed again). None when everything is JSON."""
    stack: list[tuple[str, Any]] = [(key, value) for key, value in payload.items()]
    stack += [(key, key) for key in payload]
    while stack:
        top, value = stack.pop()
        if isinstance(value, NotJsonNumber):
            return top, "number"
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return top, "unicode"
        elif isinstance(value, dict):
            stack += [(top, item) for pair in value.items() for item in pair]
        elif isinstance(value, list):
            stack += [(top, item) for item in value]
    return None


def json_body(body: str | bytes | None) -> dict[str, Any]:
    """The request body as a JSON object, or ApiError(400, 103) saying why not (413 over
    MAX_BODY_BYTES). Powertools' validation reads every body through this (``handlers.resolver``)
    before it checks the route's model."""
    text = _body_text(body)
    try:
        payload = load_json(text)
    except JsonTooDeep:
        raise ApiError(400, f"请求体JSON嵌套过深（最多{MAX_JSON_DEPTH}层）") from None
    except ValueError:
        raise ApiError(400, "请求体不是合法的JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "请求体必须是JSON对象")
    return payload


def refusal(errors: list[dict[str, Any]]) -> ApiError:
    """The seed's 400 for a body that does not fit its model (pydantic's errors, as Powertools
    reports them: ``loc`` starts with "body"), naming the first field at fault."""
    err = errors[0] if errors else {"type": "missing", "loc": ("body",)}
    loc = tuple(err.get("loc") or ())
    field = ".".join(str(part) for part in (loc[1:] if loc[:1] == ("body",) else loc))
    kind = str(err.get("type", ""))
    if kind.startswith("not_json_"):
        field = (err.get("ctx") or {}).get("field") or ""
        if not field:
            return ApiError(400, "请求体不是合法的JSON" if kind == "not_json_number" else "请求体包含无效的Unicode字符")
        return ApiError(400, f"字段格式错误: {field}")
    if not field:  # no body at all
        return ApiError(400, "请求体不是合法的JSON")
    if kind == "missing" or (kind == "string_too_short" and not err.get("input")):
        return ApiError(400, f"缺少必填字段: {field}")
    if kind == "value_out_of_range":
        return ApiError(400, f"字段取值超出范围: {field}")
    return ApiError(400, f"字段格式错误: {field}")


def parse(model: type[BaseModel], body: str | bytes | None) -> Any:
    """``body`` as ``model`` or the ApiError Powertools' validation would answer (the same
    ``json_body`` and ``refusal``): for code outside a validated route."""
    from pydantic import ValidationError

    try:
        return model.model_validate(json_body(body))
    except ValidationError as exc:
        raise refusal([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


# --------------------------------------------------------------------------- identity content
def normalise_mobile(mobile: str) -> str | None:
    """The 11-digit national number of a valid mainland China mobile number, else None."""
    import phonenumbers

    try:
        number = phonenumbers.parse(mobile, "CN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 86 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    national = str(number.national_number)
    return national if len(national) == 11 else None


_CHINA = datetime.timezone(datetime.timedelta(hours=8))
# provinces that issue the 外国人永久居留身份证 (first digits 11-65 of the resident id codes)
_PROVINCES = frozenset(
    str(p) for p in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                     50, 51, 52, 53, 54, 61, 62, 63, 64, 65)
)
_RESIDENCE_PERMIT_AREAS = frozenset({"810000", "820000", "830000"})  # 港澳台居民居住证: HK, Macau, Taiwan


def _birth_date_ok(number: str, oldest: int = 1) -> bool:
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return oldest <= born.year and born <= datetime.datetime.now(_CHINA).date()


def _other_id_number(id_number: str) -> str | None:
    """18-digit numbers ``stdnum.cn.ric`` does not know (its area-code table has no such place):

    - 外国人永久居留身份证 (2023 format): 9 + province (2) + nationality code (3) + birth date (8)
      + sequence (3) + ISO 7064 MOD 11-2 check digit;
    - 港澳台居民居住证: area 810000 / 820000 / 830000 + birth date + sequence + check digit.
    """
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError as StdnumError
    from stdnum.iso7064 import mod_11_2

    try:
        number = ric.compact(id_number)
    except StdnumError:
        return None
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return None
    if not (number[0] == "9" and number[1:3] in _PROVINCES) and number[:6] not in _RESIDENCE_PERMIT_AREAS:
        return None
    if mod_11_2.calc_check_digit(number[:17]) != number[17] or not _birth_date_ok(number, oldest=1900):
        return None
    return number


def normalise_id_number(id_number: str) -> str | None:
    """The canonical (upper-case X) id number, or None: a resident id (``stdnum.cn.ric``, born
    no later than today), a foreign permanent-resident id or a HK/Macau/Taiwan residence permit."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError as StdnumError

    try:
        number = ric.validate(id_number)
    except StdnumError:
        return _other_id_number(id_number)
    return number if _birth_date_ok(number) else None


def identity_guide_code(mobile: str | None, id_number: str | None, name: str | None) -> str:
    """The seed guide code for the first bad identity field, or "" when all are valid (a field
    that is None was not given: the hosted page's prefills are each optional).

    Latin names are accepted with any valid id number: the number does not say in which script
    the person's name is registered (foreigners, residence-permit holders), and whether name and
    number belong together is the three-factor check's answer (90026), not a format question."""
    if mobile is not None and normalise_mobile(mobile) is None:
        return codes.BAD_MOBILE
    if id_number is not None and normalise_id_number(id_number) is None:
        return codes.BAD_ID_NUMBER
    if name is not None and not valid_name(name):
        return codes.BAD_NAME
    return ""
