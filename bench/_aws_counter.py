"""What the benchmarks see of AWS: every request the in-process moto server answers.

The functions run in their own processes, so requests are observed where they all arrive:
moto's request dispatch (``BaseResponse.call_action``) in the bench's process. The bench's own
inspection calls carry the ``PROBE`` user agent (``probe_config()``) and are left out.

- ``CallCounter``: requests by ``service.Operation``; ``idle`` separately counts the local SQS
  pollers' receives that found nothing (a stand-in for Lambda's event source mapping).
- ``CapacityMeter``: DynamoDB read / write request units (with ``bench.cost``'s sizing rules).
- ``on_answer(hook)``: ``hook(response, answer, answered_at)`` after moto answers a request
  (``response`` is moto's handler, with ``service_name``, ``headers``, ``body``; ``answer``
  the ``(status, headers, body)`` it returns; ``answered_at`` ``time.perf_counter()``).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config

PROBE = "bench-probe"  # user agent of the bench's own AWS calls, left out of the counts

log = logging.getLogger("bench")

Hook = Callable[[Any, Any, float], None]
_hooks: list[Hook] = []
_installed = False
_install_lock = threading.Lock()


def probe_config(**kwargs: Any) -> Config:
    """botocore config for the bench's own inspection calls (not counted)."""
    return Config(user_agent_extra=PROBE, **kwargs)


def is_probe(response: Any) -> bool:
    return PROBE in str(response.headers.get("User-Agent", ""))


def user_agent(response: Any) -> str:
    return str(response.headers.get("User-Agent", ""))


def on_answer(hook: Hook) -> None:
    """Call ``hook`` after every request moto answers in this process (probes included)."""
    global _installed
    with _install_lock:
        _hooks.append(hook)
        if _installed:
            return
        from moto.core.responses import BaseResponse

        original = BaseResponse.call_action

        def call_action(response):  # noqa: ANN001, ANN202
            answer = original(response)
            answered_at = time.perf_counter()
            for each in list(_hooks):
                try:
                    each(response, answer, answered_at)
                except Exception:  # a measurement must never break the stack
                    log.exception("bench hook failed")
            return answer

        BaseResponse.call_action = call_action
        _installed = True


def empty_receive(response: Any, answer: Any) -> bool:
    """An SQS ReceiveMessage answered with no message (a poller idling)."""
    if response.service_name != "sqs" or response._get_action() != "ReceiveMessage":
        return False
    body = answer[2] if isinstance(answer, tuple) and len(answer) == 3 else ""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return "MessageId" not in str(body)


class CallCounter:
    """Counts the AWS requests the moto server (in this process) answers, by service.operation.

    ``calls`` has every request but the bench's probes; ``idle`` the local SQS pollers'
    receives that found no message (also in ``calls``, as before this split)."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.idle: collections.Counter[str] = collections.Counter()
        self.last_call = 0.0  # perf_counter of the last counted request that was not idle
        self._lock = threading.Lock()

    def install(self) -> None:
        on_answer(self._count)

    def _count(self, response: Any, answer: Any, answered_at: float) -> None:
        if is_probe(response):
            return
        key = f"{response.service_name}.{response._get_action()}"
        idle = empty_receive(response, answer)
        with self._lock:
            self.calls[key] += 1
            if idle:
                self.idle[key] += 1
            else:
                self.last_call = answered_at

    def snapshot(self) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(self.calls)

    def busy_snapshot(self) -> collections.Counter[str]:
        """``calls`` without the idle receives."""
        with self._lock:
            return self.calls - self.idle

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 30.0) -> bool:
        """Wait until no request (idle receives aside) was answered for ``quiet`` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                since = time.perf_counter() - self.last_call
            if since >= quiet:
                return True
            time.sleep(min(quiet - since, 0.1) + 0.01)
        return False


def by_service(calls: collections.Counter[str]) -> collections.Counter[str]:
    services: collections.Counter[str] = collections.Counter()
    for key, n in calls.items():
        services[key.split(".")[0]] += n
    return services


