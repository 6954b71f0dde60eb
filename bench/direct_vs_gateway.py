"""The same happy flow both ways in one run: an app backend calling the sandbox upstreams itself
("direct") and the gateway's API ("gateway"). A benchmark, not a test.

One embedded stack (``PollIntervalSeconds`` 0) whose sandbox answers every upstream call
``BENCH_LATENCY_MS`` late (default 200; the sandbox's switch, ``CARRIER_AUTH_SANDBOX_LATENCY_MS``
/ ``SandboxProviders.set_latency_ms``). ``BENCH_FLOWS`` flows a side (default 12, at least 10),
after one warm-up flow a side that is not counted, in ABBA order (direct, gateway, gateway,
direct, ...) so that drift hits both sides alike. Person: 13800138000 / 11010519491231002X /
张三, SMS code 123456, carrier provider Juxinli.

- direct: what an app would do with plain HTTP (requests, one pooled session, as the adapters
  do) against the same sandbox upstreams: three-factor check, Juxinli application, first
  collect (asks for the SMS code) = the start answer; the collect with the code = the submit
  answer; a report token and the job status until 完成 = the result.
- gateway: POST /carrier/auth (104/90001) = the start answer; POST /carrier/auth/code (105) =
  the submit answer; the signed SUCCESS callback at the stack's receiver = the result.

Times run from the start request: "start → result" includes the submit. Per gateway flow it also
reports Step Functions state transitions (``*StateEntered`` history events), AWS requests by
service and DynamoDB reads (counted at the in-process moto server; the local SQS pollers' empty
receives and the bench's own probes left out), the sandbox's upstream requests, and the facade's
checkpoint notice latency: from moto answering the write that raised the session item's ``seq``
(a new checkpoint) to moto answering the first read by the facade (the functions behind the two
POST routes, recognised by a user-agent app id the bench gives them) that returns that ``seq``.
With ``bench/cost.py`` present, the cost per 1,000 flows too.

Run: make bench, or ``PYTHONPATH=layers/common:. .venv/bin/python -m bench.direct_vs_gateway``.
"""

from __future__ import annotations

import collections
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import requests

from bench._aws_counter import (
    CallCounter,
    CapacityMeter,
    by_service,
    empty_receive,
    is_probe,
    json_body,
    on_answer,
    probe_config,
    user_agent,
)

FLOWS = int(os.environ.get("BENCH_FLOWS", "12"))
LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "200"))
WAIT = float(os.environ.get("BENCH_WAIT_SECONDS", "60"))  # deadline of every single wait

MOBILE, ID_NUMBER, NAME, PASSWORD, SMS_CODE = "13800138000", "11010519491231002X", "张三", "bench-pass", "123456"
# 1: every flow a different (valid) id number, so the gateway's identity cache never answers
DISTINCT_PEOPLE = os.environ.get("BENCH_DISTINCT_PEOPLE", "1") not in ("", "0", "false", "no")
FACADE_APP_ID = "bench-facade"  # AWS_SDK_UA_APP_ID of the facades -> "app/bench-facade" in their user agent
UPSTREAMS = {"three-factor": "/three-factor", "juxinli": "/juxinli", "moxie": "/moxie", "yuxin": "/yuxin"}
READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem")


def id_number(flow: int, side: str) -> str:
    """``ID_NUMBER``, or with ``BENCH_DISTINCT_PEOPLE`` one per flow and side (same birth date
    and region, another sequence number, a correct check digit)."""
    if not DISTINCT_PEOPLE:
        return ID_NUMBER
    from stdnum.cn import ric

    body = f"{ID_NUMBER[:14]}{100 + 2 * flow + (side == 'gateway'):03d}"
    return body + ric.calc_check_digit(body + "0")  # the check digit of body + any last digit


class FlowFailed(AssertionError):
    """A flow's answer was not the expected one (or a wait ran past its deadline)."""


def expect(condition: Any, where: str, what: str, got: Any = None) -> None:
    if not condition:
        detail = f": got {json.dumps(got, ensure_ascii=False, default=str)[:600]}" if got is not None else ""
        raise FlowFailed(f"{where}: expected {what}{detail}")


