"""What every API function shares: the resolver and how errors become the seed envelope."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from . import codes
from .envelope import envelope, http
from .errors import ApiError

logger = Logger(child=True)


def resolver() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()

    @app.exception_handler(ApiError)
    def _refused(exc: ApiError) -> Response:
        logger.info("request refused", extra={"http_status": exc.status, "reason": exc.message})
        return http(exc.status, envelope(exc.code, exc.message, exc.data))

    @app.not_found
    def _not_found(_exc: Exception) -> Response:
        return http(404, envelope(codes.SYSTEM_ERROR, "接口不存在"))

    @app.exception_handler(Exception)
    def _internal(exc: Exception) -> Response:
        # the type only: exception texts from libraries may echo request data
        logger.error("internal error", extra={"error_type": type(exc).__name__})
        return http(500, envelope(codes.SYSTEM_ERROR))

    return app
