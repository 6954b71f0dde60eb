"""The shape every API function shares, built once: Powertools Logger / Tracer / Metrics, the
resolver with the seed-envelope error handlers, one route, and the Lambda entry point.

Each ``functions/<name>/app.py`` is then one line that names its route and the facade call,
so the handlers stay thin and identical in their cross-cutting behaviour.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from . import codes
from .envelope import envelope, http
from .errors import ApiError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

log = Logger(child=True)

Answer = Callable[..., tuple[int, dict]]


def resolver() -> APIGatewayRestResolver:
    """A REST resolver whose every error is the seed envelope, never a stack trace."""
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    app = APIGatewayRestResolver()

    @app.exception_handler(ApiError)
    def _refused(exc: ApiError) -> Response:
        log.info("request refused", extra={"http_status": exc.status, "reason": exc.message})
        return http(exc.status, envelope(exc.code, exc.message, exc.data))

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return http(404, envelope(codes.SYSTEM_ERROR, "接口不存在"))

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        # the type only: exception texts from libraries may echo request data
        log.error("internal error", extra={"error_type": type(exc).__name__})
        return http(500, envelope(codes.SYSTEM_ERROR))

    return app


def api_function(
    method: str,
    path: str,
    answer: Answer,
    metric: str | None = None,
    on_context: Callable[[Any], None] | None = None,
    traced: tuple[str, ...] = ("botocore",),
    with_event: bool = False,
) -> Callable[[dict, Any], Any]:
    """A Lambda handler serving ``method path`` with ``answer(body, tenant, **path_params)``.

    ``on_context`` sees the Lambda context first (e.g. Powertools idempotency's timeout guard);
    ``traced``: the libraries X-Ray patches (each patch is import time on a cold start: only
    the ones the function calls through - AWS for every facade, ``requests`` for upstreams);
    ``with_event``: ``answer`` also gets the proxy event (``event=``), e.g. for the API's own URL.
    """
    logger = Logger()
    tracer = Tracer(patch_modules=traced)
    metrics = Metrics()

    @tracer.capture_method(capture_response=False)
    def route(**params: str):
        if metric:
            metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        event = routed().current_event
        # the tenant is the API key API Gateway checked, never anything the body says
        tenant = event.request_context.identity.api_key_id or ""
        logger.append_keys(tenant=tenant)
        try:
            body = event.decoded_body
        except (ValueError, binascii.Error):  # a base64 body that is not base64 or not UTF-8
            raise ApiError(400, "请求体不是合法的UTF-8文本") from None
        if with_event:
            params = {**params, "event": event.raw_event}
        return http(*answer(body, tenant, **params))

    @cache
    def routed() -> APIGatewayRestResolver:
        # built on the first call, not at import: Powertools' event_handler package loads every
        # resolver it has (a third of `import boto3` or more, see bench/cold_start.py)
        app = resolver()
        app.route(path, method=method)(route)
        return app

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> Any:
        if on_context is not None:
            on_context(context)
        return routed().resolve(event, context)

    return lambda_handler
