"""AWS cost per 1,000 flows, with its arithmetic (list prices, no free tier).

Other benchmarks measure what ONE flow uses (``FlowCounts``) and call ``estimate`` to price it::

    from bench.cost import FlowCounts, estimate
    est = estimate(counts, region="us-east-1")      # or "cn-north-1" (CNY, aws-cn partition)
    print("\\n".join(est.lines)); print(est.total_per_1000)

Lambda compute is priced with each function's MemorySize and architecture read from
template.yaml (Globals applied), so a template change is priced without touching this file.
DynamoDB is priced in request units: turn each request into units with ``dynamodb_item_size``
and ``read_units`` / ``write_units`` (a write is charged on the larger of the item before and
after it, the whole item, not only the attributes it changes).

Prices are first-tier list prices without any free tier, checked on ``PRICES_AS_OF``; each one
carries its source, and the ones that could not be confirmed say so (``assumption=True``).
Nothing is downloaded at run time.

Run ``PYTHONPATH=layers/common:. .venv/bin/python -m bench.cost`` for the example: the lean
happy one-SMS flow (issue 8) as measured on the embedded stack (``bench/direct_vs_gateway.py``),
priced in both regions twice: with the 2 collection polls of the measurement and with
production collection (20 polls, ``MaxCollectPolls``). ``--polls N`` (repeatable) prices other
poll counts, ``--prices`` lists the price table.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PRICES_AS_OF = "2026-11-23"


# ---------------------------------------------------------------------------------- inputs
@dataclass
class FlowCounts:
    """What ONE flow uses, as measured (or assumed). Everything is per flow."""

    transitions: float  # Step Functions Standard state transitions (retries count)
    lambda_invocations: dict[str, float]  # function logical id (as in template.yaml) -> invocations
    lambda_billed_seconds: dict[str, float]  # function logical id -> summed billed duration, seconds
    dynamodb_read_units: float  # read request units (on-demand)
    dynamodb_write_units: float  # write request units
    kms_requests: float
    sqs_requests: float  # each 64 KB chunk of a request is one request
    eventbridge_events: float  # custom events published (PutEvents entries)
    api_requests: float  # API Gateway REST API requests


@dataclass
class Estimate:
    region: str
    currency: str
    total_per_1000: float
    lines: list[str]  # one line per service, with its arithmetic
    per_service: dict[str, float]
    notes: list[str] = field(default_factory=list)  # assumptions the figures rest on


# ---------------------------------------------------------------------------------- prices
@dataclass(frozen=True)
class Price:
    value: float  # in the region's currency ...
    per: float  # ... for this many units
    unit: str  # what is counted, e.g. "transitions"
    source: str
    assumption: bool = False  # True: not confirmed on a published price page


_AWS_STEP = "https://aws.amazon.com/step-functions/pricing/ (US East (N. Virginia) row)"
_AWS_LAMBDA = ("https://aws.amazon.com/lambda/pricing/ (first tier; Arm $0.0000133334, x86 $0.0000166667 "
               "per GB-s, $0.20 per 1M requests)")
_AWS_DDB = ("https://aws.amazon.com/dynamodb/pricing/on-demand/ - on-demand throughput was cut 50% "
            "on 2024-11-01: $0.625 per 1M WRU, $0.125 per 1M RRU (was $1.25 / $0.25)")
_AWS_KMS = "https://aws.amazon.com/kms/pricing/ ($0.03 per 10,000 requests, symmetric keys)"
_AWS_SQS = "https://aws.amazon.com/sqs/pricing/ (standard queue, first 100 B requests/month)"
_AWS_EB = "https://aws.amazon.com/eventbridge/pricing/ (custom events, per 64 KB chunk)"
_AWS_APIGW = ("https://aws.amazon.com/api-gateway/pricing/ and the AWS whitepaper 'Best practices for "
              "API Gateway private APIs', table 4 (REST, first 333 M requests/month)")

_CN_PAGE = "https://www.amazonaws.cn/en/dynamodb/pricing/ (China (Beijing) and China (Ningxia) Regions)"
_CN_AWSLABS_SDP = ("awslabs/sensitive-data-protection-on-aws docs/en/plan-deployment/cost.md, "
                   "China (Ningxia) prices as of 2023-06")
_CN_AWSLABS_AISK = ("awslabs/aws-ai-solution-kit docs (include-deploy-cost*.md), China (Ningxia) "
                    "prices as of 2022-05/06")

PRICES: dict[str, dict[str, Any]] = {
    "us-east-1": {
        "currency": "USD",
        "symbol": "$",
        "partition": "aws",
        "step_functions_transition": Price(0.025, 1_000, "transitions", _AWS_STEP),
        "lambda_request": Price(0.20, 1_000_000, "requests", _AWS_LAMBDA),
        "lambda_gb_second_arm64": Price(0.0000133334, 1, "GB-s", _AWS_LAMBDA),
        "lambda_gb_second_x86_64": Price(0.0000166667, 1, "GB-s", _AWS_LAMBDA),
        "dynamodb_read_unit": Price(0.125, 1_000_000, "RRU", _AWS_DDB),
        "dynamodb_write_unit": Price(0.625, 1_000_000, "WRU", _AWS_DDB),
        "kms_request": Price(0.03, 10_000, "requests", _AWS_KMS),
        "sqs_request": Price(0.40, 1_000_000, "requests", _AWS_SQS),
        "eventbridge_event": Price(1.00, 1_000_000, "events", _AWS_EB),
        "api_request": Price(3.50, 1_000_000, "requests", _AWS_APIGW),
    },
    "cn-north-1": {
        "currency": "CNY",
        "symbol": "¥",
        "partition": "aws-cn",
        # Published as CNY 0.0002102 per state transition (Ningxia); Beijing assumed equal.
        "step_functions_transition": Price(
            0.2102, 1_000, "transitions",
            _CN_AWSLABS_SDP + "; Beijing assumed equal to Ningxia", assumption=True),
        "lambda_request": Price(1.36, 1_000_000, "requests", _CN_AWSLABS_SDP + "; Beijing assumed equal",
                                assumption=True),
        # CNY 0.0000001135 per ms for 1 GB (x86) = 0.0001135 per GB-s; Arm = x86 x 0.8, as in us-east-1.
        "lambda_gb_second_x86_64": Price(0.0001135, 1, "GB-s", _CN_AWSLABS_SDP + " (x86); Beijing assumed equal",
                                         assumption=True),
        "lambda_gb_second_arm64": Price(
            0.0000908, 1, "GB-s",
            "not found: x86 CNY 0.0001135 x 0.8 (the Arm/x86 ratio of every public region)", assumption=True),
        # Write price read on amazonaws.cn; that page may predate the 2024-11 cut (CNY 11.1538 is
        # 8.9x the old $1.25, while the other CNY prices here are ~8.3x the USD ones). If China got
        # the cut too, both DynamoDB prices halve.
        "dynamodb_write_unit": Price(11.1538, 1_000_000, "WRU",
                                     _CN_PAGE + "; may predate the 2024-11 on-demand price cut",
                                     assumption=True),
        "dynamodb_read_unit": Price(2.2308, 1_000_000, "RRU",
                                    "not shown in the excerpt: write price / 5, the read:write ratio of "
                                    "every DynamoDB price list (provisioned CN: 0.058/50 RCU vs /10 WCU)",
                                    assumption=True),
        "kms_request": Price(0.25, 10_000, "requests",
                             "not found: $0.03 x 8.3 (the CNY/USD ratio of the confirmed SQS, Step "
                             "Functions and API Gateway prices)", assumption=True),
        "sqs_request": Price(3.33, 1_000_000, "requests", _CN_AWSLABS_SDP + "; Beijing assumed equal",
                             assumption=True),
        "eventbridge_event": Price(6.75, 1_000_000, "events",
                                   "third-party README (Ningxia): cross-account delivery CNY 6.75/M; custom "
                                   "events assumed the same rate, as both are $1.00/M in us-east-1",
                                   assumption=True),
        "api_request": Price(28.94, 1_000_000, "requests", _CN_AWSLABS_AISK + "; Beijing assumed equal",
                             assumption=True),
    },
}
# The China prices above come from Ningxia sources; the same table is used for both China Regions.
PRICES["cn-northwest-1"] = {**PRICES["cn-north-1"], "partition": "aws-cn"}


# ---------------------------------------------------------------------------------- template
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags as their long form (!Ref -> {"Ref": x})."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def _template_path(template: str) -> Path:
    path = Path(template)
    if not path.is_absolute() and not path.exists():
        path = ROOT / template
    return path


def _load_template(template: str) -> dict[str, Any]:
    with _template_path(template).open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return parameters[value["Ref"]].get("Default")
    return value


@dataclass(frozen=True)
class FunctionSpec:
    memory_mb: int
    architecture: str  # "arm64" or "x86_64"


def function_specs(template: str = "template.yaml") -> dict[str, FunctionSpec]:
    """Logical id -> MemorySize and architecture of every function (Globals applied; Lambda's
    own defaults, 128 MB and x86_64, where neither the function nor Globals set them)."""
    doc = _load_template(template)
    parameters = doc.get("Parameters") or {}
    glob = ((doc.get("Globals") or {}).get("Function")) or {}
    specs: dict[str, FunctionSpec] = {}
    for logical, resource in (doc.get("Resources") or {}).items():
        if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            continue
        props = resource.get("Properties") or {}
        serverless = resource["Type"] == "AWS::Serverless::Function"
        memory = _resolve(props.get("MemorySize", glob.get("MemorySize") if serverless else None), parameters)
        archs = _resolve(props.get("Architectures", glob.get("Architectures") if serverless else None),
                         parameters)
        arch = archs[0] if isinstance(archs, list) and archs else "x86_64"
        specs[logical] = FunctionSpec(int(memory) if memory is not None else 128, str(arch))
    return specs


def function_memory_mb(template: str = "template.yaml") -> dict[str, int]:
    """Logical id -> MemorySize in MB (Globals applied). Architectures: ``function_architectures``."""
    return {name: spec.memory_mb for name, spec in function_specs(template).items()}


def function_architectures(template: str = "template.yaml") -> dict[str, str]:
    """Logical id -> "arm64" / "x86_64" (Globals applied; x86_64 when Architectures is absent)."""
    return {name: spec.architecture for name, spec in function_specs(template).items()}


def _globals_spec(template: str) -> FunctionSpec:
    doc = _load_template(template)
    parameters = doc.get("Parameters") or {}
    glob = ((doc.get("Globals") or {}).get("Function")) or {}
    memory = _resolve(glob.get("MemorySize"), parameters)
    archs = _resolve(glob.get("Architectures"), parameters)
    return FunctionSpec(int(memory) if memory is not None else 128,
                        str(archs[0]) if isinstance(archs, list) and archs else "x86_64")


# ---------------------------------------------------------------------------------- DynamoDB
def _number_size(value: Any) -> int:
    digits = Decimal(str(value)).normalize().as_tuple().digits
    significant = len(digits) if any(digits) else 1
    return math.ceil(significant / 2) + 1


def _value_size(value: Any, typed: bool) -> int:
    if typed:
        ((kind, inner),) = value.items()
        if kind == "S":
            return len(inner.encode("utf-8"))
        if kind == "N":
            return _number_size(inner)
        if kind == "B":
            return len(inner)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(s.encode("utf-8")) for s in inner)
        if kind == "NS":
            return sum(_number_size(n) for n in inner)
        if kind == "BS":
            return sum(len(b) for b in inner)
        if kind == "L":
            return 3 + sum(_value_size(v, True) + 1 for v in inner)
        if kind == "M":
            return 3 + sum(len(k.encode("utf-8")) + _value_size(v, True) + 1 for k, v in inner.items())
        raise ValueError(f"unknown DynamoDB type {kind!r}")
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, (int, float, Decimal)):
        return _number_size(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(bytes(value))
    if hasattr(value, "value") and isinstance(getattr(value, "value"), (bytes, bytearray)):  # boto3 Binary
        return len(value.value)
    if isinstance(value, (set, frozenset)):
        return sum(_value_size(v, False) for v in value)
    if isinstance(value, (list, tuple)):
        return 3 + sum(_value_size(v, False) + 1 for v in value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + _value_size(v, False) + 1 for k, v in value.items())
    raise TypeError(f"cannot size a {type(value).__name__} as a DynamoDB value")


def dynamodb_item_size(item: dict, *, typed: bool = False) -> int:
    """Approximate DynamoDB item size in bytes, per the item-size rules: each attribute is its
    name's UTF-8 length plus its value's size; strings are UTF-8 bytes, binaries their length,
    numbers ~1 byte per 2 significant digits + 1, booleans and nulls 1, lists and maps 3 bytes
    plus 1 byte per element (map elements also count their key), sets the sum of their elements.

    ``item`` holds plain Python values (boto3 resource style); ``typed=True`` takes the
    low-level form ({"S": "..."}, {"N": "1"}, ...) that the boto3 client returns."""
    return sum(len(str(name).encode("utf-8")) + _value_size(value, typed) for name, value in item.items())


def read_units(item_size: int, consistent: bool = True) -> int | float:
    """Read request units of one GetItem: ceil(size / 4 KB) strongly consistent (minimum 1),
    half of that eventually consistent."""
    units = max(1, math.ceil(item_size / 4096))
    return units if consistent else units / 2


def write_units(item_size: int) -> int:
    """Write request units of one PutItem / UpdateItem / DeleteItem: ceil(size / 1 KB), minimum 1
    (size = the larger of the item before and after the write)."""
    return max(1, math.ceil(item_size / 1024))


# ---------------------------------------------------------------------------------- pricing
def _num(value: float) -> str:
    """A count or a quantity, compact: 7, 27, 3.575, 0.0054."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.6g}" if abs(value) >= 1 else f"{value:.4g}"


