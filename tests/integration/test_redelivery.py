"""POST /carrier/auth/{task_id}/callback: the final callback again, with the same event id."""

from __future__ import annotations

import time

from local.stack import EmbeddedStack

from .conftest import Api


def _deliveries(stack: EmbeddedStack, task_id: str) -> list[dict]:
    return [r for r in stack.receiver.received if r["body"].get("task_id") == task_id]


def _wait_deliveries(stack: EmbeddedStack, task_id: str, count: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(done := [r for r in _deliveries(stack, task_id) if r["answered"] == 200]) < count:
        assert time.monotonic() < deadline, f"{len(done)} of {count} deliveries"
        time.sleep(0.05)
    return done


def test_redelivery_sends_the_same_event_again(api: Api, stack: EmbeddedStack) -> None:
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    assert api.submit(body, first).json()["code"] == "105"
    original = _wait_deliveries(stack, task_id, 1)[0]

    resp = api.post(f"/carrier/auth/{task_id}/callback", "")
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["code"] == "105"
    assert answer["data"] == {"task_id": task_id, "event_id": original["body"]["event_id"]}

    again = _wait_deliveries(stack, task_id, 2)[1]
    assert again["signature_valid"]
    assert again["body"] == original["body"]  # the same event: the app dedupes on its id
    assert again["headers"]["webhook-id"] == original["headers"]["webhook-id"] == original["body"]["event_id"]
    assert api.session(task_id).get("callback_redelivered_at")


def test_redelivery_before_the_task_finished_is_409(api: Api, stack: EmbeddedStack) -> None:
    _body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    resp = api.post(f"/carrier/auth/{task_id}/callback", "")
    assert resp.status_code == 409, resp.text
    answer = resp.json()
    assert answer["code"] == "103"
    assert answer["data"]["task_id"] == task_id
    assert answer["data"]["guide_code"] == first["data"]["guide_code"]  # where the task stands
    assert _deliveries(stack, task_id) == []


def test_a_task_ended_by_an_interactive_failure_has_no_callback(api: Api, stack: EmbeddedStack) -> None:
    _body, first = api.start("13800138001")  # identity mismatch: 90026, no callback ever
    task_id = first["data"]["task_id"]
    assert first["data"]["guide_code"] == "90026"
    assert api.post(f"/carrier/auth/{task_id}/callback", "").status_code == 409


def test_redelivery_of_another_tenants_or_an_unknown_task_is_404(api: Api, stack: EmbeddedStack) -> None:
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    assert api.submit(body, first).json()["code"] == "105"
    other = Api(stack, api_key=stack.tenants[1].api_key)
    assert other.post(f"/carrier/auth/{task_id}/callback", "").status_code == 404
    assert api.post("/carrier/auth/00000000-0000-0000-0000-000000000000/callback", "").status_code == 404
    assert api.post("/carrier/auth/" + "x" * 300 + "/callback", "").status_code == 404


def test_redelivery_needs_the_api_key(stack: EmbeddedStack) -> None:
    import requests

    resp = requests.post(f"{stack.api_url}/carrier/auth/some-task/callback", timeout=10)
    assert resp.status_code == 403
    assert resp.json()["code"] == "103"