class CapacityMeter:
    """DynamoDB request units as on-demand DynamoDB charges them, for the requests moto answers
    in this process (the bench's probes left out), sized with ``bench.cost``'s rules: a read on
    the item's size (ceil(size / 4 KB), half when eventually consistent; Query / Scan on the
    summed size of what they return), a write on the larger of the item before and after it
    (ceil(size / 1 KB)), a failed conditional write on the item as it stands, transactions
    twice. Item sizes come from moto's store, read in process (no request)."""

    def __init__(self, cost: Any) -> None:
        self.cost = cost  # the bench.cost module: dynamodb_item_size, read_units, write_units
        self.read_units = 0.0
        self.write_units = 0.0
        self._sizes: dict[tuple[str, str], int] = {}  # (table, key) -> size after the last write seen
        self._lock = threading.Lock()

    def install(self) -> None:
        on_answer(self._hook)

    def snapshot(self) -> tuple[float, float]:
        with self._lock:
            return self.read_units, self.write_units

    # -- the hook ---------------------------------------------------------------------------

    def _hook(self, response: Any, answer: Any, answered_at: float) -> None:
        if response.service_name != "dynamodb" or is_probe(response):
            return
        from moto.dynamodb.models import dynamodb_backends

        action = response._get_action()
        request = response.body if isinstance(response.body, dict) else {}
        status = int(answer[0]) if isinstance(answer, tuple) and answer else 0
        body = json_body(answer[2]) if isinstance(answer, tuple) and len(answer) == 3 else {}
        backend = dynamodb_backends[response.current_account][response.region]
        failed_condition = "ConditionalCheckFailed" in str(body.get("__type", ""))
        if status != 200 and not failed_condition:
            return
        reads = writes = 0.0
        if action == "GetItem":
            reads = self._read(backend, request["TableName"], request["Key"], request.get("ConsistentRead"))
        elif action == "BatchGetItem":
            for table, spec in (request.get("RequestItems") or {}).items():
                for key in spec.get("Keys", []):
                    reads += self._read(backend, table, key, spec.get("ConsistentRead"))
        elif action == "TransactGetItems":
            for item in request.get("TransactItems", []):
                get = item.get("Get") or {}
                reads += 2 * self._read(backend, get.get("TableName", ""), get.get("Key", {}), True)
        elif action in ("Query", "Scan"):
            size = sum(self.cost.dynamodb_item_size(i, typed=True) for i in body.get("Items", []))
            reads = self.cost.read_units(size, bool(request.get("ConsistentRead")))
        elif action in ("PutItem", "UpdateItem", "DeleteItem"):
            key = request.get("Key") or self._key_of(backend, request["TableName"], request.get("Item", {}))
            writes = self._write(backend, request["TableName"], key, failed=status != 200)
        elif action == "TransactWriteItems":
            for item in request.get("TransactItems", []):
                for op in item.values():
                    key = op.get("Key") or self._key_of(backend, op.get("TableName", ""), op.get("Item", {}))
                    writes += 2 * self._write(backend, op.get("TableName", ""), key, failed=status != 200)
        elif action == "BatchWriteItem":
            for table, ops in (request.get("RequestItems") or {}).items():
                for op in ops:
                    put, delete = op.get("PutRequest"), op.get("DeleteRequest")
                    key = (delete or {}).get("Key") or self._key_of(backend, table, (put or {}).get("Item", {}))
                    writes += self._write(backend, table, key, failed=False)
        if reads or writes:
            with self._lock:
                self.read_units += reads
                self.write_units += writes

    def _read(self, backend: Any, table: str, key: dict, consistent: Any) -> float:
        size = self._stored_size(backend, table, key) or 0
        return self.cost.read_units(size, bool(consistent))

    def _write(self, backend: Any, table: str, key: dict, failed: bool) -> float:
        ident = (table, json.dumps(key, sort_keys=True, default=str))
        after = self._stored_size(backend, table, key)  # a failed write changed nothing
        with self._lock:
            before = self._sizes.get(ident, 0)
            if after is None:
                self._sizes.pop(ident, None)
            else:
                self._sizes[ident] = after
        return self.cost.write_units((after or 0) if failed else max(before, after or 0))

    @staticmethod
    def _key_of(backend: Any, table: str, item: dict) -> dict:
        spec = backend.get_table(table)
        names = [spec.hash_key_attr] + ([spec.range_key_attr] if spec.range_key_attr else [])
        return {name: item[name] for name in names if name in item}

    def _stored_size(self, backend: Any, table: str, key: dict) -> int | None:
        try:
            item = backend.get_item(table, key)
        except Exception:  # noqa: BLE001 - an unknown table or key: nothing stored
            return None
        if item is None:
            return None
        try:
            return self.cost.dynamodb_item_size(item.to_json()["Attributes"], typed=True)
        except (TypeError, ValueError, KeyError):
            return item.size()


def json_body(body: Any) -> dict:
    """A request or answer body as a dict (moto's DynamoDB handler may have parsed it already)."""
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        value = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