def _money(value: float, symbol: str) -> str:
    if value == 0:
        return f"{symbol}0"
    if abs(value) >= 100:
        return f"{symbol}{value:,.2f}"
    return f"{symbol}{value:.4g}" if abs(value) < 1 else f"{symbol}{value:,.4g}"


def _per(price: Price, symbol: str) -> str:
    names = {1: "", 1_000: "/1,000", 10_000: "/10,000", 1_000_000: "/1M"}
    value = f"{price.value:.10f}".rstrip("0").rstrip(".")
    if price.per >= 10_000 and len(value.partition(".")[2]) < 2:
        value = f"{price.value:.2f}"
    return f"{symbol}{value}{names.get(int(price.per), f'/{int(price.per):,}')}" + (
        f"/{price.unit}" if price.per == 1 else "")


def prices_for(region: str) -> dict[str, Any]:
    try:
        return PRICES[region]
    except KeyError:
        raise ValueError(f"no prices for {region!r}; known: {', '.join(sorted(PRICES))}") from None


def estimate(counts: FlowCounts, region: str = "us-east-1", template: str = "template.yaml") -> Estimate:
    """Price one flow's counts for 1,000 flows in ``region`` (list prices, no free tier)."""
    table = prices_for(region)
    sym = table["symbol"]
    flows = 1_000
    lines: list[str] = []
    per_service: dict[str, float] = {}
    notes: list[str] = []
    used: list[Price] = []

    def simple(service: str, quantity: float, key: str, what: str) -> None:
        price: Price = table[key]
        used.append(price)
        cost = quantity * price.value / price.per * flows
        per_service[service] = cost
        what = what[:-1] if quantity == 1 and what.endswith("s") else what
        lines.append(f"{service}: {_num(quantity)} {what} × {_per(price, sym)} × {flows:,} flows = "
                     f"{_money(cost, sym)}")

    simple("Step Functions", counts.transitions, "step_functions_transition", "transitions")

    # Lambda: requests + GB-seconds at each function's memory and architecture.
    specs = function_specs(template)
    fallback = None
    invocations = sum(counts.lambda_invocations.values())
    gb_seconds: dict[str, float] = {}
    for name in sorted(set(counts.lambda_invocations) | set(counts.lambda_billed_seconds)):
        spec = specs.get(name)
        if spec is None:
            fallback = fallback or _globals_spec(template)
            spec = fallback
            notes.append(f"{name} is not in {template}: priced with Globals ({spec.memory_mb} MB, "
                         f"{spec.architecture})")
        seconds = counts.lambda_billed_seconds.get(name, 0.0)
        gb_seconds[spec.architecture] = gb_seconds.get(spec.architecture, 0.0) + seconds * spec.memory_mb / 1024
    request_price: Price = table["lambda_request"]
    used.append(request_price)
    request_cost = invocations * request_price.value / request_price.per * flows
    parts = [f"{_num(invocations)} request{'' if invocations == 1 else 's'} × {_per(request_price, sym)}"]
    compute_cost = 0.0
    for arch, gbs in sorted(gb_seconds.items()):
        price = table[f"lambda_gb_second_{arch}"]
        used.append(price)
        compute_cost += gbs * price.value * flows
        parts.append(f"{_num(round(gbs, 6))} GB-s ({arch}) × {_per(price, sym)}")
    per_service["Lambda"] = request_cost + compute_cost
    lines.append(f"Lambda: ({' + '.join(parts)}) × {flows:,} flows = {_money(request_cost, sym)} requests + "
                 f"{_money(compute_cost, sym)} compute = {_money(per_service['Lambda'], sym)}")

    read_price, write_price = table["dynamodb_read_unit"], table["dynamodb_write_unit"]
    used += [read_price, write_price]
    read_cost = counts.dynamodb_read_units * read_price.value / read_price.per * flows
    write_cost = counts.dynamodb_write_units * write_price.value / write_price.per * flows
    per_service["DynamoDB"] = read_cost + write_cost
    lines.append(f"DynamoDB: ({_num(counts.dynamodb_read_units)} RRU × {_per(read_price, sym)} + "
                 f"{_num(counts.dynamodb_write_units)} WRU × {_per(write_price, sym)}) × {flows:,} flows = "
                 f"{_money(per_service['DynamoDB'], sym)}")

    simple("KMS", counts.kms_requests, "kms_request", "requests")
    simple("SQS", counts.sqs_requests, "sqs_request", "requests")
    simple("EventBridge", counts.eventbridge_events, "eventbridge_event", "events")
    simple("API Gateway", counts.api_requests, "api_request", "requests")

    total = sum(per_service.values())
    for price in dict.fromkeys(used):
        if price.assumption:
            notes.append(f"assumed {_per(price, sym)}: {price.source}")
    return Estimate(region=region, currency=table["currency"], total_per_1000=total, lines=lines,
                    per_service=per_service, notes=notes)


