"""statemachine/definition.py is the state machine's one source: the committed ASL is what it
generates, and it states each retry policy and each repeated task shape once.

The committed JSON's other checks (placeholders, the Collect message, cfn-lint) live in
test_template.py; the integration suites run it in moto.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path
from typing import Any

from statemachine import definition as source

ROOT = Path(__file__).parents[2]
ASL = ROOT / "statemachine" / "carrier_auth.asl.json"
SOURCE = ROOT / "statemachine" / "definition.py"
REGENERATE = "make asl"


def _states() -> dict[str, dict[str, Any]]:
    return source.definition()["States"]


def _source_strings() -> Counter[str]:
    """How often each string literal occurs in the generator (dict keys and values alike)."""
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    return Counter(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def test_the_committed_definition_is_generated() -> None:
    committed = ASL.read_text(encoding="utf-8")
    assert json.loads(committed) == source.definition(), (
        f"statemachine/carrier_auth.asl.json differs from statemachine/definition.py: edit the generator, "
        f"then regenerate with `{REGENERATE}`"
    )
    assert committed == source.render(), f"formatting only: regenerate with `{REGENERATE}`"


def test_every_retrier_is_a_named_policy_and_every_policy_is_used() -> None:
    policies = list(source.RETRY_POLICIES.values())
    used = [r for state in _states().values() for r in state.get("Retry", [])]
    strays = [r for r in used if not any(r is policy for policy in policies)]
    assert strays == [], "a Retry entry written out in a state: name it in RETRY_POLICIES"
    assert [p for p in policies if not any(r is p for r in used)] == []


def test_each_retry_policy_is_stated_once_in_the_source() -> None:
    strings = _source_strings()
    assert strings["MaxAttempts"] == len(source.RETRY_POLICIES)
    # the policies' ErrorEquals, plus the one in catch()
    assert strings["ErrorEquals"] == len(source.RETRY_POLICIES) + 1
    for name, policy in source.RETRY_POLICIES.items():
        assert getattr(source, name) is policy
        for error in policy["ErrorEquals"]:
            assert strings[error] == 1, f"{error} is spelled more than once: use {name}"


def test_each_task_shape_is_stated_once_in_the_source() -> None:
    strings = _source_strings()
    assert strings["FunctionName"] == 1  # _carrier_function
    assert strings["HeartbeatSecondsPath"] == 1  # carrier_step
    assert strings["Variable"] == 1  # route
    assert strings["Retry"] == 3  # carrier_step, lambda_step, Collect


def test_every_lambda_task_retries_lambdas_own_failures_first() -> None:
    lambda_tasks = {name: s for name, s in _states().items() if s.get("Resource", "").startswith(source.LAMBDA_INVOKE)}
    assert len(lambda_tasks) == 8
    assert {name: s["Retry"][0] is source.LAMBDA_RETRY for name, s in lambda_tasks.items()} == dict.fromkeys(
        lambda_tasks, True
    )


def test_the_generated_definition_parses_in_moto() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    AmazonStateLanguageParser.parse(source.render())
