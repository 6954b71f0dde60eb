"""The plaintext-secret scan (the ``no_plaintext_secrets`` session fixture in conftest.py runs it
after the whole suite, in whatever order the tests ran) can see a leak."""

from __future__ import annotations

from ..leaks import leaks


def test_the_scan_would_see_a_leak(api, stack, log_capture):
    """Guard against a scan that cannot fail: plant a secret where the scan looks."""
    import logging

    planted = "Pw-planted-secret-0001"
    logging.getLogger("carrier_auth.test").info("oops %s", planted)
    assert leaks(log_capture.getvalue(), {planted}) == [planted]
    assert leaks("task 1795404039123456 id a123456b", {"123456"}) == []
    assert leaks('{"auth_code":"123456"}', {"123456"}) == ["123456"]
    assert leaks("request 5f3ab12c-77", {"ab12"}) == []
    assert leaks('{"input": "ab12"}', {"ab12"}) == ["ab12"]
    assert leaks("GET /x?code=ab12&y", {"ab12"}) == ["ab12"]
    assert leaks("token 5caaeb81-ab12-4f00 cipher Q9/ab12+x==", {"ab12"}) == []