# ---------------------------------------------------------------------------------- example
# The happy one-SMS flow as measured on the embedded stack (bench/direct_vs_gateway.py, 10 flows,
# 200 ms per upstream call, a new person every flow, 2 collection polls; 2026-11-23). The
# per-poll terms below turn it into a flow with any number of polls.
MEASURED_POLLS = 2
MEASURED_TRANSITIONS = 6  # Begin, Route, CarrierInput, Route, Collect, Finish (polls add none)
MEASURED_KMS = 7  # start 2 Encrypt, submit 1 Encrypt, Begin 1 Decrypt, CarrierInput 2 Decrypt, callback 1 Decrypt
# DynamoDB at 2 polls: 29.5 GetItem (consistent, except the identity cache's lookup), 3 PutItem
# (session, idempotency record, identity cache), 11 UpdateItem (the idempotency record's one
# included), sized with the rules above by bench/_aws_counter.CapacityMeter.
MEASURED_RRU = 29
MEASURED_WRU = 24
# Session item sizes measured on the embedded stack (13800138000, one flow) with
# dynamodb_item_size: while waiting for the SMS code and at the end (callback delivered).
# (An image captcha stored on the item would add its base64 size to every later write.)
SESSION_ITEM_BYTES_WAITING = 1_547  # -> 2 WRU per write, 1 RRU per consistent read
SESSION_ITEM_BYTES_FINAL = 1_758  # -> 2 WRU, 1 RRU
IDEMPOTENCY_ITEM_BYTES = 523  # Powertools idempotency record -> 1 WRU
# Billed seconds measured at 200 ms per upstream call (the local runtime's wall time of each
# invocation): the facades wait for the next checkpoint (start: identity check + login, 3
# upstream calls; submit: the code, 1 call), the steps' 3 invocations make 4 calls, Callback none.
# The steps' 1.0 s was measured as one function (before issue 12 gave each Task its own); it is
# split here by their upstream calls: login 3 (identity check and login), send_input 1, publish 0.
# A poll is one job-status call; the first one also fetches Juxinli's report token.
MEASURED_SECONDS = {"StartFunction": 0.7, "SubmitCodeFunction": 0.35, "LoginFunction": 0.6,
                    "SendInputFunction": 0.3, "PublishResultFunction": 0.1, "CallbackFunction": 0.06}