@dataclass
class Flow:
    side: str
    number: int
    start: float = 0.0  # seconds from sending the start request to its answer
    submit: float = 0.0  # seconds the submit request took
    result: float = 0.0  # seconds from sending the start request to the result
    upstream: collections.Counter[str] = field(default_factory=collections.Counter)
    aws: collections.Counter[str] = field(default_factory=collections.Counter)
    reads: collections.Counter[str] = field(default_factory=collections.Counter)
    transitions: int | None = None
    notice: dict[str, float | None] = field(default_factory=dict)  # "start" / "submit" -> seconds
    facade_reads: dict[str, int] = field(default_factory=dict)  # "start" / "submit" -> session reads
    lambdas: dict[str, tuple[int, float]] = field(default_factory=dict)  # logical id -> (invocations, billed s)
    units: tuple[float, float] | None = None  # DynamoDB read / write request units
    local_sqs: int = 0  # SQS requests of the local EventBridge -> Lambda stand-in queues


# ---------------------------------------------------------------------------------------- direct


class DirectApp:
    """An app backend calling the sandbox upstreams itself (the protocol of
    ``carrier_auth.providers.three_factor`` / ``juxinli``, spoken with plain requests)."""

    def __init__(self, stack: Any) -> None:
        from carrier_auth.providers.juxinli import website_for_mobile

        sandbox = stack.sandbox
        self.three_factor_url = f"{sandbox.three_factor_base_url}/tech/ai/celerity/universal"
        self.three_factor_token = sandbox.three_factor_token
        self.juxinli = sandbox.juxinli_base_url
        self.org = sandbox.juxinli_org_name
        self.client_secret = sandbox.juxinli_client_secret
        self.website_hint = website_for_mobile(MOBILE)
        self.http = requests.Session()  # pooled, as the adapters' process-wide session

    def _json(self, where: str, response: requests.Response) -> dict[str, Any]:
        expect(response.status_code == 200, where, "HTTP 200", response.text[:300])
        try:
            body = response.json()
        except ValueError:
            body = None
        expect(isinstance(body, dict), where, "a JSON object", response.text[:300])
        return body

    def _post(self, where: str, url: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self._json(where, self.http.post(url, json=body, timeout=WAIT, **kwargs))

    def _get(self, where: str, url: str, params: dict[str, Any]) -> dict[str, Any]:
        return self._json(where, self.http.get(url, params=params, timeout=WAIT))

    def run(self, flow: Flow) -> None:
        where = f"direct flow {flow.number}"
        person = id_number(flow.number, "direct")
        began = time.perf_counter()
        # three-factor
        answer = self._post(
            f"{where}, three-factor", self.three_factor_url,
            {"buscode": "PhoneVerification", "group": "real",
             "data": {"IdCard": person, "Name": NAME, "Phone": MOBILE}},
            headers={"Authorization": self.three_factor_token},
        )  # fmt: skip
        try:
            result = answer["data"]["result"]["responseJson"]["Response"]["Result"]
        except (KeyError, TypeError):
            result = None
        expect(answer.get("errcode") == 0 and str(result) == "0", f"{where}, three-factor", "Result 0", answer)
        # Juxinli application
        basic_info = {"name": NAME, "id_card_num": person, "cell_phone_num": MOBILE}
        application: dict[str, Any] = {"basic_info": basic_info, "skip_mobile": False}
        if self.website_hint:
            application["selected_website"] = self.website_hint
        answer = self._post(f"{where}, application", f"{self.juxinli}/orgApi/rest/v2/applications/{self.org}", application)
        data = answer.get("data") or {}
        token, website = data.get("token"), (data.get("datasource") or {}).get("website")
        expect(answer.get("success") is True and token and website, f"{where}, application", "a token", answer)
        # the first collect: asks for the SMS code
        collect = {"token": token, "account": MOBILE, "password": PASSWORD, "website": website}
        answer = self._post(f"{where}, collect", f"{self.juxinli}/orgApi/rest/v2/messages/collect/req",
                            {**collect, "captcha": "", "type": ""})
        data = answer.get("data") or {}
        expect(str(data.get("process_code")) == "10002", f"{where}, collect", "process_code 10002", answer)
        flow.start = time.perf_counter() - began
        # the code
        request_type = (data.get("req_msg_tpl") or {}).get("type") or "SUBMIT_CAPTCHA"
        submitted = time.perf_counter()
        answer = self._post(f"{where}, captcha", f"{self.juxinli}/orgApi/rest/v2/messages/collect/req",
                            {**collect, "captcha": SMS_CODE, "type": request_type})
        data = answer.get("data") or {}
        expect(str(data.get("process_code")) == "10008", f"{where}, captcha", "process_code 10008", answer)
        flow.submit = time.perf_counter() - submitted
        # collection: report token, then the job status until done (no pause, as PollIntervalSeconds 0)
        answer = self._get(f"{where}, report token", f"{self.juxinli}/api/v2/access_report_token",
                           {"org_name": self.org, "client_secret": self.client_secret, "hours": 24})
        access_token = answer.get("access_token")
        expect(answer.get("success") is True and access_token, f"{where}, report token", "an access token", answer)
        deadline = time.monotonic() + WAIT
        while True:
            answer = self._get(f"{where}, job status", f"{self.juxinli}/api/v2/job/access_jobs_status_by_token",
                               {"client_secret": self.client_secret, "access_token": access_token, "token": token})
            status = (answer.get("data") or {}).get("status")
            expect(answer.get("success") is True and status in ("采集中", "完成"), f"{where}, job status",
                   "采集中 or 完成", answer)
            if status == "完成":
                break
            expect(time.monotonic() < deadline, f"{where}, job status", f"完成 within {WAIT:.0f} s", answer)
        flow.result = time.perf_counter() - began


# ---------------------------------------------------------------------------------------- gateway


class CheckpointWatch:
    """Checkpoints (the session item's ``seq`` going up) and the facade's reads of them, as moto
    answers them in this process."""

    def __init__(self) -> None:
        self.table = ""  # the sessions table's name, once the stack is up
        self.key = "task_id"
        self.facade_marker: str | None = None  # user-agent text of the facades' requests
        self.writes: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)  # new seq, answered at
        self.facade_reads: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)  # seq seen, at
        self.reads: collections.Counter[str] = collections.Counter()  # DynamoDB reads, all tables
        self._seq: dict[str, int] = {}
        self._lock = threading.Lock()

    def hook(self, response: Any, answer: Any, answered_at: float) -> None:
        if response.service_name != "dynamodb" or is_probe(response):
            return
        action = response._get_action()
        if action not in READS and action not in WRITES:
            return
        request = json_body(response.body)
        if action in READS:
            consistent = "consistent" if request.get("ConsistentRead") else "eventually consistent"
            with self._lock:
                self.reads[f"{action} ({consistent})"] += 1
        if not self.table or not isinstance(answer, tuple) or len(answer) != 3 or int(answer[0]) != 200:
            return
        if action in WRITES:
            for task_id, seq in self._written(action, request, json_body(answer[2]), response):
                with self._lock:
                    if seq > self._seq.get(task_id, -1):
                        if task_id in self._seq:  # the first write (the item's creation) is no checkpoint
                            self.writes[task_id].append((seq, answered_at))
                        self._seq[task_id] = seq
        elif self.facade_marker is None or self.facade_marker in user_agent(response):
            for task_id, seq in self._read(action, request, json_body(answer[2])):
                with self._lock:
                    self.facade_reads[task_id].append((seq, answered_at))

    def _written(self, action: str, request: dict, answer: dict, response: Any) -> list[tuple[str, int]]:
        """(task_id, seq now) of every session item the write touched."""
        touched: list[tuple[str, dict | None]] = []  # task_id, the item's new image when the answer has it
        if action == "PutItem" and _table_is(request.get("TableName"), self.table):
            touched.append((_s(request.get("Item", {}).get(self.key)), request.get("Item")))
        elif action == "UpdateItem" and _table_is(request.get("TableName"), self.table):
            new = answer.get("Attributes") if request.get("ReturnValues") in ("ALL_NEW", "UPDATED_NEW") else None
            touched.append((_s(request.get("Key", {}).get(self.key)), new))
        elif action == "TransactWriteItems":
            for item in request.get("TransactItems", []):
                for kind in ("Put", "Update"):
                    op = item.get(kind) or {}
                    if _table_is(op.get("TableName"), self.table):
                        touched.append((_s((op.get("Item") or op.get("Key") or {}).get(self.key)), None))
        elif action == "BatchWriteItem":
            for table, items in (request.get("RequestItems") or {}).items():
                if _table_is(table, self.table):
                    for item in items:
                        put = (item.get("PutRequest") or {}).get("Item") or {}
                        touched.append((_s(put.get(self.key)), put))
        found = []
        for task_id, image in touched:
            if not task_id:
                continue
            seq = _n((image or {}).get("seq")) if image and "seq" in image else self._stored_seq(task_id, response)
            if seq is not None:
                found.append((task_id, seq))
        return found

    def _stored_seq(self, task_id: str, response: Any) -> int | None:
        """The item's seq as moto stores it now (in process: no request, nothing counted)."""
        try:
            from moto.dynamodb.models import dynamodb_backends

            backend = dynamodb_backends[response.current_account][response.region]
            item = backend.get_item(self.table, {self.key: {"S": task_id}})
            value = item.attrs.get("seq") if item is not None else None
            return int(float(value.value)) if value is not None else None
        except Exception:  # noqa: BLE001 - moto internals: no number rather than a broken stack
            return None

    def _read(self, action: str, request: dict, answer: dict) -> list[tuple[str, int]]:
        items: list[dict] = []
        if action == "GetItem" and _table_is(request.get("TableName"), self.table):
            items = [answer.get("Item") or {}]
        elif action in ("Query", "Scan") and _table_is(request.get("TableName"), self.table):
            items = answer.get("Items") or []
        elif action == "BatchGetItem":
            for table, found in (answer.get("Responses") or {}).items():
                if _table_is(table, self.table):
                    items += found
        elif action == "TransactGetItems":
            items = [r.get("Item") or {} for r in answer.get("Responses") or []]
        return [(_s(i.get(self.key)), _n(i["seq"])) for i in items if _s(i.get(self.key)) and "seq" in i
                and _n(i["seq"]) is not None]

    def notice(self, task_id: str, began: float, ended: float) -> tuple[float | None, int]:
        """For the request sent at ``began`` and answered at ``ended``: seconds from the last
        checkpoint written meanwhile to the facade's first read returning it (None without
        one), and how many session reads the facade made meanwhile."""
        with self._lock:
            writes = [(s, t) for s, t in self.writes.get(task_id, []) if began <= t <= ended]
            reads = [(s, t) for s, t in self.facade_reads.get(task_id, []) if began <= t <= ended]
        if not writes:
            return None, len(reads)
        seq, written = writes[-1]
        # a read answered on another thread between the write taking effect and moto answering
        # the write can be stamped a little earlier than the write: that is a notice of 0
        seen = [t for s, t in reads if s >= seq]
        return (max(0.0, min(seen) - written) if seen else None), len(reads)

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.reads)


