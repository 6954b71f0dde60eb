"""The on-call tools (``python -m ops``) and the local funnel against the embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from local.stack import EmbeddedStack
from local.template import ROOT
from ops import NotFound, NothingToDo, callbacks, cli, resources, tasks

from ..leaks import leaks
from .conftest import ID_NUMBER, SMS_CODE, Api


def _ops(stack: EmbeddedStack, *argv: str) -> subprocess.CompletedProcess:
    """``python -m ops ...`` in its own process, pointed at the suite's stack."""
    env = {**os.environ, "CARRIER_AUTH_MOTO_URL": stack.moto_url, "CARRIER_AUTH_API_URL": stack.api_url}
    return subprocess.run([sys.executable, "-m", "ops", *argv], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def _deliveries(stack: EmbeddedStack, task_id: str) -> list[dict]:
    return [r for r in stack.receiver.received if r["body"].get("task_id") == task_id and r["answered"] == 200]


def _wait(predicate, what: str, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return result


@pytest.fixture(scope="module")
def res(stack: EmbeddedStack) -> resources.Resources:
    return resources.local(stack.moto_url)


@pytest.fixture(scope="module")
def happy(api: Api, stack: EmbeddedStack) -> tuple[str, dict]:
    """A task that succeeded and whose callback was delivered: (task id, its start body)."""
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    assert api.submit(body, first).json()["code"] == "105"
    assert stack.receiver.wait_for(task_id, timeout=30) is not None
    api.wait_session(task_id, lambda s: s.get("callback_status") == "DELIVERED")
    return task_id, body


def _secrets(body: dict) -> set[str]:
    return {body["password"], body["callback_set"]["token"], SMS_CODE, ID_NUMBER}


def test_show_a_finished_task(res, happy, stack):
    task_id, body = happy
    report = tasks.show(res, task_id)
    assert report["session"]["status"] == "SUCCESS"
    assert not [k for k in report["session"] if k.endswith(("_enc", "_hash")) or k == "task_token"]
    execution = report["execution"]
    assert execution["status"] == "SUCCEEDED"
    states = [s["state"] for s in execution["history"]["states"]]
    assert states[0] == "Begin" and "Collect" in states and states[-1] == "Finish"
    assert all(s["entered"] and s["exited"] for s in execution["history"]["states"])
    assert execution["history"]["failures"] == []
    callback = report["callback"]
    assert (callback["status"], callback["http_status"]) == ("DELIVERED", 200)
    assert callback["published_at"] and callback["event_id"]
    assert callback["dead_letter_queue"]["holds_task"] is False
    assert callback["queue"]["holds_task"] in (False, None)  # never peeked: at most "not checked"
    text = cli.render_show(report)
    assert "SUCCESS" in text and "DELIVERED (HTTP 200)" in text and "Finish" in text

    # the same from the command line, as an operator runs it
    done = _ops(stack, "show", task_id, "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["session"]["status"] == "SUCCESS"
    assert printed["execution"]["history"]["states"] == execution["history"]["states"]
    assert printed["callback"]["status"] == "DELIVERED"
    assert "input" not in printed["execution"] and "output" not in printed["execution"]
    for output in (done.stdout, text, json.dumps(report, ensure_ascii=False, default=str)):
        assert leaks(output, _secrets(body)) == []


def test_show_an_unknown_task_says_so(res, stack):
    with pytest.raises(NotFound, match="unknown task"):
        tasks.show(res, f"no-such-{uuid.uuid4()}")
    done = _ops(stack, "show", "no-such-task")
    assert done.returncode == 1
    assert done.stderr.startswith("ops show: unknown task no-such-task") and "Traceback" not in done.stderr
    usage = _ops(stack, "show", "not a task id")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_no_stack_is_a_clear_error(stack):
    done = _ops(stack, "stuck", "--moto-url", "http://127.0.0.1:9")
    assert done.returncode == 1
    assert "no embedded stack answers at http://127.0.0.1:9" in done.stderr and "Traceback" not in done.stderr


def test_a_waiting_task_is_stuck_and_can_be_aborted(api, res, stack):
    body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    assert first["code"] == "104"  # waiting for the SMS code
    rows = {r["task_id"]: r for r in tasks.stuck(res, hours=1, stale_minutes=0)}
    assert rows[task_id]["status"] == "WAITING_INPUT"
    assert "without progress" in rows[task_id]["reasons"][0]
    assert task_id not in {r["task_id"] for r in tasks.stuck(res, hours=1, stale_minutes=30)}

    report = tasks.abort(res, task_id, reason="stuck in test")
    assert report["session_before"] == "WAITING_INPUT" and report["session_after"] == "ERROR"
    assert report["execution_stopped"] is True
    assert _wait(lambda: api.execution(task_id)["status"] == "ABORTED", "execution aborted")
    session = api.session(task_id)
    assert session["status"] == "ERROR" and session["answer"]["code"] == "103"
    assert session["error"] == tasks.OPERATOR_ABORTED and "task_token" not in session
    assert api.status(task_id).json()["code"] == "103"  # the app sees the end
    history = tasks.show(res, task_id)["execution"]["history"]
    assert history["failures"][-1]["event"] == "ExecutionAborted"

    after = {r["task_id"]: r for r in tasks.stuck(res, hours=1, stale_minutes=0)}
    assert after[task_id]["status"] == "ERROR" and after[task_id]["execution"] == "ABORTED"

    with pytest.raises(NothingToDo):
        tasks.abort(res, task_id)
    again = _ops(stack, "abort", task_id)
    assert again.returncode == 1 and "nothing to do" in again.stderr
    assert leaks(json.dumps(report) + again.stdout + again.stderr, _secrets(body)) == []


def test_a_collecting_task_is_aborted_with_a_defeat_callback(api, res, stack):
    """After 105 the app waits for a callback: an aborted collection ends DEFEAT and says so."""
    with stack.registry.get("CollectFunction").fail_invocations({}):  # the collection makes no progress
        body, first = api.start("13800138000")
        task_id = first["data"]["task_id"]
        assert api.submit(body, first).json()["code"] == "105"
        assert api.session(task_id)["status"] == "COLLECTING"
        report = tasks.abort(res, task_id, reason="collection stuck")
    try:
        assert (report["session_before"], report["session_after"]) == ("COLLECTING", "DEFEAT")
        assert report["execution_stopped"] is True
        delivered = stack.receiver.wait_for(task_id, timeout=30)
        assert delivered is not None and delivered["body"]["error_code"] == "DEFEAT"
        # the receiver answers before the callback function records it: wait for the record
        api.wait_session(task_id, lambda s: s.get("callback_status") == "DELIVERED")
    finally:
        # the failed poll's message would come back minutes later, in another test
        stack.client("sqs").purge_queue(QueueUrl=stack.queues["CollectQueue"])


def test_stuck_from_the_command_line(api, stack):
    _body, first = api.start("13800138000")
    task_id = first["data"]["task_id"]
    try:
        done = _ops(stack, "stuck", "--hours", "1", "--stale-minutes", "0")
        assert done.returncode == 0, done.stderr
        assert task_id in done.stdout and "WAITING_INPUT" in done.stdout and "REASON" in done.stdout
        as_json = _ops(stack, "stuck", "--hours", "1", "--stale-minutes", "0", "--json")
        assert task_id in {r["task_id"] for r in json.loads(as_json.stdout)}
    finally:
        assert cli.main(["abort", task_id, "--moto-url", stack.moto_url, "--reason", "test cleanup"]) == 0


def _finished_event(api: Api, task_id: str) -> str:
    """The CarrierAuthFinished event the callback queue got for ``task_id``, as EventBridge wrote it."""
    session = api.session(task_id)
    detail = {"task_id": task_id, "event_id": session["event_id"], "result": session["status"],
              "error_message": session["result_message"], "finished_at": session["finished_at"]}
    return json.dumps({"version": "0", "id": str(uuid.uuid4()), "detail-type": "CarrierAuthFinished",
                       "source": "carrier-auth.gateway", "account": "123456789012", "time": session["finished_at"],
                       "region": "us-east-1", "resources": [], "detail": detail}, ensure_ascii=False)


def test_redrive_moves_the_dead_letter_queue_back(api, res, stack, happy):
    task_id, _body = happy
    sqs = stack.client("sqs")
    dlq = stack.queues["CallbackDeadLetterQueue"]
    with pytest.raises(NothingToDo, match="empty"):
        callbacks.redrive(res)
    before = len(_deliveries(stack, task_id))
    sqs.send_message(QueueUrl=dlq, MessageBody=_finished_event(api, task_id))
    try:
        assert tasks.show(res, task_id)["callback"]["dead_letter_queue"]["holds_task"] is True
        dry = _ops(stack, "redrive-callbacks", "--dry-run")
        assert dry.returncode == 0 and "would move about 1 message" in dry.stdout, dry.stderr
        report = callbacks.redrive(res)
    except BaseException:
        sqs.purge_queue(QueueUrl=dlq)  # no message left for the rest of the suite
        raise
    assert (report["moved"], report["failed"]) == (1, [])
    delivered = _wait(lambda: len(_deliveries(stack, task_id)) > before, "the redriven callback delivered")
    assert delivered
    again = _deliveries(stack, task_id)[-1]
    assert again["signature_valid"] and again["body"]["event_id"] == _deliveries(stack, task_id)[0]["body"]["event_id"]
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) == 0
    empty = _ops(stack, "redrive-callbacks")
    assert empty.returncode == 1 and "nothing to redrive" in empty.stderr


def test_the_local_funnel(happy, stack):
    def report():
        answer = requests.get(stack.api_url + "/_local/funnel", timeout=10)  # no API key
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
        return answer.json()

    figures = _wait(lambda: (r := report())["funnel"]["succeeded"] >= 1 and r, "a success in the funnel")
    assert figures["funnel"]["started"] >= 1
    assert set(figures) >= {"funnel", "by_carrier", "by_province", "guide_codes", "upstream"}
    assert any(row["succeeded"] >= 1 for row in figures["by_carrier"].values())
    assert requests.get(stack.api_url + "/v1/_local/funnel", timeout=10).json()["funnel"]["started"] >= 1

    for page in (requests.get(stack.api_url + "/_local/funnel?format=html", timeout=10),
                 requests.get(stack.api_url + "/_local/funnel", headers={"Accept": "text/html"}, timeout=10)):
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "<caption>Funnel</caption>" in page.text and "<script" not in page.text.lower()
    # local only and read only: nothing else is served there
    assert requests.post(stack.api_url + "/_local/funnel", timeout=10).status_code in (403, 404)

    printed = _ops(stack, "funnel")
    assert printed.returncode == 0, printed.stderr
    assert "Funnel" in printed.stdout and "succeeded" in printed.stdout
    assert _ops(stack, "funnel", "--stack", "prod").returncode == 2


def _cfn_template(stack: EmbeddedStack, name: str) -> dict:
    """A stack with the gateway's queues as resources and, like template.yaml's Outputs, the
    table and state machine as outputs - here the suite's own (moto's CloudFormation creates
    state machines where its Step Functions interpreter does not look)."""
    return {
        "Resources": {
            "CallbackQueue": {"Type": "AWS::SQS::Queue"},
            "CallbackDeadLetterQueue": {"Type": "AWS::SQS::Queue"},
            "EventBus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": f"{name}-bus"}},
        },
        "Outputs": {
            "SessionsTableName": {"Value": stack.tables["SessionsTable"]},
            "StateMachineArn": {"Value": stack.state_machine_arn},
            "EventBusName": {"Value": f"{name}-bus"},  # moto gives an event bus no physical id
        },
    }


