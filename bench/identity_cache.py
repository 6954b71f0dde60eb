"""How many identity upstream calls the keyed-hash cache saves (a measurement, not a test).

Runs the sandbox scenarios twice through the embedded stack - every carrier scenario start
(each runs the identity pre-check) plus both identity APIs for each number - and counts the
requests that reached the three-factor and 驭信 sandboxes on each pass.
Usage: PYTHONPATH=layers/common:. .venv/bin/python -m bench.identity_cache
"""

from __future__ import annotations

import time

import requests

from local.stack import EmbeddedStack

MOBILES = [f"138001380{n:02d}" for n in range(29)] + ["13900139006", "13900139007", "13900139008", "13900139020"]
IDENTITY = {"identity_card": "11010519491231002X", "name": "张三"}


def one_pass(stack: EmbeddedStack, http: requests.Session) -> dict[str, int]:
    before = {p: stack.sandbox.requests_seen(p) for p in ("/three-factor", "/yuxin")}
    cached = 0
    for mobile in MOBILES:
        body = {"userId": "bench", "mobile_no": mobile, "password": "bench-pass", "submitTime": int(time.time() * 1000),
                "callback_set": {"callback_url": stack.receiver.url, "token": "t"}, **IDENTITY}
        http.post(stack.api_url + "/carrier/auth", json=body, timeout=60)
        for path in ("/identity/three-factor", "/identity/realname"):
            out = http.post(stack.api_url + path, json={"userId": "bench", "mobile_no": mobile, **IDENTITY}, timeout=60)
            cached += bool(out.json().get("data", {}).get("cached"))
    upstream = {p: stack.sandbox.requests_seen(p) - n for p, n in before.items()}
    return {**upstream, "api answers from cache": cached}


def main() -> None:
    stack = EmbeddedStack(api_port=0, moto_port=0, poll_interval=0).start()
    http = requests.Session()
    http.headers["x-api-key"] = stack.api_key
    try:
        first, second = one_pass(stack, http), one_pass(stack, http)
    finally:
        stack.stop()
    print(f"scenarios per pass: {len(MOBILES)} starts + {2 * len(MOBILES)} identity API calls")
    print("pass 1 upstream identity requests:", first)
    print("pass 2 upstream identity requests:", second)
    saved = sum(first[p] - second[p] for p in ("/three-factor", "/yuxin"))
    print(f"upstream calls saved by the cache on the repeated pass: {saved}")


if __name__ == "__main__":
    main()
