"""The hosted H5 page in headless chromium (a benchmark, not a test).

Over N journeys of 13800138000 on the embedded stack (phone viewport): bytes the page load
transfers (HTML, CSS, JS and the link exchange), time from navigation to the agreement being
shown, from 下一步 to the SMS step, and from 提交 to the final page; and the same flow's
API calls (start, submit) for comparison. Needs `make browser`. Usage: make bench
(BENCH_H5_RUNS=8 by default; BENCH_LATENCY_MS sets the sandbox's per-call latency).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid

import requests

RUNS = int(os.environ.get("BENCH_H5_RUNS", "8"))
LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "0"))
CHROMIUM = os.environ.get("CARRIER_AUTH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    from playwright.sync_api import sync_playwright

    from local.stack import EmbeddedStack

    stack = EmbeddedStack(api_port=0, moto_port=0, poll_interval=0).start()
    stack.sandbox.set_latency_ms(LATENCY_MS)
    results: dict[str, list[float]] = {"load": [], "start": [], "submit": [], "bytes": []}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for run in range(RUNS + 1):  # the first one warms the functions: not counted
                link = requests.post(
                    f"{stack.api_url}/carrier/auth/h5",
                    headers={"x-api-key": stack.api_key},
                    json={"userId": f"bench-{uuid.uuid4().hex[:8]}", "return_url": "http://127.0.0.1:9/back",
                          "callback_set": {"callback_url": stack.receiver.url, "token": "bench"}},
                    timeout=30,
                ).json()["data"]
                context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, locale="zh-CN")
                page = context.new_page()
                sizes: list[int] = []
                page.on("response", lambda r, sizes=sizes: sizes.append(len(r.body())) if r.ok else None)
                began = time.monotonic()
                page.goto(link["h5_url"])
                page.locator("#consent").wait_for(state="visible")
                loaded = time.monotonic()
                page.get_by_label("我已阅读并同意").check()
                page.get_by_role("button", name="同意并继续").click()
                page.get_by_label("姓名").fill("张三")
                page.get_by_label("身份证号").fill("11010519491231002X")
                page.get_by_label("手机号").fill("13800138000")
                page.get_by_label("服务密码", exact=True).fill("bench-pass")
                clicked = time.monotonic()
                page.get_by_role("button", name="下一步").click()
                page.locator("#sms").wait_for(state="visible")
                asked = time.monotonic()
                page.get_by_label("短信验证码").fill("123456")
                typed = time.monotonic()
                page.locator("#sms-submit").click()
                page.locator("#done").wait_for(state="visible")
                done = time.monotonic()
                context.close()
                if run:
                    results["load"].append(ms(loaded - began))
                    results["start"].append(ms(asked - clicked))
                    results["submit"].append(ms(done - typed))
                    results["bytes"].append(sum(sizes))
            browser.close()
    finally:
        stack.stop()
    print(f"hosted page, {RUNS} journeys, sandbox latency {LATENCY_MS} ms per upstream call (medians; max)")
    print(f"  page load -> agreement shown : {statistics.median(results['load']):7.1f} ms  (max {max(results['load'])})")
    print(f"  下一步 -> SMS step           : {statistics.median(results['start']):7.1f} ms  (max {max(results['start'])})")
    print(f"  提交 -> final page (collected): {statistics.median(results['submit']):7.1f} ms  (max {max(results['submit'])})")
    print(f"  bytes transferred on load    : {int(statistics.median(results['bytes']))} (uncompressed)")


if __name__ == "__main__":
    main()
