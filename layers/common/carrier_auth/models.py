"""The API's models (pydantic): each request body, with the normalising validators of
``validation.py``, and each answer. Routes declare them (``api.py``): Powertools validates the
bodies against them and the OpenAPI document is generated from them. Import them through
``validation`` (``from .validation import StartRequest``) or ``api``, which load this module -
and pydantic - on first use."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from .validation import (
    _normalised_name,
    _not_json_value,
    _parse_callback_set,
    _submit_time_input,
    _submit_time_ms,
)

_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no C0 or C1 control characters
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=_PRINTABLE)]
# what the seed allows besides the canonical form: submitTime as a string of digits (seconds or
# milliseconds), callback_set as the JSON text of the object (the seed types it "String")
SubmitTime = Annotated[
    int,
    WithJsonSchema({
        "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^\\s*[0-9]{1,20}\\s*$"}],
        "description": "Milliseconds (or seconds) since the epoch, between 2000-01-01 and a day from now.",
    }),
]


class Body(BaseModel):
    """A request body: unknown fields are ignored, strings are stripped, and a value JSON cannot
    carry (NaN, Infinity, an absurd number, a lone surrogate) is refused naming its field."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _json_values(cls, payload: Any) -> Any:
        from pydantic_core import PydanticCustomError

        bad = _not_json_value(payload) if isinstance(payload, dict) else None
        if bad is not None:
            key, kind = bad
            field = key if key in cls.model_fields else ""
            raise PydanticCustomError("not_json_" + kind, "not a JSON value", {"field": field})
        return payload


class CallbackSet(Body):
    callback_url: str = Field(min_length=1, max_length=2048)
    token: str = Field(default="", max_length=512)


def _object_or_its_text(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"$ref": schema.pop("$ref")}, {"type": "string", "description": "the object's JSON text"}]


CallbackSetField = Annotated[CallbackSet, Field(json_schema_extra=_object_or_its_text)]


class _Base(Body):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    mobile_no: str = Field(min_length=1, max_length=32)
    identity_card: str = Field(min_length=1, max_length=32)
    submitTime: SubmitTime

    _st_in = field_validator("submitTime", mode="before")(_submit_time_input)
    _st = field_validator("submitTime")(_submit_time_ms)


class IdentityRequest(Body):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    name: str = Field(min_length=1, max_length=64)
    identity_card: str = Field(min_length=1, max_length=32)
    mobile_no: str = Field(min_length=1, max_length=32)

    _name = field_validator("name")(_normalised_name)


class StartRequest(_Base):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)
    callback_set: CallbackSetField

    _name = field_validator("name")(_normalised_name)
    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class TaskRequest(_Base):
    traceId: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    task_id: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    callback_set: CallbackSetField | None = None

    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class SubmitRequest(TaskRequest):
    auth_code: str = Field(min_length=1, max_length=32, pattern=_PRINTABLE)


# ------------------------------------------------------------------------ the hosted H5 page
class H5Request(Body):
    """POST /carrier/auth/h5: a hosted-page session for one user. The person's fields are
    optional prefills (shown masked and fixed on the page); the password never comes here."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    callback_set: CallbackSetField
    return_url: str = Field(min_length=1, max_length=2048)
    mobile_no: str | None = Field(default=None, min_length=1, max_length=32)
    identity_card: str | None = Field(default=None, min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    submitTime: SubmitTime | None = None

    _name = field_validator("name")(lambda v: None if v is None else _normalised_name(v))
    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)
    _st_in = field_validator("submitTime", mode="before")(lambda v: None if v is None else _submit_time_input(v))
    _st = field_validator("submitTime")(lambda v: None if v is None else _submit_time_ms(v))


class _H5Base(Body):
    pass


class H5LinkToken(_H5Base):
    token: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


class H5Number(_H5Base):
    mobile_no: str = Field(min_length=1, max_length=32)


class H5Start(_H5Base):
    agreement_version: str = Field(min_length=1, max_length=32)
    password: str = Field(min_length=1, max_length=128)
    mobile_no: str | None = Field(default=None, max_length=32)
    identity_card: str | None = Field(default=None, max_length=32)
    name: str | None = Field(default=None, max_length=64)

    _name = field_validator("name")(lambda v: _normalised_name(v) if v else v)


class H5Resend(_H5Base):
    trace_id: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)


class H5Code(H5Resend):
    auth_code: str = Field(min_length=1, max_length=32, pattern=_PRINTABLE)


# ------------------------------------------------------------------------------ the answers
class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class TaskData(_Answer):
    task_id: str = Field(description="the task; empty when none was started")
    guide_code: str = Field(description="what to do next (seed 000 guide codes, e.g. 90001 enter the SMS code); empty when nothing is asked")
    guide_message: str
    auth_code: str = Field(description="an image captcha (base64) when guide_code asks for one, else empty")
    isp: str | None = Field(default=None, description="the start's answer: the number's carrier (中国移动 / 中国联通 / 中国电信 / 中国广电)")
    region: str | None = Field(default=None, description="the start's answer: the number's region, e.g. 江苏省常州市")
    result: Literal["SUCCESS", "DEFEAT"] | None = Field(default=None, description="GET after the callback: its outcome")


class NoData(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Envelope(_Answer):
    message: str
    trace_id: str = Field(description="send it as traceId on the task's next call")
    date_stamp: str = Field(pattern="^[0-9]+$", description="milliseconds since the epoch")


class Envelope(_Envelope):
    """The seed-000 answer."""

    code: Literal["103", "104", "105"] = Field(description="103 system error, 104 in progress (see guide_code), 105 submitted: the result comes by callback")
    data: TaskData


class ErrorEnvelope(_Envelope):
    """A refusal (any non-200 status): code 103 and a message in the seed's vocabulary; ``data``
    shows the task's current checkpoint where there is one (409)."""

    code: Literal["103"]
    data: TaskData | NoData | dict[str, Any]


class IdentityData(_Answer):
    verdict: Literal["consistent", "inconsistent", "unknown", "invalid"]
    message: str
    guide_code: str = Field(description="what the carrier start would answer for this person (90026 inconsistent; 90004 / 90005 / 90012 a bad field)")
    isp: str
    provider: str
    raw_code: str
    raw_message: str
    request_id: str
    cached: bool


class IdentityEnvelope(_Envelope):
    """An identity check's answer; a refused field answers the start's guide (TaskData)."""

    code: Literal["104"]
    data: IdentityData | TaskData


class H5LinkData(TaskData):
    h5_url: str = Field(description="open it in the user's browser or WebView: single use, the token is in the fragment")
    expires_at: str = Field(pattern="^[0-9]+$", description="milliseconds since the epoch")


class H5LinkEnvelope(_Envelope):
    code: Literal["104"]
    data: H5LinkData | TaskData


class RedeliveryData(_Answer):
    task_id: str
    event_id: str = Field(description="the callback's event id (webhook-id), the same as before")


class RedeliveryEnvelope(_Envelope):
    code: Literal["105"]
    data: RedeliveryData
