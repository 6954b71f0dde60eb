"""A stand-in for the app's callback endpoint: verifies the signature and logs what it got.

It logs the task id, result and whether the signature is valid: never the callback token.
Tests read ``received`` and may make it fail the next deliveries (``fail_next``).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from carrier_auth.callback import SIGNATURE_HEADER, verify

log = logging.getLogger("carrier_auth.local.callback_receiver")


class CallbackReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self._fail: list[tuple[str | None, int]] = []
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def fail_next(self, status: int = 500, count: int = 1, task_id: str | None = None) -> None:
        """Answer ``status`` to the next ``count`` deliveries (of ``task_id`` only, if given)."""
        with self._lock:
            self._fail.extend([(task_id, status)] * count)

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
                status = receiver._accept(raw, self.headers.get(SIGNATURE_HEADER, ""))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def _accept(self, raw: bytes, signature: str) -> int:
        valid = verify(self.secret, raw, signature)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with self._lock:
            status = 200 if valid else 401
            planned = next((f for f in self._fail if f[0] in (None, body.get("task_id"))), None)
            if planned is not None:
                self._fail.remove(planned)
                status = planned[1]
            self.received.append({"body": body, "signature_valid": valid, "answered": status, "raw": raw})
            self._lock.notify_all()
        log.info(
            "callback received task_id=%s error_code=%s success=%s signature=%s answered=%s",
            body.get("task_id"), body.get("error_code"), body.get("success"),
            "valid" if valid else "INVALID", status,
        )
        return status

    def wait_for(self, task_id: str, timeout: float = 30.0, answered: int = 200) -> dict[str, Any] | None:
        """Wait (with a deadline) for a delivery of ``task_id`` that was answered ``answered``."""
        def found():
            return next((r for r in self.received if r["body"].get("task_id") == task_id and r["answered"] == answered), None)

        with self._lock:
            self._lock.wait_for(found, timeout=timeout)
            return found()
