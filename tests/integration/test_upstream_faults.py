"""Upstream faults through the local API, the real ASL and the sandbox providers: a code the
provider accepted is a 105 however late its answer, a state-changing call is never sent twice,
and an answer that is not the protocol is an unavailable provider (failover at login, 90035 at
an input, a counted poll at collection). The stack runs with UpstreamTimeoutSeconds 2; the
sandbox answers 13800138029's accepted code 1.5 s after that (docs/upstream-calls.md)."""

from __future__ import annotations

import pytest

JUXINLI = "/juxinli"
APPLICATION = "/juxinli/orgApi/rest/v2/applications/SANDBOX"
COLLECT = "/juxinli/orgApi/rest/v2/messages/collect/req"
JOB_STATUS = "/juxinli/api/v2/job/access_jobs_status_by_token"
MOXIE_TASKS = "/moxie/carrier/v3/tasks"

HTML_PAGE = ("<html><body>系统维护中</body></html>", "text/html")
TRUNCATED_JSON = ('{"success": true, "data": {"type": "CONT', "application/json")


@pytest.fixture
def moxie(stack):
    """Moxie as the primary carrier provider, Juxinli as the fallback."""
    with stack.function_env(CARRIER_PROVIDER="moxie", CARRIER_PROVIDER_FALLBACK="juxinli"):
        yield


def _guide(answer: dict) -> str:
    return answer["data"]["guide_code"]


class Seen:
    """Requests the sandbox received at exactly these paths since this was made."""

    def __init__(self, stack, *paths: str) -> None:
        self._sandbox = stack.sandbox
        self._before = {path: self._sandbox.requests_seen(path, exact=True) for path in paths}

    def __getitem__(self, path: str) -> int:
        return self._sandbox.requests_seen(path, exact=True) - self._before[path]


def _moxie_task(api, task_id: str) -> str:
    return f"{MOXIE_TASKS}/{api.session(task_id)['provider_state']['task_id']}"


# ---------------------------------------------------------------- 13800138029: accepted, answered late
def test_code_accepted_but_answered_late_is_105_with_juxinli(api, stack):
    seen = Seen(stack, APPLICATION, COLLECT)
    body, first = api.start("13800138029")
    assert _guide(first) == "90001"
    task_id = first["data"]["task_id"]

    answer = api.submit(body, first).json()

    assert answer["code"] == "105", answer
    assert api.session(task_id)["upstream"]["code"] == "采集中"  # from the job status: reconciled
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert (seen[APPLICATION], seen[COLLECT]) == (1, 2)  # one login, one code: nothing twice


def test_code_accepted_but_answered_late_is_105_with_moxie(api, stack, moxie):
    creates = Seen(stack, MOXIE_TASKS)
    body, first = api.start("13800138029")
    assert _guide(first) == "90001"
    task_id = first["data"]["task_id"]
    inputs = Seen(stack, f"{_moxie_task(api, task_id)}/input")

    answer = api.submit(body, first).json()

    assert answer["code"] == "105", answer
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert creates[MOXIE_TASKS] == 1
    assert inputs[f"{_moxie_task(api, task_id)}/input"] == 1


# ---------------------------------------------------------------- 13800138030: maintenance page at login
def test_maintenance_page_fails_over_from_juxinli_to_moxie(api, stack):
    seen = Seen(stack, APPLICATION, COLLECT, MOXIE_TASKS)
    body, first = api.start("13800138030")

    assert (first["code"], _guide(first)) == ("104", "90001"), first
    task_id = first["data"]["task_id"]
    item = api.session(task_id)
    assert (item["provider"], item["providers_tried"]) == ("moxie", ["juxinli", "moxie"])
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    # the first login and the ASL's two retries, each a fresh application; one Moxie task
    assert (seen[APPLICATION], seen[COLLECT], seen[MOXIE_TASKS]) == (3, 0, 1)


def test_maintenance_page_fails_over_from_moxie_to_juxinli(api, stack, moxie):
    seen = Seen(stack, APPLICATION, MOXIE_TASKS)
    body, first = api.start("13800138030")

    assert (first["code"], _guide(first)) == ("104", "90001"), first
    task_id = first["data"]["task_id"]
    item = api.session(task_id)
    assert (item["provider"], item["providers_tried"]) == ("juxinli", ["moxie", "juxinli"])
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert (seen[MOXIE_TASKS], seen[APPLICATION]) == (3, 1)


# ---------------------------------------------------------------- not the protocol at an input
@pytest.mark.parametrize("page", [HTML_PAGE, TRUNCATED_JSON], ids=["html", "truncated-json"])
def test_submit_answer_that_is_not_the_protocol_keeps_the_task_waiting(api, stack, page):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    seen = Seen(stack, COLLECT)
    stack.sandbox.respond_next(COLLECT, page[0], content_type=page[1])

    busy = api.submit(body, first).json()

    assert (busy["code"], _guide(busy)) == ("104", "90035"), busy
    assert api.session(task_id)["status"] == "WAITING_INPUT"
    assert api.submit(body, busy).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert seen[COLLECT] == 2  # the answer that was not the protocol, then the code


def test_resend_answer_that_is_not_the_protocol_keeps_the_task_waiting(api, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    seen = Seen(stack, COLLECT)
    stack.sandbox.respond_next(COLLECT, HTML_PAGE[0], content_type=HTML_PAGE[1])

    busy = api.resend(body, first).json()

    assert (busy["code"], _guide(busy)) == ("104", "90035"), busy
    assert api.submit(body, busy).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert seen[COLLECT] == 2  # the resend once, then the code


def test_moxie_input_answer_that_is_not_the_protocol_shows_where_the_task_stands(api, stack, moxie):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    inputs = f"{_moxie_task(api, task_id)}/input"
    seen = Seen(stack, inputs)
    stack.sandbox.respond_next(inputs, HTML_PAGE[0], content_type=HTML_PAGE[1])

    again = api.submit(body, first).json()

    # Moxie's status says where the task stands: still waiting for the SMS code
    assert (again["code"], _guide(again)) == ("104", "90001"), again
    assert api.submit(body, again).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    assert seen[inputs] == 2


# ---------------------------------------------------------------- not the protocol at collection
@pytest.mark.parametrize("page", [HTML_PAGE, TRUNCATED_JSON], ids=["html", "truncated-json"])
def test_poll_answer_that_is_not_the_protocol_is_a_counted_poll(api, stack, page):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    # three polls in a row get no protocol answer: each counts, polling goes on
    stack.sandbox.respond_next(JOB_STATUS, page[0], count=3, content_type=page[1])

    assert api.submit(body, first).json()["code"] == "105"

    assert stack.receiver.wait_for(task_id)["body"]["error_code"] == "SUCCESS"
    item = api.wait_session(task_id, lambda i: i["status"] == "SUCCESS")
    assert item["polls"] == 5  # the three unanswered ones, then RUNNING and done
