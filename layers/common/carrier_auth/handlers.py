"""The shape every API function shares, built once: Powertools Logger / Tracer / Metrics, the
resolver with the seed-envelope error handlers, one route, and the Lambda entry point.

Each API ``functions/<name>/app.py`` is then one line that names its route and the facade call
(``api_function``), so the handlers stay thin and identical in their cross-cutting behaviour.
A state-machine step is one line too: ``step_function(flow.<step>)``. No function serves both.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from . import api, codes, validation
from .envelope import envelope, http
from .errors import ApiError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

log = Logger(child=True)

Answer = Callable[..., tuple[int, dict]]
NOT_JSON = "请求体必须是JSON (Content-Type: application/json)"


def resolver(validated: bool = False, before_body: Callable[[], None] | None = None) -> APIGatewayRestResolver:
    """A REST resolver whose every error is the seed envelope, never a stack trace.

    ``validated``: Powertools validates each route's declared body (``api.py``) and refusals are
    400 / 103 naming the field; the body goes through ``validation.json_body`` first (size, UTF-8,
    nesting, a JSON object). ``before_body``: a check that must refuse a request before anything
    about its body is said (the hosted page's CSRF check)."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    def json_body(text: str) -> Any:
        if before_body is not None:
            before_body()
        return validation.json_body(text)

    app = APIGatewayRestResolver(enable_validation=validated, json_body_deserializer=json_body)
    if validated:
        app._request_validation_middleware = _json_only()  # noqa: SLF001 (the one Powertools uses)

    @app.exception_handler(ApiError)
    def _refused(exc: ApiError) -> Response:
        log.info("request refused", extra={"http_status": exc.status, "reason": exc.message})
        return http(exc.status, envelope(exc.code, exc.message, exc.data))

    if validated:
        from aws_lambda_powertools.event_handler.openapi.exceptions import (
            RequestUnsupportedContentType,
            RequestValidationError,
        )

        def _body_refused(refusal: ApiError) -> Response:
            try:
                if before_body is not None:
                    before_body()
            except ApiError as exc:
                refusal = exc
            return _refused(refusal)

        @app.exception_handler(RequestValidationError)
        def _invalid(exc: RequestValidationError) -> Response:
            return _body_refused(validation.refusal(exc.errors()))

        @app.exception_handler(RequestUnsupportedContentType)
        def _not_json(_exc: Exception) -> Response:
            return _body_refused(ApiError(415, NOT_JSON))

    @app.exception_handler((binascii.Error, UnicodeDecodeError))
    def _not_text(_exc: Exception) -> Response:  # a base64 body that is not base64, or not UTF-8
        return _refused(ApiError(400, "请求体不是合法的UTF-8文本"))

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return http(404, envelope(codes.SYSTEM_ERROR, "接口不存在"))

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        # the type only: exception texts from libraries may echo request data
        log.error("internal error", extra={"error_type": type(exc).__name__})
        return http(500, envelope(codes.SYSTEM_ERROR))

    return app


def _json_only() -> Any:
    """Powertools' request validation, for JSON bodies only: it would also parse forms and
    multipart bodies (a multipart type without a boundary is a 500 there); this API answers 415."""
    from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
        OpenAPIRequestValidationMiddleware,
    )
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType

    class JsonOnlyValidation(OpenAPIRequestValidationMiddleware):
        def _get_body(self, app: Any) -> dict[str, Any]:
            content_type = (app.current_event.headers.get("content-type") or "").strip().lower()
            if content_type and not content_type.startswith("application/json"):
                raise RequestUnsupportedContentType(NOT_JSON, errors=[])
            return super()._get_body(app)

    return JsonOnlyValidation()


def api_function(
    operation: str,
    answer: Answer,
    metric: str | None = None,
    on_context: Callable[[Any], None] | None = None,
    traced: tuple[str, ...] = ("botocore",),
    with_event: bool = False,
) -> Callable[[dict, Any], Any]:
    """A Lambda handler serving the ``operation`` declared in ``api.OPERATIONS`` with
    ``answer(request, tenant, **path_params)``: ``request`` is the body as its declared model,
    validated by Powertools (None for a route without a body).

    ``on_context`` sees the Lambda context first (e.g. Powertools idempotency's timeout guard);
    ``traced``: the libraries X-Ray patches (each patch is import time on a cold start: only
    the ones the function calls through - AWS for every facade, ``requests`` for upstreams);
    ``with_event``: ``answer`` also gets the proxy event (``event=``), e.g. for the API's own URL.
    """
    logger = Logger()
    tracer = Tracer(patch_modules=traced)
    metrics = Metrics()

    declared = api.OPERATIONS[operation]

    @tracer.capture_method(capture_response=False)
    def route(body: Any = None, **params: str):
        if metric:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        event = routed().current_event
        # the tenant is the API key API Gateway checked, never anything the body says
        tenant = event.request_context.identity.api_key_id or ""
        logger.append_keys(tenant=tenant)
        if with_event:
            params = {**params, "event": event.raw_event}
        return http(*answer(body, tenant, **params))

    @cache
    def routed() -> APIGatewayRestResolver:
        # built on the first call, not at import: Powertools' event_handler package loads every
        # resolver it has (a third of `import boto3` or more, see bench/cold_start.py), and the
        # models load pydantic
        app = resolver(validated=True)
        route.__signature__ = api.signature(declared)  # type: ignore[attr-defined]
        app.route(declared.path, method=declared.method, **api.route_kwargs(operation, declared))(route)
        return app

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> Any:
        if on_context is not None:
            on_context(context)
        return routed().resolve(event, context)

    return lambda_handler


def step_function(step: Callable[[dict, float | None], dict]) -> Callable[[dict, Any], dict]:
    """A Lambda handler running one state-machine Task: ``step(event, remaining_seconds)``, one
    of ``flow``'s entry points. The Task's Parameters are the event; its answer the result."""
    logger = Logger()
    tracer = Tracer(patch_modules=("botocore", "requests"))  # the libraries a step calls through

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def lambda_handler(event: dict, context: Any) -> dict:
        logger.append_keys(task_id=event.get("task_id"), step=step.__name__)
        return step(event, context.get_remaining_time_in_millis() / 1000)

    return lambda_handler