POLL_SECONDS = 0.25  # one collection poll at 200 ms upstream latency (0.70 s measured for 2)
FIRST_POLL_EXTRA_SECONDS = 0.2  # the report-token call of the first poll


def example_counts(polls: int = 20, poll_seconds: float = POLL_SECONDS, status_gets: int = 0) -> FlowCounts:
    """The lean happy one-SMS flow of issue 8 (statemachine/carrier_auth.asl.json), as measured
    with 2 collection polls and extended to ``polls`` polls.

    Step Functions: Begin -> Route -> CarrierInput -> Route -> Collect -> Finish (6 transitions;
    ``Ended`` is not on the happy path). Collection polls run outside Step Functions: ``Collect``
    is sqs:sendMessage.waitForTaskToken (DelaySeconds = PollIntervalSeconds); CollectFunction
    polls once per receive of the task's message, then SendTaskSuccess (and the message is
    deleted) or sets the message's visibility to PollIntervalSeconds.

    Per poll: 1 CollectFunction invocation (a batch of up to 10 messages shares one at load, so
    this is an upper bound), 1 consistent session read (1 RRU) and no write while it only learns
    "still running" (``flow.collect_poll`` writes when the provider state changes or the poll
    decides: with Juxinli the first poll caches the report token and the deciding poll writes,
    both in the measured 24 WRU), 2 SQS requests (a receive, ChangeMessageVisibility or the
    delete). SQS also has the Collect state's SendMessage and the callback queue's 3 (EventBridge's
    delivery, the receive, the delete): the measurement counted 7 at 2 polls, without
    EventBridge's delivery, which moto makes internally. A status GET adds 1 API request, 1
    StatusFunction invocation and 1 consistent read."""
    if polls < 1:
        raise ValueError("a collecting flow polls at least once")
    read = read_units(SESSION_ITEM_BYTES_FINAL)
    write = write_units(SESSION_ITEM_BYTES_FINAL)
    rru = MEASURED_RRU + (polls - MEASURED_POLLS) * read + status_gets * read
    # one poll alone both learns the report token and decides: one session write less
    wru = MEASURED_WRU - (MEASURED_POLLS - min(polls, MEASURED_POLLS)) * write
    invocations = {
        "StartFunction": 1, "SubmitCodeFunction": 1,
        "LoginFunction": 1, "SendInputFunction": 1, "PublishResultFunction": 1,  # Begin, CarrierInput, Finish
        "CollectFunction": polls, "CallbackFunction": 1,
    }
    seconds = {**MEASURED_SECONDS, "CollectFunction": FIRST_POLL_EXTRA_SECONDS + polls * poll_seconds}
    if status_gets:
        invocations["StatusFunction"] = status_gets
        seconds["StatusFunction"] = 0.05 * status_gets
    return FlowCounts(
        transitions=MEASURED_TRANSITIONS, lambda_invocations=invocations, lambda_billed_seconds=seconds,
        dynamodb_read_units=rru, dynamodb_write_units=wru, kms_requests=MEASURED_KMS,
        sqs_requests=4 + 2 * polls, eventbridge_events=1, api_requests=2 + status_gets,
    )


