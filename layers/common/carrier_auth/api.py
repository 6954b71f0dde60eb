"""The REST API's one declaration: each operation's method, path, request model and answers.

``handlers.api_function`` registers a function's operation from here, so Powertools validates
its body against the declared model; ``document()`` registers all of them on one resolver and
generates the OpenAPI 3.1 document from the same declarations (``docs/openapi.json`` is its
committed output: ``python -m carrier_auth.api > docs/openapi.json``; a test fails when they
differ). The hosted page's own endpoints (``h5.py``) are declared here too, for the document.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

TITLE = "Carrier Auth Gateway (运营商认证网关)"
VERSION = "1.0.0"
API_KEY = "ApiKey"
PAGE_COOKIE = "H5PageCookie"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Powertools' form: /carrier/auth/<task_id>
    summary: str
    description: str = ""
    request: str | None = None  # a model of models.py
    answers: dict[int, tuple[str, str]] = field(default_factory=dict)  # status -> (when, model)
    security: str | None = API_KEY
    tag: str = "carrier"
    content_type: str = "application/json"


# the refusals every API-key route can answer (template.yaml's GatewayResponses included)
_REFUSED = {
    403: ("API key missing or invalid, or its tenant has no configuration", "ErrorEnvelope"),
    404: ("unknown task (another tenant's task answers the same) or route", "ErrorEnvelope"),
    429: ("throttled by the tenant's usage plan (deployed API)", "ErrorEnvelope"),
    500: ("internal failure: never a stack trace", "ErrorEnvelope"),
    504: ("the function ran past its timeout: call GET /carrier/auth/{task_id} later", "ErrorEnvelope"),
}
_BODY_REFUSED = {
    400: ("the body is not a JSON object, or a field is missing, mistyped or out of range (the message names it)", "ErrorEnvelope"),
    413: ("body over 64 KiB", "ErrorEnvelope"),
    415: ("a body that is not JSON (Content-Type)", "ErrorEnvelope"),
}
_SEED_200 = "every business outcome, the seed's input errors included (104 with guide_code 90004 / 90005 / 90012)"

OPERATIONS: dict[str, Operation] = {
    "startCarrierAuth": Operation(
        "POST", "/carrier/auth", "Start a carrier authentication (魔蝎运营商认证接口)",
        "Answers the task's first checkpoint: usually 104 with guide_code 90001 (enter the SMS code).",
        request="StartRequest",
        answers={200: (_SEED_200, "Envelope"), **_BODY_REFUSED, **_REFUSED},
    ),
    "submitCode": Operation(
        "POST", "/carrier/auth/code", "Submit the SMS code, image captcha or query password (运营商提交验证码)",
        "Idempotent on (task_id, traceId, body). A traceId that is no longer current answers 409 with the "
        "current checkpoint.",
        request="SubmitRequest",
        answers={200: (_SEED_200, "Envelope"), **_BODY_REFUSED, 409: ("a stale traceId", "ErrorEnvelope"), **_REFUSED},
    ),
    "resendCode": Operation(
        "POST", "/carrier/auth/resend", "Ask for a new code (运营商重发验证码)",
        "Idempotent on (task_id, traceId, body).",
        request="TaskRequest",
        answers={200: (_SEED_200, "Envelope"), **_BODY_REFUSED, 409: ("a stale traceId", "ErrorEnvelope"), **_REFUSED},
    ),
    "getCarrierAuth": Operation(
        "GET", "/carrier/auth/<task_id>", "The task's current answer",
        "After the callback, data.result is SUCCESS or DEFEAT.",
        answers={200: ("the current checkpoint", "Envelope"), **_REFUSED},
    ),
    "redeliverCallback": Operation(
        "POST", "/carrier/auth/<task_id>/callback", "Send the task's final callback again",
        "The same event id (webhook-id) and body, a fresh timestamp and signature (docs/callbacks.md).",
        answers={
            202: ("queued", "RedeliveryEnvelope"),
            409: ("the task has no callback to send (not finished, or ended without one)", "ErrorEnvelope"),
            **_REFUSED,
        },
    ),
    "createH5Link": Operation(
        "POST", "/carrier/auth/h5", "A hosted H5 authorization page for one user",
        "data.h5_url works once, for H5LinkTtlSeconds (docs/h5.md).",
        request="H5Request",
        answers={200: (_SEED_200, "H5LinkEnvelope"), **_BODY_REFUSED, **_REFUSED},
        tag="hosted page",
    ),
    "checkThreeFactor": Operation(
        "POST", "/identity/three-factor", "Phone three-factor check (name + id number + phone)",
        request="IdentityRequest",
        answers={200: ("the verdict", "IdentityEnvelope"), **_BODY_REFUSED,
                 503: ("every identity provider failed", "ErrorEnvelope"), **_REFUSED},
        tag="identity",
    ),
    "checkRealname": Operation(
        "POST", "/identity/realname", "驭信 real-name mobile check",
        request="IdentityRequest",
        answers={200: ("the verdict", "IdentityEnvelope"), **_BODY_REFUSED,
                 503: ("every identity provider failed", "ErrorEnvelope"), **_REFUSED},
        tag="identity",
    ),
    "getOpenApi": Operation(
        "GET", "/openapi.json", "This document", security=None, tag="meta",
        answers={200: ("the OpenAPI 3.1 document", "")},
    ),
}

# The hosted page's endpoints: called by the page's own script only (a cookie from the link's
# token, a same-origin JSON POST with X-CarrierAuth-H5: 1), listed so the contract is complete.
_PAGE_REFUSED = {
    400: ("a field is missing or malformed", "ErrorEnvelope"),
    401: ("no valid page cookie (the link was not opened, or the page expired)", "ErrorEnvelope"),
    403: ("X-CarrierAuth-H5 missing, or a cross-origin request", "ErrorEnvelope"),
    404: ("unknown task or route", "ErrorEnvelope"),
    413: ("body over 64 KiB", "ErrorEnvelope"),
    415: ("not a JSON body", "ErrorEnvelope"),
    500: ("internal failure", "ErrorEnvelope"),
}
_PAGE = {"security": PAGE_COOKIE, "tag": "hosted page (browser only)"}
PAGE_OPERATIONS: dict[str, Operation] = {
    "h5Page": Operation(
        "GET", "/h5/<task_id>", "The page (HTML)", security=None, tag=_PAGE["tag"], content_type="text/html",
        answers={200: ("the page", ""), 404: ("not a task id", "ErrorEnvelope")},
    ),
    "h5PageSession": Operation(
        "POST", "/h5/<task_id>/api/session", "Trade the link's token for the page cookie", security=None,
        tag=_PAGE["tag"], request="H5LinkToken",
        answers={200: ("the page state; Set-Cookie", "Envelope"), 410: ("the link was used or expired", "ErrorEnvelope"),
                 **{k: v for k, v in _PAGE_REFUSED.items() if k != 401}},
    ),
    "h5PageState": Operation(
        "GET", "/h5/<task_id>/api/state", "The page state", **_PAGE,
        answers={200: ("the page state", "Envelope"), **{k: _PAGE_REFUSED[k] for k in (401, 404, 500)}},
    ),
    "h5PageNumber": Operation(
        "POST", "/h5/<task_id>/api/number", "Carrier and region of a number as it is typed", **_PAGE,
        request="H5Number", answers={200: ("carrier and region", "Envelope"), **_PAGE_REFUSED},
    ),
    "h5PageStart": Operation(
        "POST", "/h5/<task_id>/api/start", "Start the task (consent, person, service password)", **_PAGE,
        request="H5Start", answers={200: ("the page state", "Envelope"), **_PAGE_REFUSED},
    ),
    "h5PageCode": Operation(
        "POST", "/h5/<task_id>/api/code", "Submit a code", **_PAGE,
        request="H5Code", answers={200: ("the page state", "Envelope"), 409: ("stale trace_id", "ErrorEnvelope"), **_PAGE_REFUSED},
    ),
    "h5PageResend": Operation(
        "POST", "/h5/<task_id>/api/resend", "Ask for a new code", **_PAGE,
        request="H5Resend", answers={200: ("the page state", "Envelope"), 409: ("stale trace_id", "ErrorEnvelope"), **_PAGE_REFUSED},
    ),
}


def openapi_path(path: str) -> str:
    return path.replace("<", "{").replace(">", "}")


def responses(operation: Operation) -> dict[int, dict[str, Any]]:
    """Powertools' ``responses=`` for the operation: each status with its model."""
    from . import models

    out: dict[int, dict[str, Any]] = {}
    for status, (when, model) in operation.answers.items():
        content_type = operation.content_type if status < 300 else "application/json"
        schema: dict[str, Any] = {"model": getattr(models, model)} if model else {"schema": {}}
        if content_type == "text/html":
            schema = {"schema": {"type": "string"}}
        out[status] = {"description": when, "content": {content_type: schema}}
    return out


