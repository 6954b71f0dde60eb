"""The hosted H5 page, walked in headless chromium at a phone viewport (docs/h5.md)."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import requests

from .conftest import RESEND_INTERVAL, Journey


def returned_to(j: Journey) -> dict[str, list[str]]:
    """Tap 返回应用; the app's return_url opens with the task and its outcome."""
    j.page.locator("#return").click()
    j.page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:9/return\?"))
    return parse_qs(urlsplit(j.page.url).query)


def test_happy_path_to_success_and_back_to_the_app(journey: Journey, stack) -> None:
    j = journey.open()
    page = j.page
    j.screen("consent")
    assert "示例借款" in page.locator("#consent").inner_text()  # who receives the data
    assert page.locator("#agreement-version").inner_text().strip()
    j.shot("01-consent")
    j.accept()
    j.screen("form")
    password = j.fill_form("13800138000")
    page.locator("#number-info").filter(has_text="中国移动").wait_for()  # carrier and region as typed
    # show / hide the service password
    field = page.get_by_label("服务密码", exact=True)
    assert field.get_attribute("type") == "password"
    page.locator("#password-toggle").click()
    assert field.get_attribute("type") == "text"
    j.shot("02-form")
    page.locator("#password-toggle").click()
    assert field.get_attribute("type") == "password"
    j.submit_form()
    j.screen("sms")
    assert page.get_by_label("短信验证码").input_value() == ""
    j.shot("03-sms")
    j.sms("123456")
    done = j.screen("done")
    assert "授权完成" in done.inner_text()
    j.shot("05-success")
    # the callback reached the app, and the session records the consent
    item = j.wait_session(lambda i: i["status"] == "SUCCESS")
    assert item["consent"]["version"] and int(item["consent"]["at"]) > 0
    delivery = stack.receiver.wait_for(j.task_id)
    assert delivery is not None, "no callback"
    # nothing of the user's in the browser's storage, the password is not in the page
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""  # the page's cookie is HttpOnly
    assert password not in page.content()
    assert returned_to(j) == {"from": ["h5"], "task_id": [j.task_id], "result": ["SUCCESS"]}


def test_the_link_token_leaves_the_address_bar_and_a_reload_continues(journey: Journey) -> None:
    j = journey.open()
    j.screen("consent")
    assert "#" not in j.page.url and "t=" not in j.page.url
    j.start("13800138000")
    j.screen("sms")
    j.page.reload()  # the cookie continues the session: same step, same task
    j.screen("sms")
    j.sms("123456")
    j.screen("done")


def test_wrong_code_then_right_code(journey: Journey) -> None:
    j = journey.open()
    j.start("13800138000")
    j.screen("sms")
    j.sms("111111")
    message = j.page.locator("#message")
    message.filter(has_text="短信验证码错误").wait_for()
    j.shot("04-wrong-code")
    assert j.page.locator("#sms").is_visible()
    j.sms("123456")
    assert "授权完成" in j.screen("done").inner_text()


def test_resend_countdown_follows_the_resend_limits(journey: Journey) -> None:
    j = journey.open()
    j.start("13800138000")
    j.screen("sms")
    resend = j.page.locator("#resend")
    assert resend.is_disabled()
    assert re.search(r"\d+\s*s", resend.inner_text())  # 重新发送（Ns）
    j.shot("03-sms-countdown")
    # enabled once the interval has passed (the countdown reaches zero)
    j.page.wait_for_function("() => !document.querySelector('#resend').disabled", timeout=(RESEND_INTERVAL + 5) * 1000)
    resend.click()
    j.wait_session(lambda i: int(i.get("resends", 0)) == 1 and i["status"] == "WAITING_INPUT")
    # a new code, a new countdown
    j.page.wait_for_function(r"() => /\d+\s*s/.test(document.querySelector('#resend').textContent)")
    assert resend.is_disabled()
    j.sms("123456")
    j.screen("done")


def test_image_captcha_with_refresh(journey: Journey, stack) -> None:
    with stack.function_env(CARRIER_PROVIDER="moxie", CARRIER_PROVIDER_FALLBACK="juxinli"):
        j = journey.open(mobile_no="13800138014")  # prefilled: shown masked, fixed
        j.accept()
        assert "138****8014" in j.page.locator("#form").inner_text()
        j.fill_form(None)
        j.submit_form()
        j.screen("image")
        image = j.page.locator("#captcha-img")
        j.page.wait_for_function("() => document.querySelector('#captcha-img').naturalWidth > 0")
        first = image.get_attribute("src")
        assert first.startswith("data:image/")
        j.shot("06-captcha")
        j.page.locator("#captcha-refresh").click()
        j.page.wait_for_function(f"() => document.querySelector('#captcha-img').src !== {first!r}")
        j.page.get_by_label("图片验证码").fill("ab12")
        j.page.locator("#captcha-submit").click()
        j.screen("sms")
        j.sms("123456")
        assert "授权完成" in j.screen("done").inner_text()


def test_identity_mismatch_ends_with_its_message_and_next_action(journey: Journey) -> None:
    j = journey.open()
    j.start("13800138001")
    done = j.screen("done")
    assert "证件号或用户名不正确" in done.inner_text()
    assert j.page.locator("#done-next-action").inner_text().strip()
    j.shot("07-identity-mismatch")
    assert returned_to(j) == {"from": ["h5"], "task_id": [j.task_id], "result": ["FAILED"], "guide_code": ["90026"]}


