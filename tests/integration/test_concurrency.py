"""The parked task token is claimed once; exact replays answer the first answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def _entered(api, task_id: str, state: str) -> int:
    return sum(
        1 for e in api.history(task_id)
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == state
    )


def test_concurrent_submits_with_different_bodies_signal_the_machine_once(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    bodies = [api.task_body(body, first, auth_code="123456", submitTime=1000 + i) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda b: api.post("/carrier/auth/code", b), bodies))
    # one claims the token and gets 105; the others are refused (409) - or, when they arrive after
    # the task has already finished collecting, answered with its final state (200, 105)
    assert {r.status_code for r in answers} <= {200, 409}, [r.text for r in answers]
    assert any(r.status_code == 409 for r in answers)
    for r in answers:
        out = r.json()
        if r.status_code == 200:
            assert out["code"] == "105"
        else:
            assert out["code"] == "103" and "traceId" in out["message"]
    api.wait_execution_done(task_id)
    assert _entered(api, task_id, "CarrierSubmit") == 1  # the machine was signalled once


def test_exact_replay_returns_the_first_answer_and_signals_once(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    payload = api.task_body(body, first, auth_code="000000")
    api.secrets.add("000000")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = [r.json() for r in pool.map(lambda _: api.post("/carrier/auth/code", payload), range(4))]
    later = api.post("/carrier/auth/code", payload).json()
    assert all(a == answers[0] for a in answers[1:] + [later])
    assert answers[0]["data"]["guide_code"] == "90007"
    assert _entered(api, task_id, "CarrierSubmit") == 1


def test_stale_trace_id_with_a_different_body_is_refused_clearly(api):
    body, first = api.start("13800138000")
    wrong = api.submit(body, first, code="000000").json()
    assert wrong["data"]["guide_code"] == "90007"
    stale = api.submit(body, first, code="123456")  # first's traceId is spent
    assert stale.status_code == 409
    out = stale.json()
    assert out["code"] == "103" and "traceId" in out["message"]
    assert out["data"]["task_id"] == first["data"]["task_id"]
    assert api.submit(body, wrong).json()["code"] == "105"
