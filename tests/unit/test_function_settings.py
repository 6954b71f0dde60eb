"""Each function receives only the settings it reads (issue 12), checked from both sides.

Here, statically: template.yaml's Globals carry only Powertools' own variables; every variable a
function is given is a setting of ``carrier_auth.config.Settings`` (one declaration each: name,
variable, default); every setting is given to some function. The reads themselves are checked
where the functions run: the handler tests (tests/unit/test_handler_events.py, in-process) and
the whole integration suite (tests/integration/conftest.py, every function's environments record
what they read) fail when a function reads a variable the template does not give it, and the
integration suite when the template gives a function one it never reads."""

from __future__ import annotations

import os
from typing import Any

import pytest
from cfnlint.decode import decode

from carrier_auth import config
from carrier_auth.config import Settings
from tests.settings_audit import POWERTOOLS_PREFIX, declared, setting_variables

from .test_template import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    tpl, matches = decode(str(TEMPLATE))
    assert not matches
    return tpl


def test_globals_carry_only_powertools_variables(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables and all(name.startswith(POWERTOOLS_PREFIX) for name in variables)


def test_every_variable_a_function_gets_is_a_setting(template: dict[str, Any]) -> None:
    known = setting_variables()
    assert {fn: sorted(names - known) for fn, names in declared(template).items() if names - known} == {}


def test_every_setting_is_given_to_some_function(template: dict[str, Any]) -> None:
    given = set().union(*declared(template).values())
    assert sorted(setting_variables() - given) == []


def test_each_setting_is_declared_once() -> None:
    variables = list(Settings.variables().values())
    assert len(variables) == len(set(variables))


def test_a_setting_is_read_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lazy: the environment of the moment, and a read hook sees each read (nothing read ahead)."""
    seen: list[str] = []
    monkeypatch.setattr(config, "READ_HOOKS", [seen.append])
    settings = config.get_settings()
    assert seen == []
    monkeypatch.setenv("RESEND_LIMIT", "3")
    assert settings.resend_limit == 3
    monkeypatch.setenv("RESEND_LIMIT", "")
    assert settings.resend_limit == 5  # empty: the default
    monkeypatch.delenv("CARRIER_PROVIDER_FALLBACK", raising=False)
    monkeypatch.setenv("CARRIER_PROVIDER", "moxie")
    assert settings.carrier_chain() == ("moxie",)
    assert seen == ["RESEND_LIMIT", "RESEND_LIMIT", "CARRIER_PROVIDER", "CARRIER_PROVIDER_FALLBACK"]
    assert "RESEND_LIMIT" in os.environ
