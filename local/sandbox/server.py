"""The sandbox's HTTP server: the upstream emulators behind one local ``ThreadingHTTPServer``, with
fault injection for tests. Local and tests only, never deployed.

``SandboxProviders`` mounts one emulator per provider, each under its module's ``PREFIX``, the
way ``carrier_auth.providers`` has one adapter per provider: ``juxinli`` (orgApi v2, seed 003),
``three_factor`` (PhoneVerification envelope, seed 002), ``moxie`` (carrier v3) and ``yuxin``
(verifyMobile, seed 001); ``mount`` adds or replaces one. Each module's ``build(Settings)`` makes
its emulator from this server's settings. What each does for a mobile number is the table in
``local.sandbox.scenarios``; shared helpers are in ``local.sandbox.common``. Answers follow the
real shapes. State lives in memory, guarded by one lock.

Faults for tests, by path prefix, so every kind of upstream call can fail in each way:

- ``respond_next(prefix, body, status, count, content_type)``: a scripted answer instead of the
  emulator's (nothing changes there): a JSON value, or a string sent as text - ``content_type``
  makes it an HTML page (``"text/html"``) or truncated JSON (``"application/json"``);
  ``fail_next(prefix, status, count)`` is a scripted HTTP error;
- ``delay_next(prefix, seconds, count)``: the answer (the emulator's, with its effect, or a
  scripted one) is sent ``seconds`` late - past the client's read timeout, a call that took
  effect (or not) and timed out;
- ``drop_next(prefix, count)``: the connection is closed instead of answering (lost after
  sending);
- ``latency_seconds``: every request waits before it is handled.

Per-call latency (benchmarks, ``make run``): every upstream under this server (Juxinli, Moxie,
three-factor, 驭信 - the mounted emulators included) answers ``latency_seconds`` late. It starts
at ``latency_ms`` (constructor), else at the environment variable ``LATENCY_ENV``
(``CARRIER_AUTH_SANDBOX_LATENCY_MS``, milliseconds, read when the server object is built, so
``CARRIER_AUTH_SANDBOX_LATENCY_MS=200 make run`` honours it), else 0. Change it on a running
server with ``set_latency_ms`` (or ``latency_seconds``); ``clear_faults`` returns to that
starting value. The sleep happens outside the server's lock: concurrent calls overlap.

A connection refused cannot be per path: ``stop()`` the server. Delays happen outside the
server's lock, so other requests go on meanwhile.
Log lines (logger ``carrier_auth.sandbox``) carry only the path, a masked mobile, the request
type and the process code or Result: never a password, code, query password, id number or name.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import juxinli, moxie, three_factor, yuxin
from .common import Emulator, Late, Maintenance, Query, Reply, Settings, Text, logger
from .scenarios import SMS_CODE

__all__ = ["EMULATORS", "LATENCY_ENV", "SMS_CODE", "SandboxProviders", "latency_from_env"]

LATENCY_ENV = "CARRIER_AUTH_SANDBOX_LATENCY_MS"

# Every emulator module, mounted under its PREFIX (one per module of carrier_auth.providers).
EMULATORS = (juxinli, three_factor, moxie, yuxin)


def _first_values(query: str) -> Query:
    return {key: values[0] for key, values in parse_qs(query).items()}


@dataclass
class _Injection:
    """A fault for the next ``count`` requests under ``prefix``: a scripted ``reply`` instead of
    the emulator's, or a delivery fault (``delay`` seconds late, or ``drop`` the connection)."""

    prefix: str
    count: int
    reply: Reply | None = None
    delay: float = 0
    drop: bool = False