def test_a_deployed_stack_is_found_by_its_logical_ids_and_outputs(stack, happy):
    """--stack NAME: CloudFormation's physical ids and outputs (moto's CloudFormation, reached
    through the suite's AWS_ENDPOINT_URL and test credentials)."""
    task_id, body = happy
    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    cfn = stack.client("cloudformation")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(_cfn_template(stack, name)))
    try:
        res = resources.deployed(name, region="us-east-1")
        assert res.where == f"stack {name} (us-east-1)"
        assert (res.sessions_table, res.state_machine_arn) == (stack.tables["SessionsTable"], stack.state_machine_arn)
        assert "CallbackQueue" in res.callback_queue_url and "CallbackDeadLetterQueue" in res.callback_dlq_url
        assert res.event_bus_name == f"{name}-bus"
        assert tasks.show(res, task_id)["session"]["status"] == "SUCCESS"
        done = _ops(stack, "show", task_id, "--stack", name, "--region", "us-east-1", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["where"] == f"stack {name} (us-east-1)"
        assert leaks(done.stdout, _secrets(body)) == []
        with pytest.raises(NothingToDo):
            callbacks.redrive(res)
    finally:
        cfn.delete_stack(StackName=name)
    with pytest.raises(NotFound, match="no stack"):
        resources.deployed(f"missing-{uuid.uuid4().hex[:8]}", region="us-east-1")
    missing = _ops(stack, "stuck", "--stack", "no-such-stack", "--region", "us-east-1")
    assert missing.returncode == 1 and "no stack no-such-stack in us-east-1" in missing.stderr
