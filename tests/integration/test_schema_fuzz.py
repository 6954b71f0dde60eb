"""Schema fuzzing: schemathesis generates requests for every operation of the document the
embedded stack serves (GET /openapi.json), valid and invalid ones, and checks each answer:
never a 5xx, a documented status code, the documented content type and schema.

At least MIN_CASES cases in all (the count is checked when every operation ran); examples are
derandomised, so a run is repeatable."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.stack import EmbeddedStack

MIN_CASES = 1000
EXAMPLES_PER_OPERATION = 80
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CASES: Counter[str] = Counter()


DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
# the committed document (the served one is the same plus its server: checked below); loaded at
# import, as schemathesis' pytest integration needs it then
schema = schemathesis.openapi.from_path(str(DOCUMENT))
schema.config.generation.update(modes=list(schemathesis.GenerationMode))


@pytest.fixture(scope="module")
def base_url(stack: EmbeddedStack) -> Iterator[str]:
    resp = requests.get(f"{stack.api_url}/openapi.json", timeout=30)  # no API key
    assert resp.status_code == 200, resp.text
    served = resp.json()
    (server,) = served.pop("servers")  # this API's own address, with its stage (as API Gateway's URL)
    assert server["url"].startswith(stack.api_url)
    assert served == json.loads(DOCUMENT.read_text(encoding="utf-8"))
    yield server["url"]
    operations = {f"{method.upper()} {path}" for path, item in served["paths"].items() for method in item}
    if operations <= set(CASES):  # the whole module ran, not a selection (other methods: negative cases)
        assert sum(CASES.values()) >= MIN_CASES, CASES


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms(case: schemathesis.Case, base_url: str, stack: EmbeddedStack) -> None:
    CASES[f"{case.method.upper()} {case.path}"] += 1
    headers = {"x-api-key": stack.tenants[0].api_key}
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=60)