class SandboxProviders:
    """Every emulator of ``EMULATORS`` behind one local HTTP server, each built from the
    constructor's settings and mounted under its module's ``PREFIX``; fault injection for tests."""

    def __init__(
        self,
        juxinli_client_secret: str = "sandbox-juxinli-secret",
        three_factor_token: str = "sandbox-three-factor-token",
        collect_polls_before_done: int = 1,
        juxinli_org_name: str = "SANDBOX",
        juxinli_query_pwd_key: str = "queryPwd",
        late_answer_seconds: float = 12.0,
        latency_ms: float | None = None,
        moxie_apikey: str = moxie.DEFAULT_APIKEY,
        yuxin_token: str = yuxin.DEFAULT_TOKEN,
        yuxin_aes_key: str = yuxin.DEFAULT_AES_KEY,
    ) -> None:
        """``late_answer_seconds``: how late the ``LATE`` scenario's accepted code is answered
        (set it above the gateway's upstream read timeout). ``latency_ms``: the per-call latency
        of every upstream; None reads ``CARRIER_AUTH_SANDBOX_LATENCY_MS`` (module docstring)."""
        self.juxinli_org_name = juxinli_org_name
        self.juxinli_client_secret = juxinli_client_secret
        self.three_factor_token = three_factor_token
        milliseconds = latency_from_env() if latency_ms is None else _latency(latency_ms, "latency_ms")
        self.base_latency_seconds = milliseconds / 1000  # what clear_faults returns to
        self.latency_seconds: float = self.base_latency_seconds
        self.maintenance = Maintenance()
        self._emulators: dict[str, Emulator] = {}
        self._lock = threading.Lock()
        self._injections: deque[_Injection] = deque()
        self._seen: list[str] = []
        self._server: _Server | None = None
        settings = Settings(
            juxinli_org_name=juxinli_org_name,
            juxinli_client_secret=juxinli_client_secret,
            juxinli_query_pwd_key=juxinli_query_pwd_key,
            collect_polls_before_done=collect_polls_before_done,
            three_factor_token=three_factor_token,
            moxie_apikey=moxie_apikey,
            yuxin_token=yuxin_token,
            yuxin_aes_key=yuxin_aes_key,
            late_answer_seconds=late_answer_seconds,
        )
        for module in EMULATORS:
            self.mount(module.PREFIX, module.build(settings))

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SandboxProviders:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        server = _Server((host, port), _Handler)
        server.sandbox = self
        threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-providers",
            daemon=True,
        ).start()
        self._server = server
        logger.info(
            "sandbox providers listening on port %d, per-call latency %g ms", self.port, self.latency_seconds * 1000
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> SandboxProviders:
        return self if self._server else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return self._server.server_address[1]

    @property
    def juxinli_base_url(self) -> str:
        return self.url(juxinli.PREFIX)

    @property
    def three_factor_base_url(self) -> str:
        return self.url(three_factor.PREFIX)

    def mount(self, prefix: str, emulator: Emulator) -> None:
        """Serve an emulator (anything with ``handle(method, path, query, headers, body) -> Reply``)
        under ``prefix``, instead of the one there if any; its base URL is ``url(prefix)``. An
        emulator with a ``maintenance`` attribute gets this server's, shared with the others
        (``Maintenance``)."""
        with self._lock:
            if isinstance(getattr(emulator, "maintenance", None), Maintenance):
                emulator.maintenance = self.maintenance
            self._emulators[prefix] = emulator

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"

    def fail_next(self, prefix: str, status: int = 503, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` answer HTTP ``status``."""
        self.respond_next(prefix, f"sandbox fault: HTTP {status}", status=status, count=count)

    def respond_next(
        self, prefix: str, body: Any, status: int = 200, count: int = 1, content_type: str | None = None
    ) -> None:
        """The next ``count`` requests under ``prefix`` answer ``body`` (JSON, or a str sent as
        text: as ``content_type`` when given, e.g. ``text/html``); the emulator never sees them."""
        if content_type is not None:
            body = Text(body, content_type)
        with self._lock:
            self._injections.append(_Injection(prefix, count, reply=(status, body)))

    def delay_next(self, prefix: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` are answered as usual, ``seconds`` late."""
        with self._lock:
            self._injections.append(_Injection(prefix, count, delay=seconds))

    def drop_next(self, prefix: str, count: int = 1) -> None:
        """The next ``count`` requests under ``prefix`` are handled as usual, then the connection
        is closed without an answer."""
        with self._lock:
            self._injections.append(_Injection(prefix, count, drop=True))

    def set_latency_ms(self, milliseconds: float) -> None:
        """Every request from now on (on every upstream) waits ``milliseconds`` before it is
        handled; this also becomes the value ``clear_faults`` returns to."""
        self.base_latency_seconds = self.latency_seconds = _latency(milliseconds, "latency") / 1000

    def clear_faults(self) -> None:
        """Drop pending injected answers and delivery faults, and any latency beyond the
        configured per-call latency (``set_latency_ms``, ``CARRIER_AUTH_SANDBOX_LATENCY_MS``)."""
        with self._lock:
            self._injections.clear()
        self.latency_seconds = self.base_latency_seconds

    def requests_seen(self, prefix: str, exact: bool = False) -> int:
        """How many requests arrived under ``prefix`` (injected answers included); ``exact``:
        for that path only (e.g. Moxie's task creations, not the calls under a task)."""
        with self._lock:
            return sum(1 for path in self._seen if (path == prefix if exact else _under(path, prefix)))

    def _dispatch(
        self, method: str, path: str, query: Query, headers: Any, body: Any
    ) -> tuple[Reply, _Injection | None]:
        """The answer to a request, and the delivery fault to apply to it (if any)."""
        with self._lock:
            self._seen.append(path)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        with self._lock:
            delivery = self._take_injection(path, scripted=False)
            scripted = self._take_injection(path, scripted=True)
            if scripted is not None and scripted.reply is not None:
                logger.info("sandbox %s %s -> injected HTTP %d", method, path, scripted.reply[0])
                return scripted.reply, delivery
            for prefix, emulator in self._emulators.items():
                if _under(path, prefix):
                    return emulator.handle(method, path.removeprefix(prefix), query, headers, body), delivery
        return (404, {"message": "unknown sandbox provider"}), delivery

    def _take_injection(self, path: str, scripted: bool) -> _Injection | None:
        for injection in self._injections:
            if _under(path, injection.prefix) and (injection.reply is not None) == scripted:
                injection.count -= 1
                if injection.count <= 0:
                    self._injections.remove(injection)
                return injection
        return None


def latency_from_env() -> float:
    """``CARRIER_AUTH_SANDBOX_LATENCY_MS`` in milliseconds (0 when unset or empty)."""
    raw = os.environ.get(LATENCY_ENV, "").strip()
    return _latency(raw, LATENCY_ENV) if raw else 0.0


def _latency(value: object, what: str) -> float:
    try:
        milliseconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of milliseconds, not {value!r}") from None
    if not 0 <= milliseconds < 600_000:
        raise ValueError(f"{what} must be between 0 and 600000 milliseconds, not {value!r}")
    return milliseconds


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: one sandbox serves many concurrent environments
    sandbox: SandboxProviders

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Typically a client that timed out and closed the socket before the answer.
        logger.debug("sandbox connection from %s dropped", client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        (status, body), delivery = self.server.sandbox._dispatch(
            self.command, parts.path, _first_values(parts.query), self.headers, self._json_body()
        )
        delay = delivery.delay if delivery else 0
        if isinstance(body, Late):
            body, delay = body.body, delay + body.seconds
        if delay:
            time.sleep(delay)  # outside the server's lock: other requests go on
        if delivery and delivery.drop:
            self.close_connection = True  # no answer: the client sees the connection closed
            return
        self._send(status, body)

    def _json_body(self) -> Any:
        """The request body: a form-encoded body as a dict of first values, else parsed JSON."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(self, status: int, body: Any) -> None:
        if isinstance(body, str):
            body = Text(body)
        if isinstance(body, Text):
            payload, content_type = body.text.encode(), body.content_type
        else:
            payload = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json;charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request line carries secrets in its query string."""