def test_wrong_service_password(journey: Journey) -> None:
    j = journey.open()
    j.start("13800138002")
    done = j.screen("done")
    assert "服务密码错误" in done.inner_text()
    assert "重新发起授权" in j.page.locator("#done-next-action").inner_text()
    j.shot("08-wrong-password")


def test_bad_input_stays_on_the_form_and_names_the_field(journey: Journey) -> None:
    j = journey.open()
    j.accept()
    j.fill_form("13800138000", id_number="110105194912310021")  # bad check digit
    j.submit_form()
    error = j.page.locator("#identity_card-error")
    error.filter(has_text="身份证号码").wait_for()
    assert j.page.get_by_label("身份证号").get_attribute("aria-invalid") == "true"
    assert j.session()["status"] == "AWAITING_USER"  # nothing started: the user corrects it
    j.page.get_by_label("身份证号").fill("11010519491231002X")
    j.page.get_by_label("服务密码", exact=True).fill("Pw-second-try")
    j.secrets.add("Pw-second-try")
    j.submit_form()
    j.screen("sms")


def test_input_timeout(journey: Journey, stack) -> None:
    with stack.function_env(INPUT_TIMEOUT_SECONDS="2"):
        j = journey.open()
        j.start("13800138000")
        j.screen("sms")  # the start has read the setting: the task waits at most 2 s for a code
    j.wait_session(lambda i: i["status"] == "TIMED_OUT")
    j.sms("123456")
    done = j.screen("done")
    assert "等待用户输入验证码超时" in done.inner_text()
    j.shot("09-input-timeout")


def test_a_used_link_shows_a_clear_page(journey: Journey, new_journey) -> None:
    j = journey.open()
    j.screen("consent")
    other = new_journey()  # another browser (or a forwarded link) opening the same URL
    other.page.goto(j.link["h5_url"])
    error = other.screen("link-error")
    assert "已使用" in error.inner_text()
    other.shot("10-link-used")
    assert not other.problems


def test_an_expired_link_shows_a_clear_page(stack, new_journey) -> None:
    j = new_journey()
    with stack.function_env(H5_LINK_TTL_SECONDS="1"):
        resp = j.create_link()
    link = resp.json()["data"]
    while time.time() * 1000 <= int(link["expires_at"]) + 1000:
        time.sleep(0.05)  # waiting for the clock itself: the link's documented expiry
    j.page.goto(link["h5_url"])
    assert "已过期" in j.screen("link-error").inner_text()


def test_security_headers(stack, journey: Journey) -> None:
    j = journey.open()
    j.screen("consent")
    page_url = j.link["h5_url"].split("#")[0]
    resp = requests.get(page_url, timeout=10)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    # no inline script or style in the page, nothing from another origin
    html = resp.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html) and " style=" not in html and "<style" not in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    sizes = [len(resp.content)] + [len(requests.get(f"{stack.api_url}{u}", timeout=10).content)
                                    for u in re.findall(r'(?:src|href)="(/[^"]+)"', html)]
    assert sum(sizes) <= 100 * 1024, sizes


def test_accessibility_labels_keyboard_tap_targets_and_zoom(stack, browser, shots, new_journey) -> None:
    j = new_journey()
    j.open()
    page = j.page
    # keyboard only: tick the agreement and continue
    j.screen("consent")
    page.locator("#consent-check").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    j.screen("form")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
             .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
             .map(e => e.id)"""
    )
    assert unlabelled == []
    small = page.evaluate(
        """() => [...document.querySelectorAll('button, input, a, label:has(input[type=checkbox])')]
             .filter(e => e.offsetParent !== null && e.type !== 'checkbox')
             .map(e => [e.id || e.textContent.trim(), e.getBoundingClientRect().height])
             .filter(([_, h]) => h < 44)"""
    )
    assert small == []
    # the form by keyboard: type into each field, Enter submits
    page.get_by_label("姓名").focus()
    page.keyboard.type("张三")
    page.keyboard.press("Tab")
    page.keyboard.type("11010519491231002X")
    page.keyboard.press("Tab")
    page.keyboard.type("13800138000")
    page.get_by_label("服务密码", exact=True).focus()
    page.keyboard.type("Pw-keyboard-1")
    j.secrets.add("Pw-keyboard-1")
    page.keyboard.press("Enter")
    j.screen("sms")
    # readable at 200 %: half the CSS width, nothing wider than the viewport
    page.set_viewport_size({"width": 180, "height": 370})
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    j.shot("11-zoom-200")
    page.get_by_label("短信验证码").focus()
    page.keyboard.type("123456")
    page.keyboard.press("Enter")
    j.screen("done")
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert not j.problems, j.problems


def test_query_password_step(journey: Journey) -> None:
    j = journey.open()
    j.start("13800138008")  # Juxinli 10022: the carrier also wants the query password (654321)
    j.screen("query")
    j.page.get_by_label("查询密码").fill("000000")
    j.page.locator("#query-submit").click()
    j.page.locator("#message").filter(has_text="查询密码错误").wait_for()
    j.secrets.add("654321")
    j.page.get_by_label("查询密码").fill("654321")
    j.page.locator("#query-submit").click()
    j.screen("sms")
    j.sms("123456")
    assert "授权完成" in j.screen("done").inner_text()


def test_a_desktop_browser_gets_the_same_page(new_journey) -> None:
    j = new_journey(viewport={"width": 1280, "height": 800})
    j.open()
    j.start("13800138000")
    j.screen("sms")
    card = j.page.locator("#sms").bounding_box()
    assert card["width"] <= 720  # a readable column, not stretched across the screen
    j.shot("12-desktop")
    j.sms("123456")
    j.screen("done")
    assert not j.problems, j.problems
