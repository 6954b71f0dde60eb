"""`make demo`: the happy flow against a running `make run`, printing each request and answer.

Environment: CARRIER_AUTH_API_URL (http://127.0.0.1:3000), CARRIER_AUTH_API_KEY
(dev-api-key), CARRIER_AUTH_CALLBACK_URL (http://127.0.0.1:3001/callback).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Callable

import requests

API = os.environ.get("CARRIER_AUTH_API_URL", "http://127.0.0.1:3000").rstrip("/")
KEY = os.environ.get("CARRIER_AUTH_API_KEY", "dev-api-key")
CALLBACK = os.environ.get("CARRIER_AUTH_CALLBACK_URL", "http://127.0.0.1:3001/callback")
HIDDEN = ("password", "auth_code", "token")


def _shown(body: dict) -> dict:
    """The request as printed: secrets replaced, so a demo transcript can be shared."""
    return {k: ("******" if k in HIDDEN else _shown(v) if isinstance(v, dict) else v) for k, v in body.items()}


def call(method: str, path: str, body: dict | None = None) -> dict:
    print(f"\n>>> {method} {path}")
    if body is not None:
        print(json.dumps(_shown(body), ensure_ascii=False, indent=2))
    resp = requests.request(method, API + path, json=body, headers={"x-api-key": KEY}, timeout=60)
    answer = resp.json()
    print(f"<<< HTTP {resp.status_code}")
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return answer


def main() -> int:
    start = {
        "userId": f"demo-{uuid.uuid4().hex[:8]}",
        "mobile_no": "13800138000",
        "identity_card": "11010519491231002X",
        "name": "张三",
        "password": "sandbox-pass",
        "submitTime": int(time.time() * 1000),
        "callback_set": {"callback_url": CALLBACK, "token": f"demo-{uuid.uuid4().hex[:12]}"},
    }
    began = time.monotonic()
    first = call("POST", "/carrier/auth", start)
    if first.get("data", {}).get("guide_code") != "90001":
        print("expected guide_code 90001 (enter the SMS code)", file=sys.stderr)
        return 1
    submit = {
        "userId": start["userId"],
        "traceId": first["trace_id"],
        "task_id": first["data"]["task_id"],
        "mobile_no": start["mobile_no"],
        "identity_card": start["identity_card"],
        "auth_code": "123456",
        "submitTime": int(time.time() * 1000),
        "callback_set": start["callback_set"],
    }
    second = call("POST", "/carrier/auth/code", submit)
    if second.get("code") != "105":
        print("expected code 105", file=sys.stderr)
        return 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = requests.get(f"{API}/carrier/auth/{submit['task_id']}", headers={"x-api-key": KEY}, timeout=30).json()
        if status["data"].get("result"):
            call("GET", f"/carrier/auth/{submit['task_id']}")
            print(f"\nresult {status['data']['result']} in {time.monotonic() - began:.2f} s "
                  "(the callback receiver's log line in `make run` shows the signed callback)")
            return 0
        time.sleep(0.2)
    print("no result within 60 s", file=sys.stderr)
    return 1


def run(entry: Callable[[], int]) -> None:
    """Exit with ``entry()``'s status; one line, not a traceback, when no stack is running."""
    try:
        sys.exit(entry())
    except requests.ConnectionError:
        print(f"cannot reach {API}: start the stack first with `make run` (in another terminal)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run(main)