def route_kwargs(name: str, operation: Operation) -> dict[str, Any]:
    """What ``resolver.route`` takes for the operation (the document's part of it)."""
    security = [{operation.security: []}] if operation.security else None
    return {
        "operation_id": name,
        "summary": operation.summary,
        "description": operation.description or None,
        "tags": [operation.tag],
        "responses": responses(operation),
        "security": security,
    }


def signature(operation: Operation) -> Any:
    """The route function's signature: its path parameters and its body (Powertools reads these)."""
    import inspect
    import re
    from typing import Annotated

    from aws_lambda_powertools.event_handler.openapi.params import Body

    from . import models

    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=str)
        for name in re.findall(r"<(\w+)>", operation.path)
    ]
    if operation.request:
        model = getattr(models, operation.request)
        params.append(inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, Body()]))
    return inspect.Signature(params)


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation, generated by Powertools from the models."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

    from .handlers import resolver

    app = resolver(validated=True)
    for name, operation in {**OPERATIONS, **PAGE_OPERATIONS}.items():

        def undocumented(**_params: Any) -> None:  # never called: the document only
            raise NotImplementedError

        undocumented.__signature__ = signature(operation)  # type: ignore[attr-defined]
        undocumented.__name__ = name
        app.route(operation.path, method=operation.method, **route_kwargs(name, operation))(undocumented)
    schema = app.get_openapi_schema(
        title=TITLE,
        version=VERSION,
        summary="Carrier authentication behind a REST API: start, answer the SMS / captcha prompts, get a signed callback.",
        description=(
            "Answers are the seed-000 envelope {code, message, trace_id, date_stamp, data}. Validation failures "
            "are HTTP 400 / code 103 naming the field; the seed's own input errors are HTTP 200 / code 104 with "
            "guide_code 90004 / 90005 / 90012. Callbacks: docs/callbacks.md (Standard Webhooks signatures)."
        ),
        security_schemes={
            API_KEY: APIKey(name="x-api-key", **{"in": APIKeyIn.header}, description="the tenant's API key"),
            PAGE_COOKIE: APIKey(name="carrier_auth_h5", **{"in": APIKeyIn.cookie},
                                description="set by POST /h5/{task_id}/api/session"),
        },
        servers=[],
    )
    return _tidy(json.loads(schema.model_dump_json(by_alias=True, exclude_none=True)))


def _tidy(doc: dict[str, Any]) -> dict[str, Any]:
    """Powertools documents its own 422 validation answer; this API answers 400 instead
    (``handlers.resolver`` maps the validation error to the seed envelope)."""
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            operation.get("responses", {}).pop("422", None)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    doc.pop("servers", None)
    return doc


_DOCUMENT: dict[str, Any] = {}


def served(event: dict[str, Any]) -> dict[str, Any]:
    """The document as ``GET /openapi.json`` answers it: with this API's own address as server."""
    from .h5 import public_base

    if not _DOCUMENT:
        _DOCUMENT.update(document())
    return {**_DOCUMENT, "servers": [{"url": public_base(event)}]}


def render() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