def _table_is(name: Any, table: str) -> bool:
    return isinstance(name, str) and bool(table) and (name == table or name.endswith(f"table/{table}"))


def _s(value: Any) -> str:
    return str(value.get("S", "")) if isinstance(value, dict) else ""


def _n(value: Any) -> int | None:
    try:
        return int(float(value["N"]))
    except (KeyError, TypeError, ValueError):
        return None


class Gateway:
    """The app using the gateway's API, and what the bench learns about each of its flows."""

    def __init__(self, stack: Any, counter: CallCounter, watch: CheckpointWatch) -> None:
        self.stack, self.counter, self.watch = stack, counter, watch
        self.http = requests.Session()
        self.http.headers["x-api-key"] = stack.api_key
        self.sfn = boto3.client("stepfunctions", endpoint_url=stack.moto_url, config=probe_config())

    def _post(self, where: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.stack.api_url + path, json=body, timeout=WAIT)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        expect(response.status_code == 200 and isinstance(answer, dict), where, "HTTP 200 with a JSON answer",
               {"status": response.status_code, "body": response.text[:300]})
        return answer

    def run(self, flow: Flow) -> None:
        where = f"gateway flow {flow.number}"
        body = {
            "userId": f"bench-{uuid.uuid4().hex[:8]}", "mobile_no": MOBILE, "identity_card": id_number(flow.number, "gateway"),
            "name": NAME, "password": PASSWORD, "submitTime": int(time.time() * 1000),
            "callback_set": {"callback_url": self.stack.receiver.url, "token": "bench"},
        }  # fmt: skip
        started_wall = datetime.now(timezone.utc)
        began = time.perf_counter()
        first = self._post(f"{where}, start", "/carrier/auth", body)
        answered = time.perf_counter()
        data = first.get("data") or {}
        task_id = data.get("task_id")
        expect(first.get("code") == "104" and data.get("guide_code") == "90001" and task_id,
               f"{where}, start", "104 / 90001 with a task_id", first)
        flow.start = answered - began
        submit = {**{k: body[k] for k in ("userId", "mobile_no", "identity_card", "submitTime")},
                  "traceId": first.get("trace_id"), "task_id": task_id, "auth_code": SMS_CODE}
        submitted = time.perf_counter()
        second = self._post(f"{where}, submit", "/carrier/auth/code", submit)
        flow.submit = time.perf_counter() - submitted
        expect(second.get("code") == "105", f"{where}, submit", "105", second)
        callback = self.stack.receiver.wait_for(task_id, timeout=WAIT)
        arrived = time.perf_counter()
        expect(callback is not None, f"{where}, callback", f"a delivery answered 200 within {WAIT:.0f} s")
        expect(callback["signature_valid"] and callback["body"].get("error_code") == "SUCCESS",
               f"{where}, callback", "a validly signed SUCCESS", callback["body"])
        flow.result = arrived - began
        flow.notice["start"], flow.facade_reads["start"] = self.watch.notice(task_id, began, answered)
        flow.notice["submit"], flow.facade_reads["submit"] = self.watch.notice(task_id, submitted, submitted + flow.submit)
        flow.transitions = self._transitions(where, task_id, started_wall)

    def _transitions(self, where: str, task_id: str, started: datetime) -> int:
        """``*StateEntered`` events of the executions for ``task_id``, once they have ended."""
        deadline = time.monotonic() + WAIT
        arns = self._executions(task_id, started)
        expect(arns, where, f"a Step Functions execution for task {task_id}")
        total = 0
        for arn in arns:
            while (status := self.sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                expect(time.monotonic() < deadline, where, f"the execution to end within {WAIT:.0f} s")
                time.sleep(0.02)
            expect(status == "SUCCEEDED", where, "the execution to succeed", status)
            kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
            while True:
                page = self.sfn.get_execution_history(**kwargs)
                total += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
        return total

    def _executions(self, task_id: str, started: datetime) -> list[str]:
        """The execution named after the task, else any started since the flow that mentions it."""
        machines = [m["stateMachineArn"] for m in self.sfn.list_state_machines()["stateMachines"]]
        found = []
        for machine in machines:
            named = machine.replace(":stateMachine:", ":execution:") + f":{task_id}"
            try:
                self.sfn.describe_execution(executionArn=named)
                found.append(named)
                continue
            except self.sfn.exceptions.ExecutionDoesNotExist:
                pass
            for execution in self.sfn.list_executions(stateMachineArn=machine, maxResults=100)["executions"]:
                if execution["startDate"] >= started - timedelta(seconds=2):
                    described = self.sfn.describe_execution(executionArn=execution["executionArn"])
                    if task_id in str(described.get("input", "")):
                        found.append(execution["executionArn"])
        return found


# ---------------------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def spread(values: list[float]) -> str:
    """median, p10–p90 and min–max in ms."""
    if len(values) >= 2:
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        p10, p90 = deciles[0], deciles[-1]
    else:
        p10 = p90 = values[0]
    return (f"median {ms(statistics.median(values)):>5} ms  p10–p90 {ms(p10):>5}–{ms(p90):<5}"
            f"  min–max {ms(min(values)):>5}–{ms(max(values)):<5}")


def counts_text(counter: collections.Counter[str] | dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(counter.items()) if v) or "none"


def median_counter(counters: list[collections.Counter[str]]) -> dict[str, float]:
    keys = sorted({k for c in counters for k in c})
    return {k: statistics.median(c.get(k, 0) for c in counters) for k in keys}


def report(direct: list[Flow], gateway: list[Flow]) -> None:
    print()
    print(f"direct vs gateway: {len(direct)} flows a side (after 1 warm-up flow a side), ABBA order; "
          f"sandbox latency {LATENCY_MS:g} ms per upstream call; PollIntervalSeconds 0")
    people = "a different id number every flow (BENCH_DISTINCT_PEOPLE)" if DISTINCT_PEOPLE else f"id {ID_NUMBER}"
    print(f"person {MOBILE} / {NAME} / {people}, code {SMS_CODE}; carrier provider Juxinli (fallback Moxie)")
    print()
    measures: list[tuple[str, Callable[[Flow], float]]] = [
        ("start answer", lambda f: f.start),
        ("submit answer", lambda f: f.submit),
        ("start → result", lambda f: f.result),
    ]
    for label, get in measures:
        d, g = [get(f) for f in direct], [get(f) for f in gateway]
        ratio = statistics.median(g) / statistics.median(d)
        print(f"{label:<15} direct  {spread(d)}")
        print(f"{'':<15} gateway {spread(g)}   gateway ÷ direct {ratio:.2f}×")
    print("(result: direct = the job status answering 完成; gateway = the signed SUCCESS callback received)")
    print()
    print("upstream requests per flow (sandbox, median):")
    print(f"  direct:  {counts_text(median_counter([f.upstream for f in direct]))}")
    print(f"  gateway: {counts_text(median_counter([f.upstream for f in gateway]))}")
    if median_counter([f.upstream for f in gateway]).get("three-factor", 0) < 1 and not DISTINCT_PEOPLE:
        print("  (the gateway's identity cache answered the three-factor check of the repeated person:"
              " BENCH_DISTINCT_PEOPLE=1 gives every flow a new id number)")
    print()
    print("gateway flows (ms; notice = checkpoint written → first facade read returning it, "
          "facade session reads during the wait in brackets):")
    print(f"  {'#':>2} {'start':>6} {'submit':>6} {'→cb':>6} {'trans':>5} {'DDB reads':>9} "
          f"{'notice start':>13} {'notice submit':>14}  AWS requests")
    for f in gateway:
        notices = []
        for wait in ("start", "submit"):
            value = f.notice.get(wait)
            notices.append(f"{ms(value) if value is not None else 'n/a'} [{f.facade_reads.get(wait, 0)}]")
        reads = sum(f.reads.values())
        transitions = f.transitions if f.transitions is not None else "?"
        print(f"  {f.number:>2} {ms(f.start):>6} {ms(f.submit):>6} {ms(f.result):>6} {transitions:>5} {reads:>9} "
              f"{notices[0]:>13} {notices[1]:>14}  {counts_text(by_service(f.aws))}")
    print()
    transitions = sorted({f.transitions for f in gateway if f.transitions is not None})
    print(f"state transitions per execution: {transitions}")
    print(f"AWS requests per flow by service (median): {counts_text(median_counter([by_service(f.aws) for f in gateway]))}")
    print(f"DynamoDB requests per flow (median): "
          f"{counts_text({k.split('.', 1)[1]: v for k, v in median_counter([f.aws for f in gateway]).items() if k.startswith('dynamodb.')})}")
    print(f"DynamoDB reads per flow (median): {counts_text(median_counter([f.reads for f in gateway]))}")
    units = [f.units for f in gateway if f.units is not None]
    if units:
        print(f"DynamoDB request units per flow (median): read {statistics.median(u[0] for u in units):g}, "
              f"write {statistics.median(u[1] for u in units):g}")
    local_sqs = statistics.median(f.local_sqs for f in gateway)
    if local_sqs:
        print(f"  (SQS counts include {local_sqs:g} requests a flow on the local stand-in queues for "
              f"EventBridge -> Lambda; the local pollers' empty receives are left out)")
    for wait in ("start", "submit"):
        values = [f.notice[wait] for f in gateway if f.notice.get(wait) is not None]
        polls = [f.facade_reads.get(wait, 0) for f in gateway]
        if values:
            print(f"facade checkpoint notice latency, {wait} wait: median {ms(statistics.median(values))} ms, "
                  f"max {ms(max(values))} ms ({len(values)}/{len(gateway)} flows; facade session reads per wait "
                  f"median {statistics.median(polls):g})")
        else:
            print(f"facade checkpoint notice latency, {wait} wait: n/a (no facade read returned a checkpoint "
                  f"written during the request; facade session reads per wait median {statistics.median(polls):g})")
    lambdas = [f.lambdas for f in gateway if f.lambdas]
    if lambdas:
        invocations = median_counter([collections.Counter({k: v[0] for k, v in x.items()}) for x in lambdas])
        billed = statistics.median(sum(v[1] for v in x.values()) for x in lambdas)
        print(f"Lambda invocations per flow (median): {counts_text(invocations)}; billed {billed:.2f} s per flow "
              f"(wall time of each invocation, as the local runtime sees it)")
    print_cost(gateway)


def load_cost() -> Any:
    try:
        from bench import cost  # written alongside; optional
    except ImportError:
        return None
    return cost


def print_cost(gateway: list[Flow]) -> None:
    """Cost per 1,000 flows from the measured medians, when bench/cost.py is there."""
    cost = load_cost()
    if cost is None:
        print("cost per 1,000 flows: bench/cost.py not present (skipped)")
        return
    try:
        counts = cost_counts(cost, gateway)
        lambdas = ", ".join(f"{k} {counts.lambda_invocations[k]:g}× {counts.lambda_billed_seconds.get(k, 0):.2f} s"
                            for k in sorted(counts.lambda_invocations))
        print(f"priced per flow (medians): {counts.transitions:g} transitions; Lambda {lambdas}; DynamoDB "
              f"{counts.dynamodb_read_units:g} RRU / {counts.dynamodb_write_units:g} WRU; KMS {counts.kms_requests:g}; "
              f"SQS {counts.sqs_requests:g}; EventBridge {counts.eventbridge_events:g}; API {counts.api_requests:g}")
        for region in ("us-east-1", "cn-north-1"):
            estimate = cost.estimate(counts, region)
            shares = ", ".join(f"{k} {v:.4g}" for k, v in sorted(estimate.per_service.items(), key=lambda kv: -kv[1]))
            print(f"cost per 1,000 flows, {region}: {estimate.total_per_1000:.4g} {estimate.currency} ({shares})")
            for line in estimate.lines:  # the arithmetic, service by service
                print(f"    {line}")
    except Exception as exc:  # noqa: BLE001 - an optional report must not hide the measurements
        print(f"cost per 1,000 flows: bench/cost.py did not fit ({type(exc).__name__}: {exc})")


def cost_counts(cost: Any, gateway: list[Flow]) -> Any:
    """``cost.FlowCounts`` from the measured medians. SQS leaves out the local stand-in queues
    for EventBridge -> Lambda (EventBridge invokes Lambda directly in AWS); API requests are
    the two the app makes."""
    aws = median_counter([by_service(f.aws) for f in gateway])
    names = sorted({k for f in gateway for k in f.lambdas})
    units = [f.units for f in gateway if f.units is not None]
    return cost.FlowCounts(
        transitions=statistics.median(f.transitions or 0 for f in gateway),
        lambda_invocations={k: statistics.median(f.lambdas.get(k, (0, 0.0))[0] for f in gateway) for k in names},
        lambda_billed_seconds={k: statistics.median(f.lambdas.get(k, (0, 0.0))[1] for f in gateway) for k in names},
        dynamodb_read_units=statistics.median(u[0] for u in units) if units else 0.0,
        dynamodb_write_units=statistics.median(u[1] for u in units) if units else 0.0,
        kms_requests=aws.get("kms", 0),
        sqs_requests=statistics.median(by_service(f.aws).get("sqs", 0) - f.local_sqs for f in gateway),
        eventbridge_events=median_counter([f.aws for f in gateway]).get("events.PutEvents", 0),
        api_requests=2,
    )


# ---------------------------------------------------------------------------------------- main


def facade_functions(stack: Any) -> list[str]:
    from local.template import api_routes

    return sorted({fn for method, path, fn in api_routes(stack.template)
                   if method == "POST" and path in ("/carrier/auth", "/carrier/auth/code")})


def upstream_counts(stack: Any) -> collections.Counter[str]:
    return collections.Counter({name: stack.sandbox.requests_seen(prefix) for name, prefix in UPSTREAMS.items()})


class LambdaMeter:
    """Invocations and billed seconds per function: the runtime's ``registry.stats()`` when it
    has one, else measured here around ``registry.invoke`` (every invocation passes there: API,
    Step Functions through moto, the SQS pollers), each rounded up to the millisecond."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self._own: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        self._lock = threading.Lock()
        if getattr(registry, "stats", None) is None:
            original = registry.invoke

            def invoke(key: str, event: Any) -> Any:
                fn = registry.get(key)
                began = time.perf_counter()
                try:
                    return original(key, event)
                finally:
                    billed = math.ceil((time.perf_counter() - began) * 1000) / 1000
                    with self._lock:
                        entry = self._own[fn.logical_id if fn else key]
                        entry[0] += 1
                        entry[1] += billed

            registry.invoke = invoke  # the instance's: invoke_payload calls self.invoke

    def snapshot(self) -> dict[str, tuple[int, float]]:
        stats = getattr(self.registry, "stats", None)
        if stats is not None:
            return {k: (int(v.get("invocations", 0)), float(v.get("billed_seconds", 0))) for k, v in stats().items()}
        with self._lock:
            return {k: (int(v[0]), v[1]) for k, v in self._own.items()}


class LocalQueues:
    """SQS requests on the local stand-in queues for EventBridge -> Lambda targets (``*-target``)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def hook(self, response: Any, answer: Any, answered_at: float) -> None:
        if response.service_name != "sqs" or is_probe(response) or empty_receive(response, answer):
            return
        request = json_body(response.body)
        url = str(request.get("QueueUrl") or "")
        if url.endswith("-target"):
            with self._lock:
                self.count += 1


def main() -> int:
    if FLOWS < 1:
        print("BENCH_FLOWS must be at least 1 (the requirement is 10 or more)", file=sys.stderr)
        return 2
    os.environ["CARRIER_AUTH_CARRIER_PROVIDER"] = "juxinli"  # the direct side speaks Juxinli
    counter, watch, queues, cost = CallCounter(), CheckpointWatch(), LocalQueues(), load_cost()
    counter.install()
    on_answer(watch.hook)
    on_answer(queues.hook)
    capacity = CapacityMeter(cost) if cost is not None else None
    if capacity is not None:
        capacity.install()

    from local.stack import EmbeddedStack

    # the functions' and the stack's log lines go to a file: the report stays readable
    log_path = os.path.join(tempfile.gettempdir(), f"bench-direct-vs-gateway-{os.getpid()}.log")
    log_stream = open(log_path, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed below
    print(f"stack log: {log_path}", file=sys.stderr)
    stack = EmbeddedStack(api_port=0, moto_port=0, poll_interval=0, log_stream=log_stream).start()
    try:
        stack.sandbox.set_latency_ms(LATENCY_MS)
        lambdas_meter = LambdaMeter(stack.registry)
        watch.table = stack.tables["SessionsTable"]
        facades = facade_functions(stack)
        if facades:
            watch.facade_marker = f"app/{FACADE_APP_ID}"
        else:
            print("warning: no facade functions found by route: notice latency counts any reader", file=sys.stderr)
        marked = stack.function_env(facades, AWS_SDK_UA_APP_ID=FACADE_APP_ID) if facades else nullcontext()
        with marked:
            direct_app, gateway_app = DirectApp(stack), Gateway(stack, counter, watch)
            direct, gateway = [], []
            for number in range(FLOWS + 1):  # flow 0: the warm-up, not counted
                order = ("direct", "gateway") if number % 2 == 0 else ("gateway", "direct")
                for side in order:
                    flow = Flow(side, number)
                    upstream, aws, reads, lambdas = (upstream_counts(stack), counter.busy_snapshot(),
                                                     watch.snapshot(), lambdas_meter.snapshot())
                    units, local_sqs = (capacity.snapshot() if capacity else None), queues.count
                    if side == "direct":
                        direct_app.run(flow)
                    else:
                        gateway_app.run(flow)
                        expect(counter.wait_quiet(timeout=WAIT), f"gateway flow {number}",
                               f"the stack to go quiet within {WAIT:.0f} s")
                    flow.upstream = upstream_counts(stack) - upstream
                    flow.aws = counter.busy_snapshot() - aws
                    flow.reads = watch.snapshot() - reads
                    if capacity is not None and units is not None:
                        now = capacity.snapshot()
                        flow.units = (now[0] - units[0], now[1] - units[1])
                    flow.local_sqs = queues.count - local_sqs
                    after = lambdas_meter.snapshot()
                    flow.lambdas = {k: (v[0] - lambdas.get(k, (0, 0))[0], v[1] - lambdas.get(k, (0, 0))[1])
                                    for k, v in after.items() if v[0] - lambdas.get(k, (0, 0))[0]}
                    if number:
                        (direct if side == "direct" else gateway).append(flow)
                    print(f"{side:>7} flow {number:>2}{' (warm-up)' if not number else ''}: start {ms(flow.start)} ms, "
                          f"submit {ms(flow.submit)} ms, result {ms(flow.result)} ms", file=sys.stderr, flush=True)
    except FlowFailed as failure:
        print(f"FAILED: {failure}\n(the stack's log: {log_path})", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        log_stream.close()
    report(direct, gateway)
    return 0


if __name__ == "__main__":
    sys.exit(main())
