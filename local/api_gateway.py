"""A local REST API: template.yaml's Api events -> our handlers, as API Gateway proxies them.

Like ``sam local start-api`` plus what the deployed API does around the handlers: the API key
check (each tenant's key; the proxy event names the key's id), the limits (10 MiB body, 8192
characters of URL) and the gateway responses of template.yaml, so every answer - even to a
malformed request - is the seed envelope.

Local only: ``GET /_local/funnel`` (no API key, never routed to a function) answers the
dashboard's figures from the EMF metrics the functions printed (``local.metrics``): JSON, or a
small HTML page for ``Accept: text/html`` or ``?format=html``.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from .metrics import EmfAggregator, render_html
from .runtime import FunctionError, FunctionRegistry

log = logging.getLogger("carrier_auth.local")

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_URL_CHARS = 8192
JSON = "application/json; charset=utf-8"
FUNNEL_PATH = "/_local/funnel"  # the local funnel (local.metrics): answered here, not by a function
# template.yaml's GatewayResponses, by the status API Gateway answers
MESSAGES = {
    400: "请求无效",
    403: "缺少或无效的API Key (x-api-key)",
    404: "接口不存在",
    413: "请求体过大",
    414: "请求URL过长",
    431: "请求头过大",
    502: "系统异常",
    504: "系统繁忙，请稍后查询任务状态",
}

# headers as a mapping, or as (name, value) pairs when a name repeats (Set-Cookie)
Answer = tuple[int, dict[str, str] | list[tuple[str, str]], bytes]


def _route_regex(path: str) -> re.Pattern:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{pattern}$")


def envelope(status: int, message: str | None = None) -> Answer:
    """A gateway response: the seed envelope with code 103."""
    text = message or MESSAGES.get(status, "请求无效" if status < 500 else "系统异常")
    body = {"code": "103", "message": text, "trace_id": uuid.uuid4().hex,
            "date_stamp": str(int(time.time() * 1000)), "data": {}}
    return status, {"Content-Type": JSON}, json.dumps(body, ensure_ascii=False).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of clients connecting at once must not be reset


class LocalApiGateway:
    def __init__(
        self,
        registry: FunctionRegistry,
        routes: list[tuple[str, str, str, bool] | tuple[str, str, str]],
        api_keys: dict[str, str],
        stage: str = "v1",
        metrics: EmfAggregator | None = None,
    ) -> None:
        self.registry = registry
        # the functions' EMF metrics, for GET /_local/funnel: the registry's relay sums them
        self.metrics = metrics or getattr(registry, "metrics", None) or EmfAggregator()
        # API Gateway prefers a literal path segment to a {parameter}: so does the order here
        # (METHOD, path, function[, API key required: True unless said])
        ordered = sorted(routes, key=lambda r: [part.startswith("{") for part in r[1].split("/")])
        self.routes = [(r[0], r[1], _route_regex(r[1]), r[2], r[3] if len(r) > 3 else True) for r in ordered]
        self.api_keys = api_keys  # key value -> API key id
        self.stage = stage
        self._server: ThreadingHTTPServer | None = None

    def start(self, host: str = "127.0.0.1", port: int = 3000) -> "LocalApiGateway":
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # noqa: ANN001 - no request lines with query strings
                return

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def parse_request(self) -> bool:
                if not super().parse_request():
                    return False
                if self.request_version == "HTTP/0.9":  # no headers, no key: not something we serve
                    self.send_error(HTTPStatus.BAD_REQUEST)
                    return False
                return True

            def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
                """What http.server answers by itself (bad request line or headers, URL over
                its limit, a method without a do_ handler), as API Gateway would: enveloped."""
                if code == HTTPStatus.NOT_IMPLEMENTED:  # an unknown method: API Gateway has no such resource
                    code = HTTPStatus.NOT_FOUND
                if self.request_version in ("", "HTTP/0.9"):  # a status line even for a garbled request
                    self.request_version = "HTTP/1.1"
                self.close_connection = True
                self._send(*envelope(code))

            def _send(self, status: int, headers: dict[str, str] | list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items() if isinstance(headers, dict) else headers:
                    self.send_header(key, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(body)))
                # headers and body in one write: on a kept-alive connection a second small write
                # would wait for the client's delayed ACK (Nagle), 40 ms per answer
                payload = body if self.command != "HEAD" else b""
                if hasattr(self, "_headers_buffer"):
                    self._headers_buffer.append(b"\r\n" + payload)
                    self.flush_headers()
                else:  # nothing buffered (an HTTP/0.9 request line): as http.server writes it
                    self.end_headers()
                    self.wfile.write(payload)

            def _refusal(self) -> HTTPStatus | None:
                """Why the request is refused before its body is read, if it is."""
                if len(self.path) > MAX_URL_CHARS:
                    return HTTPStatus.REQUEST_URI_TOO_LONG
                declared = (self.headers.get("Content-Length") or "0").strip()
                if not re.fullmatch(r"[0-9]{1,20}", declared):
                    return HTTPStatus.BAD_REQUEST
                if int(declared) > MAX_BODY_BYTES:  # the connection closes: the body stays unread
                    return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
                return None

            def handle_expect_100(self) -> bool:
                """Refuse before a client that asks first (curl, for big bodies) sends the body."""
                refusal = self._refusal()
                if refusal is not None:
                    self.send_error(refusal)
                    return False
                return super().handle_expect_100()

            def _handle(self) -> None:
                refusal = self._refusal()
                if refusal is not None:
                    return self.send_error(refusal)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self._send(*gateway.dispatch(self.command, self.path, dict(self.headers), body))

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = _Server((host, port), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api", daemon=True
        ).start()
        return self

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Answer:
        url = urlsplit(raw_path)
        path = url.path
        if path.startswith(f"/{self.stage}/"):
            path = path[len(self.stage) + 1:]
        if method == "GET" and path == FUNNEL_PATH:
            return self._funnel(url.query, headers)
        match = next(((p, m.groupdict(), fn, key) for mth, p, rx, fn, key in self.routes
                      if mth == method and (m := rx.match(path))), None)
        if match is None:
            return envelope(404)
        lower = {k.lower(): v for k, v in headers.items()}
        api_key = lower.get("x-api-key")
        resource, params, function, key_required = match
        if key_required and api_key not in self.api_keys:
            return envelope(403)
        identity = {"sourceIp": "127.0.0.1"}
        if api_key in self.api_keys:
            identity.update(apiKey=api_key, apiKeyId=self.api_keys[api_key])
        # what API Gateway adds: the scheme the client used (here plain http)
        headers = {**headers, "X-Forwarded-Proto": "http"}
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
                "identity": identity,
                "domainName": lower.get("host", ""),
                "accountId": "123456789012",
                "apiId": "local",
            },
            "body": body.decode("utf-8", errors="replace") if body else None,
            "isBase64Encoded": False,
        }
        try:
            result = self.registry.invoke(function, event)
        except FunctionError as exc:
            log.error("function %s failed: %s", function, exc.error_type)
            return envelope(504 if exc.error_type == "Sandbox.Timedout" else 502)
        try:
            status, out_headers, data = _proxy_response(result)
        except (AttributeError, TypeError, ValueError):
            log.error("function %s answered a malformed proxy response", function)
            return envelope(502)
        return status, [*out_headers, ("x-amzn-RequestId", request_id)], data

    def _funnel(self, query: str, headers: dict[str, str]) -> Answer:
        """The local funnel: JSON, or HTML when asked (``?format=html`` or Accept: text/html)."""
        fmt = dict(parse_qsl(query)).get("format", "")
        accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
        report = self.metrics.report()
        plain = {"Cache-Control": "no-store"}
        if fmt == "html" or (fmt != "json" and "text/html" in accept):
            return 200, {**plain, "Content-Type": "text/html; charset=utf-8"}, render_html(report).encode()
        return 200, {**plain, "Content-Type": JSON}, json.dumps(report, ensure_ascii=False).encode()


def _proxy_response(result: dict) -> Answer:
    """The HTTP answer a Lambda proxy integration's result describes. The API declares no
    binary media types (template.yaml), so API Gateway passes an ``isBase64Encoded`` body
    through as the base64 text it is: so does this."""
    payload = result.get("body") or ""
    data = payload.encode("utf-8")
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    pairs = []
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.pop(key, None)
        pairs += [(str(key), str(v)) for v in values]
    return int(result.get("statusCode", 200)), [*headers.items(), *pairs], data
