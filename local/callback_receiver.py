"""A stand-in for the apps' callback endpoint: verifies the signatures and logs what it got.

Several tenants share the gateway, each signing with its own secret: a delivery is checked
against every tenant's secret and recorded with the tenant whose secret verified its
X-CarrierAuth-Signature; the Standard Webhooks headers (webhook-id / -timestamp / -signature)
are checked too, against each secret's ``whsec_`` form. It logs the task id, result, tenant
(the API key id) and whether each signature is valid: never the body, the callback token or
the signatures. Tests read ``received`` and may make the next deliveries fail (``fail_next``,
with answer headers such as Retry-After) or answer late (``delay_next``, a slow app endpoint).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from carrier_auth.callback import SIGNATURE_HEADER, standard_secret, verify, verify_standard

log = logging.getLogger("carrier_auth.local.callback_receiver")


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a delayed answer holds its own thread, never the others
    request_queue_size = 1024


class CallbackReceiver:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets  # API key id -> that tenant's callback secret
        self.received: list[dict[str, Any]] = []
        self._fail: list[tuple[str | None, tuple[int, dict[str, str]]]] = []
        self._delay: list[tuple[str | None, float]] = []
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def fail_next(
        self, status: int = 500, count: int = 1, task_id: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer ``status`` (with ``headers``, e.g. ``{"Retry-After": "120"}``) to the next
        ``count`` deliveries (of ``task_id`` only, if given)."""
        with self._lock:
            self._fail.extend([(task_id, (status, dict(headers or {})))] * count)

    def delay_next(self, seconds: float, count: int = 1, task_id: str | None = None) -> None:
        """Answer the next ``count`` deliveries (of ``task_id`` only, if given) after ``seconds``."""
        with self._lock:
            self._delay.extend([(task_id, seconds)] * count)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "CallbackReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt, *args):  # noqa: ANN001
                return

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, extra = receiver._accept(raw, {name.lower(): value for name, value in self.headers.items()})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                """The app's return page for `make h5-demo`: what the hosted page came back with."""
                query = dict(parse_qsl(urlsplit(self.path).query))
                text = f"返回应用: task_id={query.get('task_id', '')} result={query.get('result', '')}"
                if query.get("guide_code"):
                    text += f" guide_code={query['guide_code']}"
                body = text.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = _Server((host, port), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="callback-receiver", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def _tenant(self, raw: bytes, signature: str) -> str | None:
        """The API key id of the tenant whose secret signed ``raw`` (X-CarrierAuth), or None."""
        return next((key_id for key_id, secret in self.secrets.items() if verify(secret, raw, signature)), None)

    def _standard_tenant(self, raw: bytes, headers: dict[str, str]) -> str | None:
        """The API key id of the tenant whose secret signed the Standard Webhooks headers, or None."""
        return next(
            (key_id for key_id, secret in self.secrets.items()
             if verify_standard(standard_secret(secret), raw, headers)),
            None,
        )

    @staticmethod
    def _take(planned: list[tuple[str | None, Any]], task_id: str | None) -> Any:
        entry = next((p for p in planned if p[0] in (None, task_id)), None)
        if entry is None:
            return None
        planned.remove(entry)
        return entry[1]

    def _accept(self, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Record the delivery now; fill in ``answered`` when the answer goes out. Returns the
        status and the extra headers to answer with."""
        tenant = self._tenant(raw, headers.get(SIGNATURE_HEADER.lower(), ""))
        standard = self._standard_tenant(raw, headers)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with self._lock:
            failure = self._take(self._fail, body.get("task_id"))
            delay = self._take(self._delay, body.get("task_id")) or 0
            record = {"body": body, "tenant": tenant, "signature_valid": tenant is not None,
                      "standard_signature_valid": standard is not None, "headers": headers,
                      "answered": None, "delayed": delay, "raw": raw}
            self.received.append(record)
            self._lock.notify_all()
        if delay:
            threading.Event().wait(delay)  # the slow endpoint itself, not a test waiting
        status, extra = failure or ((200 if tenant else 401), {})
        with self._lock:
            record["answered"] = status
            self._lock.notify_all()
        log.info(
            "callback received task_id=%s error_code=%s success=%s tenant=%s signature=%s "
            "webhook-signature=%s answered=%s",
            body.get("task_id"), body.get("error_code"), body.get("success"), tenant,
            "valid" if tenant else "INVALID", "valid" if standard else "INVALID", status,
        )
        return status, extra

    def wait_for(self, task_id: str, timeout: float = 30.0, answered: int = 200) -> dict[str, Any] | None:
        """Wait (with a deadline) for a delivery of ``task_id`` that was answered ``answered``."""
        def found():
            return next((r for r in self.received if r["body"].get("task_id") == task_id and r["answered"] == answered), None)

        with self._lock:
            self._lock.wait_for(found, timeout=timeout)
            return found()
