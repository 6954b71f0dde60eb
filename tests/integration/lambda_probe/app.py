"""A function for the local runtime's own tests (test_local_runtime.py), never deployed.

It keeps state at module level (as Powertools does) and reports the process and environment
it runs in. Its orders - the event itself, a proxy event's JSON body or an SQS record's body -
can make it wait for other invocations, run long, raise or exit."""

import json
import os
import time
from pathlib import Path

STATE: dict = {}


def _rendezvous(directory: str, parties: int, deadline: float) -> None:
    """Return once ``parties`` files are in ``directory``, this invocation's among them:
    proof that the invocations (and the test, if it counts itself) run at the same time."""
    Path(directory, str(os.getpid())).touch()
    while len(os.listdir(directory)) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError("the other parties never arrived")
        time.sleep(0.01)


def _orders(event: dict) -> dict:
    if "httpMethod" in event:
        return json.loads(event["body"] or "{}")
    if "Records" in event:
        return json.loads(event["Records"][0]["body"])
    return event


def lambda_handler(event, context):
    orders = _orders(event)
    STATE["value"] = orders.get("value")
    if "exit" in orders:
        os._exit(orders["exit"])
    if "raise" in orders:
        raise ValueError(orders["raise"])
    if "rendezvous" in orders:
        _rendezvous(orders["rendezvous"], orders["parties"], time.monotonic() + 10)
    time.sleep(orders.get("run_seconds", 0))  # the work of a slow invocation
    answer = {
        "pid": os.getpid(),
        "value": STATE["value"],
        "greeting": os.environ.get("GREETING"),
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    if "httpMethod" in event:
        answer["identity"] = event["requestContext"]["identity"]
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}
    return answer