def _print_estimate(counts: FlowCounts, region: str, template: str) -> Estimate:
    est = estimate(counts, region, template)
    sym = PRICES[region]["symbol"]
    print(f"\n  {region} ({est.currency}, partition {PRICES[region]['partition']}), per 1,000 flows:")
    for line in est.lines:
        print(f"    {line}")
    share = ", ".join(f"{k} {v / est.total_per_1000:.0%}" for k, v in
                      sorted(est.per_service.items(), key=lambda kv: -kv[1]))
    print(f"    Total: {_money(est.total_per_1000, sym)} per 1,000 flows ({share})")
    return est


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, action="append",
                        help="collection polls per flow, repeatable (default: 2 as measured, 20 = MaxCollectPolls)")
    parser.add_argument("--poll-seconds", type=float, default=POLL_SECONDS, help="billed seconds of one poll")
    parser.add_argument("--status-gets", type=int, default=0, help="GET /carrier/auth/{id} per flow")
    parser.add_argument("--region", action="append", help="us-east-1, cn-north-1 (default: both)")
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--prices", action="store_true", help="print the price table with sources")
    args = parser.parse_args(argv)

    regions = args.region or ["us-east-1", "cn-north-1"]
    specs = function_specs(args.template)
    print(f"Prices: list prices, first tier, no free tier, checked {PRICES_AS_OF}.")
    print("Functions (template.yaml, Globals applied): "
          + ", ".join(f"{n} {s.memory_mb} MB {s.architecture}" for n, s in sorted(specs.items())))
    totals: list[tuple[int, dict[str, Estimate]]] = []
    for polls in args.polls or [MEASURED_POLLS, 20]:
        counts = example_counts(polls, args.poll_seconds, args.status_gets)
        what = "as measured" if polls == MEASURED_POLLS else (
            "production collection, MaxCollectPolls" if polls == 20 else "measured flow, polls changed")
        print(f"\nExample: lean happy one-SMS flow, {polls} collection poll{'' if polls == 1 else 's'} ({what}), "
              f"{args.status_gets} status GETs:")
        print(f"  {counts}")
        totals.append((polls, {region: _print_estimate(counts, region, args.template) for region in regions}))
    print("\nSummary, per 1,000 flows:")
    for polls, by_region in totals:
        print(f"  {polls:>3} polls: " + ", ".join(
            f"{region} {_money(est.total_per_1000, PRICES[region]['symbol'])}" for region, est in by_region.items()))
    notes = list(dict.fromkeys(n for _, by_region in totals for est in by_region.values() for n in est.notes))
    if notes:
        print("Notes:")
        for note in notes:
            print(f"  {note}")
    if args.prices:
        for region, table in PRICES.items():
            print(f"\n{region} ({table['currency']}):")
            for key, price in table.items():
                if isinstance(price, Price):
                    flag = " [ASSUMPTION]" if price.assumption else ""
                    unit = "" if price.per == 1 else f" {price.unit}"
                    print(f"  {key}: {_per(price, table['symbol'])}{unit}{flag} - {price.source}")


if __name__ == "__main__":
    main()
