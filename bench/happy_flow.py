"""Measure the happy flow through the embedded stack (a benchmark, not a test).

Reports, over N runs of 13800138000 (start -> 90001 -> code 123456 -> 105 -> callback):
wall time of the two API calls, time until the signed callback arrives, state transitions
per execution and DynamoDB / KMS / Step Functions requests per flow (counted on the boto3
session every handler uses). Usage: make bench  (BENCH_RUNS=20 by default)
"""

from __future__ import annotations

import collections
import json
import os
import statistics
import time
import uuid

import boto3
from botocore.config import Config
import requests

from bench._aws_counter import PROBE, CallCounter

RUNS = int(os.environ.get("BENCH_RUNS", "20"))


def main() -> None:
    counter = CallCounter()
    counter.install()

    from local.stack import EmbeddedStack

    stack = EmbeddedStack(api_port=0, moto_port=0, poll_interval=0).start()
    http = requests.Session()
    http.headers["x-api-key"] = stack.api_key
    api_times, callback_times, transitions, per_flow = [], [], [], []
    try:
        for _ in range(RUNS):
            before = counter.snapshot()
            body = {
                "userId": f"bench-{uuid.uuid4().hex[:8]}", "mobile_no": "13800138000",
                "identity_card": "11010519491231002X", "name": "张三", "password": "bench-pass",
                "submitTime": int(time.time() * 1000),
                "callback_set": {"callback_url": stack.receiver.url, "token": "bench"},
            }
            began = time.perf_counter()
            first = http.post(stack.api_url + "/carrier/auth", json=body, timeout=60).json()
            task_id = first["data"]["task_id"]
            submit = {**{k: body[k] for k in ("userId", "mobile_no", "identity_card", "submitTime")},
                      "traceId": first["trace_id"], "task_id": task_id, "auth_code": "123456"}
            second = http.post(stack.api_url + "/carrier/auth/code", json=submit, timeout=60).json()
            api_times.append(time.perf_counter() - began)
            assert second["code"] == "105", second
            assert stack.receiver.wait_for(task_id, timeout=60) is not None
            callback_times.append(time.perf_counter() - began)
            # let the callback function record the delivery before counting
            probe = Config(user_agent_extra=PROBE)
            table = boto3.resource("dynamodb", endpoint_url=stack.moto_url, config=probe).Table(
                stack.tables["SessionsTable"]
            )
            deadline = time.monotonic() + 30
            while table.get_item(Key={"task_id": task_id})["Item"].get("callback_status") != "DELIVERED":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            sfn = boto3.client("stepfunctions", endpoint_url=stack.moto_url, config=probe)
            arn = stack.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{task_id}"
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                assert time.monotonic() < deadline, "execution still running"
                time.sleep(0.02)
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            transitions.append(sum(1 for e in history if e["type"].endswith("StateEntered")))
            per_flow.append(counter.snapshot() - before)
    finally:
        stack.stop()

    def ms(values: list[float]) -> str:
        values = sorted(values)
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        return f"median {statistics.median(values) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"

    last = per_flow[-1]  # warm: the first run pays imports and cold caches
    by_service = collections.Counter()
    for key, n in last.items():
        by_service[key.split(".")[0]] += n
    print(f"runs: {RUNS}")
    print(f"start + submit through the local API: {ms(api_times)}")
    print(f"start until the signed callback arrived: {ms(callback_times)}")
    print(f"state transitions per execution: {sorted(set(transitions))}")
    print("AWS requests per warm happy flow, by service:", json.dumps(dict(sorted(by_service.items()))))
    print("DynamoDB requests per warm happy flow:",
          json.dumps({k: v for k, v in sorted(last.items()) if k.startswith("dynamodb.")}))


if __name__ == "__main__":
    main()
