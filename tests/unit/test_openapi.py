"""The OpenAPI document: generated from the route declarations and models (carrier_auth.api),
committed as docs/openapi.json, and true to the template's routes and the handlers' answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode

from tests.lambda_context import LambdaContext

from carrier_auth import api

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == api.render(), (
        "docs/openapi.json is stale: regenerate it with `make openapi`"
    )


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def _template_routes() -> set[tuple[str, str]]:
    template, _matches = decode(str(ROOT / "template.yaml"))
    routes = set()
    for res in template["Resources"].values():
        for event in (res.get("Properties") or {}).get("Events", {}).values():
            if event["Type"] == "Api":
                routes.add((event["Properties"]["Method"].lower(), event["Properties"]["Path"]))
    return routes


def test_every_template_route_is_documented_and_nothing_else(document: dict[str, Any]) -> None:
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    template = _template_routes()
    # the page's assets are files, not API; its {action} route is documented action by action
    template -= {("get", "/h5/{task_id}/{asset}")}
    actions = {(m, p) for m, p in documented if re.fullmatch(r"/h5/\{task_id\}/api/(?!state$)\w+", p)}
    assert ("post", "/h5/{task_id}/api/{action}") in template
    template.discard(("post", "/h5/{task_id}/api/{action}"))
    assert {p.rsplit("/", 1)[1] for _m, p in actions} == {"session", "number", "start", "code", "resend"}
    assert documented - actions == template


def test_security_follows_the_api_key_requirement(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            names = {name for req in operation.get("security", []) for name in req}
            if path.startswith("/h5/") or path == "/openapi.json":
                assert api.API_KEY not in names, (method, path)
            else:
                assert names == {api.API_KEY}, (method, path)


def test_validation_failures_are_documented_as_400_never_422(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "422" not in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert "400" in operation["responses"], (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_answer_names_its_model(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(document)))
    assert refs <= set(schemas)
    assert {"Envelope", "ErrorEnvelope", "StartRequest", "SubmitRequest", "TaskRequest"} <= refs
    assert schemas["Envelope"]["properties"]["code"]["enum"] == ["103", "104", "105"]


def test_served_document_names_the_api_as_server() -> None:
    event = json.loads((ROOT / "events" / "openapi" / "document.json").read_text(encoding="utf-8"))
    served = api.served(event)
    assert served["servers"] == [{"url": f"https://{event['requestContext']['domainName']}/v1"}]
    assert {k: v for k, v in served.items() if k != "servers"} == json.loads(api.render())


# ------------------------------------------------------------ the validation the routes declare
@pytest.fixture(autouse=True)
def _no_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "CarrierAuth")  # flushed (and cleared) per call




def _handler(function: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"{function}_app", ROOT / "functions" / function / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lambda_handler


def _start(body: str | None, content_type: str | None = "application/json") -> tuple[int, dict[str, Any]]:
    """functions/start with events/start/valid.json, its body and Content-Type replaced: the
    refusals come from the declared model before anything reaches AWS."""
    event = json.loads((ROOT / "events" / "start" / "valid.json").read_text(encoding="utf-8"))
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    event.update(body=body, headers=headers, multiValueHeaders={k: [v] for k, v in headers.items()})
    result = _handler("start")(event, LambdaContext("StartFunction"))
    return result["statusCode"], json.loads(result["body"])


def _valid_body(**over: Any) -> dict[str, Any]:
    event = json.loads((ROOT / "events" / "start" / "valid.json").read_text(encoding="utf-8"))
    return {**json.loads(event["body"]), **over}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "请求体不是合法的JSON"),
        ("", "请求体不是合法的JSON"),
        ("{", "请求体不是合法的JSON"),
        ("[]", "请求体必须是JSON对象"),
        ("null", "请求体必须是JSON对象"),
        (json.dumps({k: v for k, v in _valid_body().items() if k != "name"}), "缺少必填字段: name"),
        (json.dumps(_valid_body(password="")), "缺少必填字段: password"),
        (json.dumps(_valid_body(submitTime=1)), "字段取值超出范围: submitTime"),
        (json.dumps(_valid_body(mobile_no=["13800138000"])), "字段格式错误: mobile_no"),
        (json.dumps(_valid_body(callback_set={"token": "t"})), "缺少必填字段: callback_set.callback_url"),
        (json.dumps(_valid_body())[:-1] + ', "submitTime": NaN}', "字段格式错误: submitTime"),
        (json.dumps(_valid_body())[:-1] + ', "extra": Infinity}', "请求体不是合法的JSON"),
        ('{"userId": "\\ud800"}', "字段格式错误: userId"),
        ("[" * 40 + "]" * 40, "请求体JSON嵌套过深（最多32层）"),
    ],
)
def test_a_body_that_does_not_fit_its_model_is_400_naming_the_field(body: str | None, message: str) -> None:
    status, answer = _start(body)
    assert (status, answer["code"], answer["message"]) == (400, "103", message)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=x"],
)
def test_a_body_that_is_not_json_is_415(content_type: str) -> None:
    status, answer = _start(json.dumps(_valid_body()), content_type)
    assert (status, answer["code"]) == (415, "103")


def test_a_body_over_64_kib_is_413() -> None:
    status, answer = _start(json.dumps(_valid_body(userId="u", pad="x" * 70_000)))
    assert (status, answer["code"]) == (413, "103")


def test_the_openapi_function_serves_the_document() -> None:
    event = json.loads((ROOT / "events" / "openapi" / "document.json").read_text(encoding="utf-8"))
    result = _handler("openapi")(event, LambdaContext("OpenApiFunction"))
    assert result["statusCode"] == 200
    served = json.loads(result["body"])
    served.pop("servers")
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8"))
