"""The embedded stack as a faithful Lambda runtime and API Gateway.

Execution environments are processes that serve one invocation at a time and see only their
function's variables; the template's Timeout kills an invocation; a configuration change
reaches new environments only. Most checks use a probe function (``lambda_probe/``, never
deployed) in its own registry, so production handlers stay untouched; the rest look at the
stack's own functions and its local API gateway.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from local.api_gateway import LocalApiGateway
from local.pollers import SqsPoller
from local.runtime import FunctionError, FunctionRegistry, LocalFunction, LogRelay
from local.template import ROOT

PROBE = Path(__file__).with_name("lambda_probe")
PROBE_TIMEOUT = 2


def _probe_function(**kw) -> LocalFunction:
    return LocalFunction(
        "ProbeFunction", "probe", PROBE, timeout=PROBE_TIMEOUT, memory=128,
        environment={"GREETING": "hello", "PYTHONPATH": str(PROBE)}, relay=LogRelay(io.StringIO()), **kw,
    )


@pytest.fixture(scope="module")
def probe():
    registry = FunctionRegistry()
    registry.add(_probe_function())
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def probe_api(probe):
    gateway = LocalApiGateway(probe, [("POST", "/probe", "ProbeFunction")], {"probe-key": "probekey01"}).start(port=0)
    yield f"http://127.0.0.1:{gateway.port}/probe"
    gateway.stop()


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether the environment ``pid`` ends within ``timeout`` (its fork server reaps it at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _wait_for_files(directory: Path, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(list(directory.iterdir())) < count:
        assert time.monotonic() < deadline, "the invocation never started"
        time.sleep(0.01)


# ---------------------------------------------------------------- execution environments
def test_concurrent_invocations_run_in_their_own_processes_and_state(probe, tmp_path):
    parties = 6
    orders = [{"value": i, "rendezvous": str(tmp_path), "parties": parties} for i in range(parties)]
    with ThreadPoolExecutor(parties) as pool:
        answers = list(pool.map(lambda o: probe.invoke("ProbeFunction", o), orders))
    assert len({a["pid"] for a in answers}) == parties
    assert [a["value"] for a in answers] == list(range(parties))  # module state never shared


def test_a_warm_environment_serves_the_next_invocation(probe):
    first = probe.invoke("ProbeFunction", {"value": "a"})
    second = probe.invoke("ProbeFunction", {"value": "b"})
    assert first["pid"] == second["pid"] and second["value"] == "b"
    assert 0 < second["remaining_ms"] <= PROBE_TIMEOUT * 1000  # the context follows the Timeout


def test_an_invocation_over_the_timeout_is_killed_and_fails_as_in_lambda(probe):
    fn = probe.get("ProbeFunction")
    fn.warm()
    before = set(fn.pids())
    started = time.monotonic()
    payload, error = probe.invoke_payload("ProbeFunction", json.dumps({"run_seconds": 60}))
    elapsed = time.monotonic() - started
    assert error == "Unhandled"  # moto's Step Functions path: a function error
    assert json.loads(payload) == {
        "errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {PROBE_TIMEOUT:.2f} seconds",
        "stackTrace": [],
    }
    assert PROBE_TIMEOUT <= elapsed < PROBE_TIMEOUT + 1
    (killed,) = before - set(fn.pids())
    assert _gone(killed)
    assert probe.invoke("ProbeFunction", {"value": 1})["pid"] != killed  # a new environment takes over


def test_a_crashed_environment_is_an_exit_error_and_is_replaced(probe):
    with pytest.raises(FunctionError) as crash:
        probe.invoke("ProbeFunction", {"exit": 3})
    assert crash.value.error_type == "Runtime.ExitError"
    assert probe.invoke("ProbeFunction", {"value": 2})["value"] == 2


def test_a_handler_exception_is_reported_and_the_environment_stays(probe):
    pid = probe.invoke("ProbeFunction", {})["pid"]
    with pytest.raises(FunctionError) as raised:
        probe.invoke("ProbeFunction", {"raise": "no such thing"})
    assert (raised.value.error_type, raised.value.error_message) == ("ValueError", "no such thing")
    assert probe.invoke("ProbeFunction", {})["pid"] == pid


def test_configuration_changes_reach_new_environments_only(probe, tmp_path):
    fn = probe.get("ProbeFunction")
    busy_order = {"rendezvous": str(tmp_path), "parties": 2}  # the test is the second party
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(probe.invoke, "ProbeFunction", busy_order)
        _wait_for_files(tmp_path, 1)
        with probe.function_env(GREETING="changed"):
            changed = probe.invoke("ProbeFunction", {})
            (tmp_path / "go").touch()
            before = busy.result(timeout=10)
        restored = probe.invoke("ProbeFunction", {})
    assert before["greeting"] == "hello"  # the busy environment finished with its configuration
    assert changed["greeting"] == "changed" and changed["pid"] != before["pid"]
    assert restored["greeting"] == "hello" and restored["pid"] not in (before["pid"], changed["pid"])
    assert before["pid"] not in fn.pids() and _gone(before["pid"])  # discarded after its invocation
    with probe.function_env(GREETING=None):
        assert probe.invoke("ProbeFunction", {})["greeting"] is None



def test_a_variable_no_function_has_is_refused_not_added(probe):
    """Without ``functions=``, a change applies where the template gives the variable (a stack
    parameter update); a name no function has is a mistake, not a new variable."""
    with pytest.raises(KeyError, match="GREETNG"):
        with probe.function_env(GREETNG="typo"):
            pass
    assert "GREETNG" not in probe.get("ProbeFunction").environment

@needs_proc
def test_a_dead_fork_server_is_replaced_without_failing_an_invocation(probe, tmp_path):
    fn = probe.get("ProbeFunction")
    fn.warm()
    fork_server = int(_stat(fn.pids()[0])[1])
    os.kill(fork_server, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _stat(fork_server)[0] != "Z":  # dead; the runtime reaps it when it notices
        assert time.monotonic() < deadline, "the fork server did not die"
        time.sleep(0.01)
    parties = len(fn.pids()) + 1  # more than the warm environments: one must be forked
    orders = [{"rendezvous": str(tmp_path), "parties": parties}] * parties
    with ThreadPoolExecutor(parties) as pool:
        answers = list(pool.map(lambda o: probe.invoke("ProbeFunction", o), orders))
    assert len({a["pid"] for a in answers}) == parties


def test_a_handler_that_does_not_import_fails_warm_up_with_its_error(tmp_path):
    (tmp_path / "app.py").write_text("import no_such_module\n")
    broken = LocalFunction("BrokenFunction", "broken", tmp_path, timeout=2, memory=128,
                           environment={"PYTHONPATH": str(tmp_path)}, relay=LogRelay(io.StringIO()))
    try:
        with pytest.raises(FunctionError) as failed:
            broken.warm()
    finally:
        broken.stop()
    assert failed.value.error_type == "Runtime.ImportModuleError"
    assert "No module named 'no_such_module'" in failed.value.error_message


def test_invocations_beyond_the_cap_wait_for_a_free_environment():
    registry = FunctionRegistry()
    registry.add(_probe_function(max_environments=2))
    try:
        orders = [{"value": i, "run_seconds": 0.2} for i in range(6)]
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda o: registry.invoke("ProbeFunction", o), orders))
    finally:
        registry.stop()
    assert [a["value"] for a in answers] == list(range(6))
    assert len({a["pid"] for a in answers}) <= 2


def test_invocations_and_their_billed_duration_are_metered_as_lambda_bills_them():
    """Every invocation that reached the function counts, failed ones too; each bills its
    duration rounded up to the millisecond, a timed-out one its Timeout."""
    registry = FunctionRegistry()
    registry.add(_probe_function())
    fn = registry.get("ProbeFunction")
    try:
        with ThreadPoolExecutor(4) as pool:  # counted from several threads at once
            list(pool.map(lambda i: registry.invoke("ProbeFunction", {"value": i}), range(8)))
        with pytest.raises(FunctionError):
            registry.invoke("ProbeFunction", {"raise": "boom"})
        with fn.fail_invocations(match={"value": "bad"}), pytest.raises(FunctionError):
            registry.invoke("ProbeFunction", {"value": "bad"})
        before = fn.billed_seconds
        assert registry.invoke_payload("ProbeFunction", json.dumps({"run_seconds": 60}))[1] == "Unhandled"
    finally:
        registry.stop()
    assert fn.invocations == 11
    assert fn.billed_seconds - before == pytest.approx(PROBE_TIMEOUT)  # the timeout, not the minute
    assert 0.011 <= before < 2  # at least 1 ms each
    assert round(fn.billed_seconds * 1000, 6) == round(fn.billed_seconds * 1000)  # whole milliseconds
    assert registry.stats() == {"ProbeFunction": {"invocations": 11, "billed_seconds": fn.billed_seconds}}


@needs_proc
def test_environments_run_below_the_stack_priority_and_their_fork_server_does_not():
    registry = FunctionRegistry()
    registry.add(_probe_function(nice=5))
    try:
        pid = registry.invoke("ProbeFunction", {})["pid"]
        fork_server = int(_stat(pid)[1])
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, ours + 5)
        assert os.getpriority(os.PRIO_PROCESS, fork_server) == ours  # forks promptly under load
    finally:
        registry.stop()


def test_fault_injection_fails_matching_invocations_only(probe):
    fn = probe.get("ProbeFunction")
    with fn.fail_invocations(match={"value": "bad"}, error_type="RuntimeError", message="step unavailable"):
        with pytest.raises(FunctionError) as failed:
            probe.invoke("ProbeFunction", {"value": "bad"})
        assert probe.invoke("ProbeFunction", {"value": "good"})["value"] == "good"
    assert (failed.value.error_type, failed.value.error_message) == ("RuntimeError", "step unavailable")
    assert probe.invoke("ProbeFunction", {"value": "bad"})["value"] == "bad"


def test_the_sqs_poller_returns_a_timed_out_batch_to_the_queue(stack, probe):
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="probe-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = SqsPoller(probe, "ProbeFunction", url, arn, batch_size=1)
    try:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"run_seconds": 60}))
        assert poller.poll_once() == 1
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"value": 1}))
        assert poller.poll_once() == 1
        counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        # the timed-out one is in flight, back after its visibility timeout; the other one is done
        assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    finally:
        sqs.delete_queue(QueueUrl=url)


# ---------------------------------------------------------------- the stack's functions
def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if item)


@needs_proc
def test_each_function_sees_only_its_own_variables(stack):
    assert "SESSIONS_TABLE" not in os.environ  # the stack's own process holds none of them
    seen = {}
    for fn in stack.registry.functions():
        fn.warm()
        seen[fn.logical_id] = variables = _environ(fn.pids()[0])
        assert variables["PYTHONPATH"] == os.pathsep.join([str(fn.code_dir), str(ROOT / "layers" / "common")])
        assert variables["AWS_ENDPOINT_URL"] == stack.moto_url
        assert variables["POWERTOOLS_METRICS_DISABLED"] == "true"
        assert variables.get("SESSIONS_TABLE", stack.tables["SessionsTable"]) == stack.tables["SessionsTable"]
        assert "MOTO_PORT" not in variables and "PYTEST_CURRENT_TEST" not in variables
    assert sorted(name for name, variables in seen.items() if "STATE_MACHINE_ARN" in variables) == [
        "H5PageFunction", "StartFunction"]
    # only the functions that read it (OpenApiFunction does not touch the sessions)
    assert "SESSIONS_TABLE" not in seen["OpenApiFunction"] and "SESSIONS_TABLE" in seen["StatusFunction"]


def test_timeouts_follow_the_template(stack):
    timeouts = {fn.logical_id: fn.timeout for fn in stack.registry.functions()}
    assert (timeouts["StartFunction"], timeouts["LoginFunction"], timeouts["CallbackFunction"]) == (30, 60, 20)


def test_function_output_reaches_the_stack_log_stream(api, log_capture):
    api.start("13800138000")
    deadline = time.monotonic() + 10
    while '"function_name":"LoginFunction"' not in log_capture.getvalue():
        assert time.monotonic() < deadline, "the login step's log lines never arrived"
        time.sleep(0.05)
    assert '"function_name":"StartFunction"' in log_capture.getvalue()


# ---------------------------------------------------------------- moto, as the stack serves it
def _list_tables(conn: http.client.HTTPConnection) -> http.client.HTTPResponse:
    conn.request("POST", "/", body="{}", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.ListTables",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0",
    })
    return conn.getresponse()


def test_the_aws_endpoint_keeps_connections_alive(stack):
    conn = http.client.HTTPConnection("127.0.0.1", stack.moto_port, timeout=10)
    try:
        first = _list_tables(conn)
        assert first.status == 200 and "TableNames" in json.loads(first.read())
        assert first.getheader("Connection") != "close"
        kept = conn.sock
        second = _list_tables(conn)
        assert second.status == 200 and "TableNames" in json.loads(second.read())
        assert conn.sock is kept  # the same connection served both
    finally:
        conn.close()


def test_concurrent_conditional_writes_have_one_winner(stack):
    """DynamoDB applies a condition and its write atomically; so does the local endpoint."""
    ddb = stack.client("dynamodb")
    name = f"atomic-probe-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    claimants = 8

    def claim(key: str, who: int, together: threading.Barrier) -> bool:
        together.wait()
        try:
            ddb.update_item(TableName=name, Key={"k": {"S": key}}, UpdateExpression="SET winner = :me",
                            ConditionExpression="attribute_not_exists(winner)",
                            ExpressionAttributeValues={":me": {"N": str(who)}})
            return True
        except ddb.exceptions.ConditionalCheckFailedException:
            return False

    try:
        with ThreadPoolExecutor(claimants) as pool:
            for key in (f"item-{i}" for i in range(10)):
                together = threading.Barrier(claimants, timeout=30)
                won = list(pool.map(claim, [key] * claimants, range(claimants), [together] * claimants))
                stored = ddb.get_item(TableName=name, Key={"k": {"S": key}}, ConsistentRead=True)["Item"]
                assert sum(won) == 1 and won.index(True) == int(stored["winner"]["N"])
    finally:
        ddb.delete_table(TableName=name)


def test_dynamodb_answers_are_the_ones_moto_would_write(stack, monkeypatch):
    """The item operations' JSON is written directly (moto_patches.fast_dynamodb_responses):
    the same documents as moto's model-driven serializer, for every attribute type."""
    from moto.dynamodb.responses import DynamoResult

    fast = DynamoResult.execute_result
    answers: list[tuple[str, tuple, tuple]] = []

    def both(self, context):  # noqa: ANN001, ANN202
        ours, moto_s = fast(self, context), fast.__wrapped__(self, context)
        answers.append((context.operation_model.name, ours, moto_s))
        return ours

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    ddb = stack.client("dynamodb")
    name = f"answers-probe-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    item = {"k": {"S": "a"}, "n": {"N": "12.50"}, "b": {"B": b"\x00\xffbytes"}, "no": {"BOOL": False},
            "null": {"NULL": True}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"a", b"\x01"]},
            "m": {"M": {"text": {"S": "中文"}, "l": {"L": [{"N": "1"}, {"S": ""}, {"M": {}}]}}}, "empty": {"S": ""}}
    key = {"k": {"S": "a"}}
    try:
        ddb.put_item(TableName=name, Item=item)
        ddb.put_item(TableName=name, Item=item, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
        assert ddb.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"] == item
        ddb.get_item(TableName=name, Key={"k": {"S": "none"}})
        ddb.get_item(TableName=name, Key=key, ProjectionExpression="m.#t, n", ExpressionAttributeNames={"#t": "text"},
                     ReturnConsumedCapacity="INDEXES")
        ddb.update_item(TableName=name, Key=key, UpdateExpression="SET n = n + :one ADD ns :ns",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":ns": {"NS": ["7"]}}, ReturnValues="ALL_NEW")
        ddb.update_item(TableName=name, Key={"k": {"S": "b"}}, UpdateExpression="SET x = :x",
                        ExpressionAttributeValues={":x": {"S": "v"}}, ReturnValues="UPDATED_OLD")
        ddb.query(TableName=name, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}},
                  ReturnConsumedCapacity="TOTAL")
        ddb.scan(TableName=name, Limit=1)
        ddb.scan(TableName=name, Select="COUNT")
        ddb.delete_item(TableName=name, Key=key, ReturnValues="ALL_OLD")
    finally:
        monkeypatch.undo()
        ddb.delete_table(TableName=name)
    operations = {operation for operation, _, _ in answers}
    assert operations >= {"PutItem", "GetItem", "UpdateItem", "Query", "Scan", "DeleteItem"}
    for operation, (status, headers, body), (moto_status, moto_headers, moto_body) in answers:
        assert (status, headers["Content-Type"]) == (moto_status, moto_headers["Content-Type"]), operation
        assert json.loads(body) == json.loads(moto_body), operation


