"""carrier_auth.errors holds every error the state machine can name, under one base class.

A Lambda task that fails reports its exception's class name as the error type, and a Retry or
Catch ``ErrorEquals`` matches that name exactly: a name the ASL lists with no class behind it
never matches anything, and a renamed class silently stops matching. So the committed ASL's names
are checked against the module, and the module's flow errors against the ASL.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import carrier_auth
from carrier_auth import errors
from carrier_auth.errors import FlowError
from carrier_auth.providers import base

ASL = Path(__file__).parents[2] / "statemachine" / "carrier_auth.asl.json"


def _error_equals(node: Any) -> Iterator[str]:
    """Every name in every ``ErrorEquals`` of ``node``, nested states (Parallel, Map) included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ErrorEquals":
                yield from value
            else:
                yield from _error_equals(value)
    elif isinstance(node, list):
        for item in node:
            yield from _error_equals(item)


def _asl_names() -> set[str]:
    """The ASL's own error names: AWS's are dotted (``States.ALL``, ``Lambda.ServiceException``,
    ``SQS.AmazonSQSException``), which no Python class name can be."""
    return {name for name in _error_equals(json.loads(ASL.read_text(encoding="utf-8"))) if "." not in name}


def _flow_errors() -> dict[str, type[FlowError]]:
    """The FlowError classes defined in carrier_auth.errors, by name."""
    return {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, FlowError) and cls.__module__ == errors.__name__
    }


def test_the_asl_names_errors() -> None:
    names = set(_error_equals(json.loads(ASL.read_text(encoding="utf-8"))))
    assert "ProviderUnavailable" in names  # the walk finds them at all
    dotted = {name.split(".")[0] for name in names if "." in name}
    assert dotted <= {"States", "Lambda", "SQS"}, f"an AWS error family this test does not know: {dotted}"


@pytest.mark.parametrize("name", sorted(_asl_names()))
def test_every_asl_error_name_is_a_flow_error(name: str) -> None:
    cls = getattr(errors, name, None)
    assert inspect.isclass(cls), f"the ASL names {name!r}: no such class in carrier_auth.errors"
    assert issubclass(cls, FlowError), f"{name} is named by the ASL: it must derive from errors.FlowError"
    assert cls.__name__ == name  # the Lambda error type is the class's own name, not the attribute's


def test_every_flow_error_is_named_by_the_asl_or_says_why_not() -> None:
    asl = _asl_names()
    defined = set(_flow_errors())
    unnamed = set(errors.NOT_NAMED_BY_THE_ASL)
    expected = (asl & defined) | unnamed
    assert defined - {"FlowError"} == expected, (
        "a FlowError neither named by the ASL nor listed in errors.NOT_NAMED_BY_THE_ASL, or a listed "
        f"name that is no FlowError: {sorted((defined - {'FlowError'}) ^ expected)}"
    )
    assert not asl & unnamed, f"named by the ASL after all: drop from NOT_NAMED_BY_THE_ASL: {sorted(asl & unnamed)}"
    assert all(errors.NOT_NAMED_BY_THE_ASL.values())  # each says why


def test_the_base_class_itself_is_not_an_error_name() -> None:
    assert "FlowError" not in _asl_names()  # nothing raises the base: a Catch on it would never match


def test_no_flow_error_is_defined_outside_the_errors_module() -> None:
    """A subclass elsewhere may only be an adapter's private detail that never leaves a step
    (juxinli's ``_Refused``), not a further name for the ASL to list."""
    for module in pkgutil.walk_packages(carrier_auth.__path__, f"{carrier_auth.__name__}."):
        importlib.import_module(module.name)

    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    outside = {f"{c.__module__}.{c.__qualname__}" for c in subclasses(FlowError) if c.__module__ != errors.__name__}
    assert all(c.rsplit(".", 1)[1].startswith("_") for c in outside), f"public FlowErrors outside errors: {outside}"


def test_provider_errors_keep_their_old_import_path() -> None:
    for name in ("ProviderError", "ProviderUnavailable", "ProviderOutcomeUnknown"):
        assert getattr(base, name) is getattr(errors, name)


def test_the_other_errors_are_not_flow_errors() -> None:
    for cls in (errors.ApiError, errors.CallbackDeliveryFailed, errors.CallbackGone):
        assert not issubclass(cls, FlowError)


def test_outcome_unknown_keeps_what_the_adapter_learnt() -> None:
    exc = errors.ProviderOutcomeUnknown("read timeout", {"token": "t"})
    assert isinstance(exc, errors.ProviderError) and exc.state == {"token": "t"} and str(exc) == "read timeout"
    assert errors.ProviderOutcomeUnknown("x").state == {}
