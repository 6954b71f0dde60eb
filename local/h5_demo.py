"""`make h5-demo`: a fresh hosted-page link from a running `make run`, to open in a browser.

The app backend's call (POST /carrier/auth/h5 with the API key) made for you; the link works
once, for ``H5LinkTtlSeconds`` (10 min). Sandbox numbers and the SMS code 123456 work as in the
API (README.md, "Sandbox scenarios"). Environment: CARRIER_AUTH_API_URL, CARRIER_AUTH_API_KEY,
CARRIER_AUTH_CALLBACK_URL (as for `make demo`), CARRIER_AUTH_H5_MOBILE (prefill a mobile number).
"""

from __future__ import annotations

import os
import sys
import uuid

import requests

from .demo import API, CALLBACK, KEY, run


def main() -> int:
    body = {
        "userId": f"h5-demo-{uuid.uuid4().hex[:8]}",
        "callback_set": {"callback_url": CALLBACK, "token": f"demo-{uuid.uuid4().hex[:12]}"},
        # where the page's 返回应用 goes: the local callback receiver answers any path
        "return_url": CALLBACK.rsplit("/", 1)[0] + "/returned",
    }
    if os.environ.get("CARRIER_AUTH_H5_MOBILE"):
        body["mobile_no"] = os.environ["CARRIER_AUTH_H5_MOBILE"]
    resp = requests.post(f"{API}/carrier/auth/h5", json=body, headers={"x-api-key": KEY}, timeout=30)
    answer = resp.json()
    if resp.status_code != 200 or "h5_url" not in answer.get("data", {}):
        print(f"HTTP {resp.status_code}: {answer}", file=sys.stderr)
        return 1
    print(f"task {answer['data']['task_id']}: open this link once, within 10 minutes (a phone-sized window looks best):\n")
    print(answer["data"]["h5_url"])
    return 0


if __name__ == "__main__":
    run(main)