def test_a_definition_is_parsed_once_for_all_its_executions(stack, monkeypatch):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    sfn = stack.client("stepfunctions")
    definition = json.dumps({
        "Comment": uuid.uuid4().hex,  # a definition no other test parsed
        "StartAt": "Count",
        "States": {"Count": {"Type": "Pass", "Parameters": {"n.$": "$.i"}, "ResultPath": "$.out", "Next": "Done"},
                   "Done": {"Type": "Succeed"}},
    })
    machine = sfn.create_state_machine(name=f"parse-probe-{uuid.uuid4().hex[:8]}", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/probe")["stateMachineArn"]
    parsed = []
    parse = AmazonStateLanguageParser.parse
    counting = staticmethod(lambda text: parsed.append(text) or parse(text))
    monkeypatch.setattr(AmazonStateLanguageParser, "parse", counting)
    try:
        runs = [sfn.start_execution(stateMachineArn=machine, name=f"run-{i}", input=json.dumps({"i": i}))
                for i in range(3)]
        runs = [run["executionArn"] for run in runs]
        deadline = time.monotonic() + 30
        while any(sfn.describe_execution(executionArn=run)["status"] == "RUNNING" for run in runs):
            assert time.monotonic() < deadline, "the probe executions never ended"
            time.sleep(0.02)
        outputs = [json.loads(sfn.describe_execution(executionArn=run)["output"]) for run in runs]
    finally:
        monkeypatch.undo()
        sfn.delete_state_machine(stateMachineArn=machine)
    assert outputs == [{"i": i, "out": {"n": i}} for i in range(3)]
    assert parsed.count(definition) == 1


def test_a_task_token_call_is_not_upset_by_an_execution_that_is_just_starting(stack, monkeypatch):
    """moto looks a token up in every running execution's environment, which a starting
    execution does not have yet: such an execution is skipped, not a 500 for the caller."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from local.template import ACCOUNT, REGION

    sfn = stack.client("stepfunctions")
    definition = json.dumps({"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 30, "End": True}}})
    machine = sfn.create_state_machine(name=f"starting-probe-{uuid.uuid4().hex[:8]}", definition=definition,
                                       roleArn="arn:aws:iam::123456789012:role/probe")["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=machine, name="hold")["executionArn"]
    try:
        backend = stepfunctions_parser_backends[ACCOUNT][REGION]
        execution = next(e for sm in backend.state_machines for e in sm.executions if e.exec_arn == run)
        deadline = time.monotonic() + 10
        while execution.exec_worker is None or execution.exec_worker.env is None:
            assert time.monotonic() < deadline, "the probe execution never started"
            time.sleep(0.01)
        monkeypatch.setattr(execution.exec_worker, "env", None)  # as in its first moments
        with pytest.raises(sfn.exceptions.InvalidToken):
            sfn.send_task_success(taskToken="no-such-token", output="{}")
        with pytest.raises(sfn.exceptions.InvalidToken):
            sfn.send_task_heartbeat(taskToken="no-such-token")
    finally:
        monkeypatch.undo()
        sfn.stop_execution(executionArn=run)
        sfn.delete_state_machine(stateMachineArn=machine)


# ---------------------------------------------------------------- the local API gateway
def _envelope(resp: requests.Response, status: int, message: str) -> None:
    assert resp.status_code == status
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body = resp.json()
    assert set(body) == {"code", "message", "trace_id", "date_stamp", "data"}
    assert (body["code"], body["message"], body["data"]) == ("103", message, {})


def _raw(stack, request: bytes) -> requests.Response:
    """Send bytes no HTTP client would and parse the answer (the gateway closes after it)."""
    with socket.create_connection(("127.0.0.1", stack.api.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    resp = requests.Response()
    resp.status_code = int(status_line.split()[1])
    resp.headers.update(dict(line.split(": ", 1) for line in lines))
    resp._content = body
    return resp


def test_two_hundred_concurrent_connections_are_all_answered(stack):
    clients = 200
    ready = threading.Barrier(clients)

    def call(i: int) -> requests.Response:
        ready.wait(timeout=60)
        return requests.get(f"{stack.api_url}/carrier/nowhere/{i}", timeout=60)

    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(call, range(clients)))
    for resp in answers:
        _envelope(resp, 404, "接口不存在")


@pytest.mark.parametrize("method", ["PATCH", "FOO", "OPTIONS", "PUT"])
def test_unknown_methods_are_a_404_envelope(stack, method):
    resp = requests.request(method, f"{stack.api_url}/carrier/auth", headers={"x-api-key": stack.api_key}, timeout=10)
    _envelope(resp, 404, "接口不存在")


def test_head_is_a_404_without_a_body(stack):
    resp = requests.head(f"{stack.api_url}/carrier/auth", headers={"x-api-key": stack.api_key}, timeout=10)
    assert resp.status_code == 404 and resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.content == b""


def test_an_url_over_8192_characters_is_414(stack):
    resp = requests.get(f"{stack.api_url}/carrier/auth/{'a' * 8200}", headers={"x-api-key": stack.api_key}, timeout=10)
    _envelope(resp, 414, "请求URL过长")


@pytest.mark.parametrize("expect", [b"", b"Expect: 100-continue\r\n"])
def test_a_body_over_10_mib_is_refused_unread(stack, expect):
    started = time.monotonic()
    resp = _raw(stack, b"POST /carrier/auth HTTP/1.1\r\nHost: local\r\nx-api-key: " + stack.api_key.encode()
                + b"\r\nContent-Length: 10485761\r\n" + expect + b"\r\n")
    _envelope(resp, 413, "请求体过大")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1_0"])
def test_a_bad_content_length_is_400(stack, length):
    resp = _raw(stack, b"POST /carrier/auth HTTP/1.1\r\nHost: local\r\nContent-Length: " + length + b"\r\n\r\n")
    _envelope(resp, 400, "请求无效")


@pytest.mark.parametrize(
    "request_bytes", [b"GARBAGE\r\n", b"GET /carrier/auth HTTP/x.y\r\n", b"GET /carrier/auth\r\n\r\n"]
)
def test_a_malformed_request_line_is_400(stack, request_bytes):
    _envelope(_raw(stack, request_bytes), 400, "请求无效")


def test_an_unknown_api_key_is_403_and_every_tenant_key_is_accepted(stack):
    url = f"{stack.api_url}/carrier/auth/no-such-task"
    _envelope(requests.get(url, headers={"x-api-key": "nobody"}, timeout=10), 403, "缺少或无效的API Key (x-api-key)")
    for tenant in stack.tenants:
        resp = requests.get(url, headers={"x-api-key": tenant.api_key}, timeout=30)
        assert resp.status_code == 404 and "x-amzn-RequestId" in resp.headers  # the status function answered


def test_the_proxy_event_names_the_api_key_and_its_id(probe_api):
    answer = requests.post(probe_api, json={}, headers={"x-api-key": "probe-key"}, timeout=10).json()
    assert answer["identity"]["apiKey"] == "probe-key" and answer["identity"]["apiKeyId"] == "probekey01"


def test_a_timed_out_function_is_a_504_envelope(probe_api):
    resp = requests.post(probe_api, json={"run_seconds": 60}, headers={"x-api-key": "probe-key"}, timeout=10)
    _envelope(resp, 504, "系统繁忙，请稍后查询任务状态")


def test_a_failed_function_is_a_502_envelope(probe_api):
    resp = requests.post(probe_api, json={"raise": "boom"}, headers={"x-api-key": "probe-key"}, timeout=10)
    _envelope(resp, 502, "系统异常")


# ---------------------------------------------------------------- the callback receiver
def _deliver(stack, task_id: str, secret: str) -> int:
    from carrier_auth.callback import SIGNATURE_HEADER, sign

    raw = json.dumps({"task_id": task_id}).encode()
    resp = requests.post(stack.receiver.url, data=raw, headers={SIGNATURE_HEADER: sign(secret, raw)}, timeout=30)
    return resp.status_code


def test_the_receiver_names_the_tenant_and_a_slow_answer_holds_up_no_other(stack):
    slow, quick = f"slow-{time.monotonic_ns()}", f"quick-{time.monotonic_ns()}"
    stack.receiver.delay_next(3, task_id=slow)
    with ThreadPoolExecutor(1) as pool:
        delayed = pool.submit(_deliver, stack, slow, stack.tenants[1].callback_secret)
        deadline = time.monotonic() + 10
        while not any(r["body"].get("task_id") == slow for r in stack.receiver.received):
            assert time.monotonic() < deadline, "the slow delivery never arrived"
            time.sleep(0.01)
        started = time.monotonic()
        assert _deliver(stack, quick, stack.tenants[0].callback_secret) == 200
        assert time.monotonic() - started < 2 and not delayed.done()
        assert delayed.result(timeout=10) == 200
    assert _deliver(stack, quick, "not a tenant's secret") == 401
    seen = {(r["body"]["task_id"], r["answered"]): r
            for r in stack.receiver.received if r["body"].get("task_id") in (slow, quick)}
    assert seen[(slow, 200)]["tenant"] == stack.tenants[1].api_key_id and seen[(slow, 200)]["delayed"] == 3
    assert seen[(quick, 200)]["tenant"] == stack.tenants[0].api_key_id
    assert seen[(quick, 401)]["tenant"] is None and not seen[(quick, 401)]["signature_valid"]
