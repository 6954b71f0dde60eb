"""A local REST API: template.yaml's Api events -> our handlers, as API Gateway proxies them.

Like ``sam local start-api`` plus the API key check the deployed API enforces.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .runtime import FunctionRegistry

log = logging.getLogger("carrier_auth.local")


def _route_regex(path: str) -> re.Pattern:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


class LocalApiGateway:
    def __init__(self, registry: FunctionRegistry, routes: list[tuple[str, str, str]], api_key: str, stage: str = "v1"):
        self.registry = registry
        self.routes = [(m, p, _route_regex(p), fn) for m, p, fn in routes]
        self.api_key = api_key
        self.stage = stage
        self._server: ThreadingHTTPServer | None = None

    def start(self, host: str = "127.0.0.1", port: int = 3000) -> "LocalApiGateway":
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # noqa: ANN001 - no request lines with query strings
                return

            def _handle(self) -> None:
                status, headers, body = gateway.dispatch(self.command, self.path, dict(self.headers), self._body())
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True).start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @staticmethod
    def _error(status: int, message: str) -> tuple[int, dict, bytes]:
        body = {"code": "103", "message": message, "trace_id": uuid.uuid4().hex,
                "date_stamp": str(int(time.time() * 1000)), "data": {}}
        return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body, ensure_ascii=False).encode()

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        url = urlsplit(raw_path)
        path = url.path
        if path.startswith(f"/{self.stage}/"):
            path = path[len(self.stage) + 1:]
        match = next(((p, m.groupdict(), fn) for mth, p, rx, fn in self.routes
                      if mth == method and (m := rx.match(path))), None)
        if match is None:
            return self._error(404, "接口不存在")
        lower = {k.lower(): v for k, v in headers.items()}
        if lower.get("x-api-key") != self.api_key:
            return self._error(403, "缺少或无效的API Key (x-api-key)")
        resource, params, function = match
        request_id = str(uuid.uuid4())
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(parse_qsl(url.query)) or None,
            "multiValueQueryStringParameters": None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "requestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"apiKey": lower.get("x-api-key"), "sourceIp": "127.0.0.1"},
                "accountId": "123456789012",
                "apiId": "local",
            },
            "body": body.decode("utf-8", errors="replace") if body else None,
            "isBase64Encoded": False,
        }
        try:
            result = self.registry.invoke(function, event)
        except Exception as exc:
            log.error("handler %s raised %s", function, type(exc).__name__)
            return self._error(502, "Internal server error")
        payload = result.get("body") or ""
        data = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode("utf-8")
        out_headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        out_headers["x-amzn-RequestId"] = request_id
        return int(result.get("statusCode", 200)), out_headers, data
