"""Request parsing and validation in the seed's vocabulary.

Two layers, as the API contract needs them:
- shape: a body that is not JSON, a missing or mistyped field -> HTTP 400, code 103, naming the field;
- content: a bad phone number, id number or name -> HTTP 200, code 104 with guide 90012 / 90005 / 90004,
  decided by phonenumbers and python-stdnum before anything is called upstream.
"""

from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from . import codes
from .errors import ApiError

_NAME = re.compile(r"^[\u3400-\u9fff\uf900-\ufaffA-Za-z][\u3400-\u9fff\uf900-\ufaffA-Za-z·•. ]{0,28}[\u3400-\u9fff\uf900-\ufaffA-Za-z]$")


class CallbackSet(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    callback_url: str = Field(min_length=1, max_length=2048)
    token: str = Field(default="", max_length=512)


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: str = Field(min_length=1, max_length=128)
    mobile_no: str = Field(min_length=1, max_length=32)
    identity_card: str = Field(min_length=1, max_length=32)
    submitTime: int


def _parse_callback_set(value: Any) -> Any:
    # the seed types callback_set as "String" (a JSON data set): accept an object or its JSON text
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class IdentityRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=64)
    identity_card: str = Field(min_length=1, max_length=32)
    mobile_no: str = Field(min_length=1, max_length=32)


class StartRequest(_Base):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)
    callback_set: CallbackSet

    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class TaskRequest(_Base):
    traceId: str = Field(min_length=1, max_length=64)
    task_id: str = Field(min_length=1, max_length=64)
    callback_set: CallbackSet | None = None

    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class SubmitRequest(TaskRequest):
    auth_code: str = Field(min_length=1, max_length=32)


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


def parse(model: type[BaseModel], body: str | None) -> Any:
    """Parse a raw body into ``model`` or raise ApiError(400, 103) naming the field."""
    try:
        payload = json.loads(body or "")
    except ValueError:
        raise ApiError(400, "请求体不是合法的JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "请求体必须是JSON对象")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_name(err["loc"])
        if err["type"] == "missing" or (err["type"] == "string_too_short" and not err.get("input")):
            raise ApiError(400, f"缺少必填字段: {field}") from None
        raise ApiError(400, f"字段格式错误: {field}") from None


def normalise_mobile(mobile: str) -> str | None:
    """The 11-digit national number of a valid mainland China mobile number, else None."""
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


def normalise_id_number(id_number: str) -> str | None:
    try:
        return ric.validate(id_number)
    except StdnumError:
        return None


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def identity_guide_code(mobile: str, id_number: str, name: str | None) -> str:
    """The seed guide code for the first bad identity field, or "" when all are valid."""
    if normalise_mobile(mobile) is None:
        return codes.BAD_MOBILE
    if normalise_id_number(id_number) is None:
        return codes.BAD_ID_NUMBER
    if name is not None and not valid_name(name):
        return codes.BAD_NAME
    return ""
