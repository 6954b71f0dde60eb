"""The request models (pydantic): the shape of each API body, with the normalising validators of
``validation.py``. Import them through ``validation`` (``from .validation import StartRequest``),
which loads this module - and pydantic - on first use."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .validation import _normalised_name, _parse_callback_set, _submit_time_input, _submit_time_ms

_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no C0 or C1 control characters
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=_PRINTABLE)]


class CallbackSet(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    callback_url: str = Field(min_length=1, max_length=2048)
    token: str = Field(default="", max_length=512)


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    mobile_no: str = Field(min_length=1, max_length=32)
    identity_card: str = Field(min_length=1, max_length=32)
    submitTime: int

    _st_in = field_validator("submitTime", mode="before")(_submit_time_input)
    _st = field_validator("submitTime")(_submit_time_ms)


class IdentityRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    name: str = Field(min_length=1, max_length=64)
    identity_card: str = Field(min_length=1, max_length=32)
    mobile_no: str = Field(min_length=1, max_length=32)

    _name = field_validator("name")(_normalised_name)


class StartRequest(_Base):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)
    callback_set: CallbackSet

    _name = field_validator("name")(_normalised_name)
    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class TaskRequest(_Base):
    traceId: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    task_id: str = Field(min_length=1, max_length=64, pattern=_PRINTABLE)
    callback_set: CallbackSet | None = None

    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)


class SubmitRequest(TaskRequest):
    auth_code: str = Field(min_length=1, max_length=32, pattern=_PRINTABLE)


# ------------------------------------------------------------------------ the hosted H5 page
class H5Request(BaseModel):
    """POST /carrier/auth/h5: a hosted-page session for one user. The person's fields are
    optional prefills (shown masked and fixed on the page); the password never comes here."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, coerce_numbers_to_str=True)
    userId: Identifier
    callback_set: CallbackSet
    return_url: str = Field(min_length=1, max_length=2048)
    mobile_no: str | None = Field(default=None, min_length=1, max_length=32)
    identity_card: str | None = Field(default=None, min_length=1, max_length=32)
    name: str | None = Field(default=None, min_length=1, max_length=64)
    submitTime: int | None = None

    _name = field_validator("name")(lambda v: None if v is None else _normalised_name(v))
    _cb = field_validator("callback_set", mode="before")(_parse_callback_set)
    _st_in = field_validator("submitTime", mode="before")(lambda v: None if v is None else _submit_time_input(v))
    _st = field_validator("submitTime")(lambda v: None if v is None else _submit_time_ms(v))


class _H5Base(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


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
