"""Many happy flows at once through the embedded stack (a benchmark, not a test).

N people (``BENCH_FLOWS``, 200 by default; distinct userIds) start a task for 13800138000 at
the same moment, each expects 104/90001 with a trace_id, submits 123456, expects 105, and the
signed callback must reach the stack's receiver. Reports:

- errors: any answer other than the expected one, an HTTP error or an exception (处理中 counts
  as one too, and is also counted on its own: the facade's wait deadline passed),
- wall time, p50 / p95 of each API call,
- CPU seconds per flow of the whole stack: this process (moto, the interpreter, the local API
  gateway, sandbox, receiver) plus every child process (the functions' fork servers and their
  execution environments), from /proc, counted once; the bench's own client threads are
  measured apart and left out of the stack's figure,
- invocations and billed duration per function (``FunctionRegistry.stats()``).

Usage: ``PYTHONPATH=layers/common:. .venv/bin/python -m bench.concurrency``; BENCH_FLOWS (200),
BENCH_CONCURRENCY (at most this many flows at once; 1 = one after the other, through warm
environments). The stack's own settings apply (CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS, ...).
Linux only (reads /proc).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

import requests

FLOWS = int(os.environ.get("BENCH_FLOWS", "200"))
# at most this many flows at once (the others wait for one to end): BENCH_CONCURRENCY=1 measures
# the cost of a flow through warm environments, without the cost of concurrency
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "0")) or FLOWS
# over the facades' 20 s wait and the functions' 30 s Timeout, and the time a request may queue
# for a free execution environment (beyond CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS per function)
HTTP_TIMEOUT = 300
CALLBACK_SECONDS = 180
TICK = os.sysconf("SC_CLK_TCK")
STILL_PROCESSING = "处理中"


# ---------------------------------------------------------------- CPU of the process tree
def _stat(pid: int) -> tuple[int, int, int, int] | None:
    """(ppid, starttime, own CPU ticks, waited-for children's CPU ticks) of ``pid``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    # after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... starttime(19)
    return int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


class TreeCpu:
    """CPU seconds used by this process and all its descendants between ``start`` and ``stop``.

    Descendants are found by their parent pid in /proc and sampled every ``interval`` seconds,
    so an execution environment that ends mid-run (killed on timeout, reaped by its fork server,
    which ignores SIGCHLD: its time reaches nobody's cutime) still counts up to its last sample.
    Each process counts its own time plus the time of the children it waited for; a direct
    child of ours that ended is counted through ``os.times()`` (we waited for it), not twice.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.me = os.getpid()
        self._seen: dict[tuple[int, int], tuple[int, int]] = {}  # (pid, starttime) -> (ppid, ticks)
        self._base: dict[tuple[int, int], int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-cpu", daemon=True)

    def _sample(self) -> dict[tuple[int, int], tuple[int, int]]:
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit() and (st := _stat(int(name))) is not None:
                table[int(name)] = st
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, todo = {}, list(children.get(self.me, []))
        while todo:
            pid = todo.pop()
            ppid, started, own, waited = table[pid]
            found[(pid, started)] = (ppid, own + waited)
            todo.extend(children.get(pid, []))
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._seen.update(self._sample())

    def start(self) -> None:
        self._times = os.times()
        self._base = {key: ticks for key, (_ppid, ticks) in self._sample().items()}
        self._seen = {}
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        now = os.times()
        final = self._sample()
        self._seen.update(final)
        descendants = 0
        for key, (ppid, ticks) in self._seen.items():
            if key not in final and ppid == self.me:  # ended and waited for: in os.times() below
                descendants -= self._base.get(key, 0)
            else:
                descendants += ticks - self._base.get(key, 0)
        own = (now.user - self._times.user) + (now.system - self._times.system)
        waited = (now.children_user - self._times.children_user) + (now.children_system - self._times.children_system)
        return {"main": own, "children": descendants / TICK + waited, "processes": len(self._seen)}


# ---------------------------------------------------------------- one flow
@dataclass
class Flow:
    index: int
    start_seconds: float | None = None
    submit_seconds: float | None = None
    task_id: str | None = None
    submitted: bool = False  # answered 105: its callback is due
    errors: list[str] = field(default_factory=list)
    still_processing: int = 0
    client_cpu: float = 0.0


def _still_processing(answer: dict) -> bool:
    return answer.get("code") == "104" and STILL_PROCESSING in str(answer.get("message", ""))


def _settle(http: requests.Session, stack, answer: dict, done, flow: Flow) -> dict:
    """After a 处理中 answer, ask GET until the task reaches its checkpoint (as an app would)."""
    deadline = time.monotonic() + CALLBACK_SECONDS
    while _still_processing(answer) and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = http.get(f"{stack.api_url}/carrier/auth/{answer['data']['task_id']}", timeout=HTTP_TIMEOUT).json()
    if not done(answer):
        flow.errors.append(f"unexpected answer {answer}")
    return answer


def run_flow(stack, flow: Flow, together: threading.Barrier, slots: threading.Semaphore) -> None:
    cpu = time.thread_time()
    http = requests.Session()
    http.headers["x-api-key"] = stack.api_key
    try:
        together.wait()
        with slots:
            _journey(stack, flow, http)
    except Exception as exc:  # noqa: BLE001 - every failure is a result here
        flow.errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    finally:
        http.close()
        flow.client_cpu = time.thread_time() - cpu


def _journey(stack, flow: Flow, http: requests.Session) -> None:
    """Start, expect 90001, submit the code, expect 105 (the callback is awaited by main)."""
    body = {
        "userId": f"bench-{flow.index}-{uuid.uuid4().hex[:8]}", "mobile_no": "13800138000",
        "identity_card": "11010519491231002X", "name": "张三", "password": "bench-pass",
        "submitTime": int(time.time() * 1000),
        "callback_set": {"callback_url": stack.receiver.url, "token": f"bench-{flow.index}"},
    }
    began = time.perf_counter()
    resp = http.post(stack.api_url + "/carrier/auth", json=body, timeout=HTTP_TIMEOUT)
    flow.start_seconds = time.perf_counter() - began
    first = resp.json()
    flow.task_id = (first.get("data") or {}).get("task_id")
    if _still_processing(first):
        flow.still_processing += 1
        flow.errors.append("start answered 处理中")
        first = _settle(http, stack, first, lambda a: a["data"].get("guide_code") == "90001", flow)
    elif resp.status_code != 200 or first.get("code") != "104" or first["data"].get("guide_code") != "90001":
        flow.errors.append(f"start: HTTP {resp.status_code} {first}")
        return
    if not first.get("trace_id") or not flow.task_id:
        flow.errors.append(f"start without trace_id or task_id: {first}")
        return
    submit = {**{k: body[k] for k in ("userId", "mobile_no", "identity_card")},
              "submitTime": int(time.time() * 1000),
              "traceId": first["trace_id"], "task_id": flow.task_id, "auth_code": "123456"}
    began = time.perf_counter()
    resp = http.post(stack.api_url + "/carrier/auth/code", json=submit, timeout=HTTP_TIMEOUT)
    flow.submit_seconds = time.perf_counter() - began
    second = resp.json()
    if _still_processing(second):
        flow.still_processing += 1
        flow.errors.append("submit answered 处理中")
        second = _settle(http, stack, second, lambda a: a.get("code") == "105", flow)
    elif resp.status_code != 200 or second.get("code") != "105":
        flow.errors.append(f"submit: HTTP {resp.status_code} {second}")
    flow.submitted = second.get("code") == "105"


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95 = statistics.median(values) * 1000, _percentile(values, 0.95) * 1000
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(values) * 1000:.0f} ms"


def main() -> None:
    from local.stack import EmbeddedStack

    stack = EmbeddedStack(api_port=0, moto_port=0, poll_interval=0).start()
    flows = [Flow(i) for i in range(FLOWS)]
    together = threading.Barrier(FLOWS + 1, timeout=120)
    slots = threading.Semaphore(CONCURRENCY)
    threads = [threading.Thread(target=run_flow, args=(stack, f, together, slots), daemon=True) for f in flows]
    cpu = TreeCpu()
    try:
        stats_before = stack.registry.stats() if hasattr(stack.registry, "stats") else {}
        cpu.start()  # the client threads' own CPU is measured (thread_time) and left out
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        together.wait()
        for thread in threads:
            thread.join(timeout=max(0.1, began + CALLBACK_SECONDS * 2 - time.perf_counter()))
        answered = time.perf_counter() - began
        deadline = time.monotonic() + CALLBACK_SECONDS
        missing = 0
        for flow in (f for f in flows if f.submitted):
            if stack.receiver.wait_for(flow.task_id, timeout=max(0.1, deadline - time.monotonic())) is None:
                flow.errors.append("no callback")
                missing += 1
        wall = time.perf_counter() - began
        # the callback function records the delivery after the receiver answered: let it finish
        quiet = time.monotonic() + 30
        while time.monotonic() < quiet and _busy(stack):
            time.sleep(0.1)
        used = cpu.stop()
        stats = stack.registry.stats() if hasattr(stack.registry, "stats") else {}
    finally:
        stack.stop()

    errors = [f for f in flows if f.errors]
    client = sum(f.client_cpu for f in flows)
    stack_cpu = used["main"] - client + used["children"]
    print(f"flows: {FLOWS}, at most {CONCURRENCY} at once (max environments per function {stack.max_environments})")
    print(f"errors: {len(errors)} flows ({missing} without callback)")
    for f in errors[:5]:
        print(f"  flow {f.index}: {f.errors[0][:300]}")
    print(f"处理中 answers: {sum(f.still_processing for f in flows)}")
    print(f"wall: all answers {answered:.1f} s, all callbacks {wall:.1f} s")
    print(f"POST /carrier/auth:      {_ms([f.start_seconds for f in flows if f.start_seconds is not None])}")
    print(f"POST /carrier/auth/code: {_ms([f.submit_seconds for f in flows if f.submit_seconds is not None])}")
    print(f"stack CPU per flow: {stack_cpu / FLOWS:.3f} s  (this process {(used['main'] - client) / FLOWS:.3f} s, "
          f"children {used['children'] / FLOWS:.3f} s over {used['processes']} processes; "
          f"bench client threads {client / FLOWS:.3f} s, left out)")
    if stats:
        print("per function: invocations, billed seconds (during the run)")
        for name, numbers in sorted(stats.items()):
            before = stats_before.get(name, {"invocations": 0, "billed_seconds": 0.0})
            n = numbers["invocations"] - before["invocations"]
            if n:
                print(f"  {name:<24} {n:>6}  {numbers['billed_seconds'] - before['billed_seconds']:9.3f} s")


def _busy(stack) -> bool:
    """Whether a callback is still queued or being delivered."""
    attrs = stack.client("sqs").get_queue_attributes(
        QueueUrl=stack.queues["CallbackQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return any(int(v) for v in attrs.values())


if __name__ == "__main__":
    main()
