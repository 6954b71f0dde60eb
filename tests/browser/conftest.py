"""The hosted H5 page in a real browser: Debian's chromium driven by Playwright, against the
embedded stack (the page and its endpoints served by the template's functions, the sandbox
providers behind them).

Each test walks the page as a user on a phone would. ``shot(page, name)`` saves the step's
screenshot (phone viewport) under ``CARRIER_AUTH_H5_SCREENSHOTS`` (``make h5-screenshots``:
``docs/h5``) or a temporary directory.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from local.stack import EmbeddedStack

from ..leaks import found_in, stack_sources

CHROMIUM = os.environ.get("CARRIER_AUTH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
ID_NUMBER = "11010519491231002X"
NAME = "张三"
RETURN_HOST = "http://127.0.0.1:9"  # never reached: the tests answer it in the browser
RESEND_INTERVAL = 4


def pytest_collection_modifyitems(items: list) -> None:
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason=f"no browser at {CHROMIUM}: run `make browser` (chromium, fonts-noto-cjk)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def log_capture() -> io.StringIO:
    return io.StringIO()


@pytest.fixture(scope="session")
def stack(log_capture: io.StringIO) -> EmbeddedStack:
    s = EmbeddedStack(
        api_port=0,
        moto_port=0,
        poll_interval=0,
        input_timeout=300,
        parameters={"ResendIntervalSeconds": str(RESEND_INTERVAL)},
        log_stream=log_capture,
    )
    s.start()
    s.app_secrets = {ID_NUMBER}
    yield s
    s.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Journey:
    """One user's page: the link the app asked for, the browser tab, what the user typed."""

    def __init__(self, stack: EmbeddedStack, browser: Any, shots: Path, viewport: dict | None = None) -> None:
        self.stack = stack
        phone = viewport is None or viewport["width"] < 600
        self.context = browser.new_context(
            viewport=viewport or PHONE,
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            locale="zh-CN",
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        # script errors, console errors (a CSP violation is one) and 5xx answers; a 4xx the page
        # expects (a used link) is logged by chromium as "Failed to load resource": not one
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("response", lambda r: r.status >= 500 and self.problems.append(f"{r.status} {r.url}"))
        # the app's return page: answered in the browser, the URL is what the test reads
        self.page.route(f"{RETURN_HOST}/**", lambda route: route.fulfill(status=200, body="returned", content_type="text/plain"))
        self.shots = shots
        self.link: dict[str, Any] = {}
        self.secrets = stack.app_secrets

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def create_link(self, **body: Any) -> requests.Response:
        payload = {
            "userId": f"user-{uuid.uuid4().hex[:8]}",
            "callback_set": {"callback_url": self.stack.receiver.url, "token": f"cbtok-{uuid.uuid4().hex}"},
            "return_url": f"{RETURN_HOST}/return?from=h5",
            **body,
        }
        self.secrets.add(payload["callback_set"]["token"])
        return requests.post(
            f"{self.stack.api_url}/carrier/auth/h5", json=payload, headers={"x-api-key": self.stack.api_key}, timeout=30
        )

    def open(self, **body: Any) -> Journey:
        resp = self.create_link(**body)
        assert resp.status_code == 200, resp.text
        self.link = resp.json()["data"]
        self.secrets.add(self.link["h5_url"].split("#t=")[1])
        self.page.goto(self.link["h5_url"])
        return self

    @property
    def task_id(self) -> str:
        return self.link["task_id"]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def accept(self) -> None:
        self.page.get_by_label("我已阅读并同意").check()
        self.page.get_by_role("button", name="同意并继续").click()

    def fill_form(self, mobile: str | None, password: str | None = None, name: str = NAME, id_number: str = ID_NUMBER) -> str:
        password = password or f"Pw{uuid.uuid4().hex[:8]}"
        self.secrets.add(password)
        page = self.page
        page.get_by_label("姓名").fill(name)
        page.get_by_label("身份证号").fill(id_number)
        if mobile is not None:
            page.get_by_label("手机号").fill(mobile)
        page.get_by_label("服务密码", exact=True).fill(password)
        return password

    def submit_form(self) -> None:
        self.page.get_by_role("button", name="下一步").click()

    def start(self, mobile: str, **kw: Any) -> str:
        self.accept()
        password = self.fill_form(mobile, **kw)
        self.submit_form()
        return password

    def sms(self, code: str) -> None:
        if len(code) >= 6:  # short captcha texts would match inside ids: the scan takes SMS codes
            self.secrets.add(code)
        self.page.get_by_label("短信验证码").fill(code)
        self.page.locator("#sms-submit").click()

    def screen(self, name: str, timeout: float = 30_000) -> Any:
        """Wait until screen ``#name`` is the one shown."""
        locator = self.page.locator(f"#{name}")
        locator.wait_for(state="visible", timeout=timeout)
        return locator

    def session(self) -> dict:
        return self.stack.table().get_item(Key={"task_id": self.task_id}, ConsistentRead=True)["Item"]

    def wait_session(self, predicate: Any, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while not predicate(item := self.session()):
            assert time.monotonic() < deadline, f"session never matched: {item.get('status')}"
            time.sleep(0.05)
        return item

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    configured = os.environ.get("CARRIER_AUTH_H5_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("h5-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def journey(stack, browser, shots):
    j = Journey(stack, browser, shots)
    yield j
    j.close()
    assert not j.problems, j.problems  # no CSP violation, no script error, no failed request


@pytest.fixture
def new_journey(stack, browser, shots):
    """More users (or the same user on another device) in the same test."""
    made: list[Journey] = []

    def make(**kw: Any) -> Journey:
        made.append(Journey(stack, browser, shots, **kw))
        return made[-1]

    yield make
    for j in made:
        j.close()


@pytest.fixture(scope="session", autouse=True)
def no_plaintext_secrets(stack, log_capture):
    """At the end of the session (a fixture, not a file that sorts last): nothing the stack
    stored or printed holds a password, code, link token, callback token or full id number
    typed into or given to the page."""
    yield
    assert found_in(stack_sources(stack, log_capture), stack.app_secrets) == {}
