"""GET /openapi.json (no API key): the OpenAPI 3.1 document, generated from the route
declarations and models (``carrier_auth.api``; ``docs/openapi.json`` is the same document)."""

from carrier_auth import api
from carrier_auth.handlers import api_function


def _document(_request: None, _tenant: str, event: dict) -> tuple[int, dict]:
    return 200, api.served(event)


lambda_handler = api_function("getOpenApi", _document, with_event=True)
