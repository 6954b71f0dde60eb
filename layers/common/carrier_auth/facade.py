"""The API facades: validate, signal the state machine, wait for its next checkpoint, answer.

They never decide the flow: the state machine's steps write every checkpoint. A facade only
creates the session (start), claims the parked task token (submit / resend) and renders
the seed-000 envelope from the session item.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.exceptions import ClientError

from . import aws, callback, codes, crypto, sessions
from .config import get_settings
from .envelope import envelope, guide, task_data
from .errors import ApiError
from .validation import (
    StartRequest,
    SubmitRequest,
    TaskRequest,
    identity_guide_code,
    normalise_id_number,
    normalise_mobile,
    parse,
)

logger = Logger(child=True)

STILL_PROCESSING = "处理中，请稍后通过 GET /carrier/auth/{task_id} 查询结果"
STALE_TRACE = "traceId已失效或任务当前不等待验证码，请使用最近一次返回的trace_id"
EXPIRED_TOKENS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


def render(item: dict[str, Any]) -> dict[str, Any]:
    """The envelope for a session's current checkpoint (trace_id = the one the next call needs)."""
    task_id = item["task_id"]
    ans = item.get("answer")
    if not ans or item["status"] in (sessions.PENDING, sessions.PROCESSING):
        return envelope(codes.IN_PROGRESS, STILL_PROCESSING, task_data(task_id), item["trace_id"])
    data = task_data(task_id, ans["guide_code"], ans["guide_message"], ans["auth_code"])
    return envelope(ans["code"], ans["message"], data, item["trace_id"])


def _deadline() -> float:
    return time.monotonic() + get_settings().facade_wait_seconds


# ---------------------------------------------------------------- start
def start(body: str | None) -> tuple[int, dict]:
    req: StartRequest = parse(StartRequest, body)
    bad = identity_guide_code(req.mobile_no, req.identity_card, req.name)
    if bad:
        return 200, guide("", bad)
    callback.check_url_for_api(req.callback_set.callback_url)

    settings = get_settings()
    task_id = str(uuid.uuid4())
    logger.append_keys(task_id=task_id)
    mobile = normalise_mobile(req.mobile_no) or req.mobile_no
    id_number = normalise_id_number(req.identity_card) or req.identity_card
    identity = json.dumps({"name": req.name, "id_number": id_number, "mobile": mobile}, ensure_ascii=False)
    item = {
        "task_id": task_id,
        "user_id": req.userId,
        "mobile_masked": crypto.mask_mobile(mobile),
        "id_masked": crypto.mask_id_number(id_number),
        "name_masked": crypto.mask_name(req.name),
        "mobile_hash": crypto.keyed_hash(mobile),
        "id_hash": crypto.keyed_hash(id_number),
        "identity_enc": crypto.encrypt(task_id, identity),
        "password_enc": crypto.encrypt(task_id, req.password),
        "callback_url": req.callback_set.callback_url,
        "submit_time": req.submitTime,
    }
    if req.callback_set.token:
        item["callback_token_enc"] = crypto.encrypt(task_id, req.callback_set.token)
    sessions.create(item)
    execution_input = {
        "task_id": task_id,
        "settings": {
            "input_timeout": settings.input_timeout_seconds,
            "poll_interval": settings.poll_interval_seconds,
        },
    }
    try:
        aws.client("stepfunctions").start_execution(
            stateMachineArn=settings.state_machine_arn, name=task_id, input=json.dumps(execution_input)
        )
    except ClientError:
        sessions.checkpoint(task_id, sessions.ERROR, sessions.answer(codes.SYSTEM_ERROR))
        raise
    logger.info("task started", extra={"mobile": item["mobile_masked"]})
    item = sessions.wait_for_checkpoint(task_id, 0, _deadline())
    return 200, render(item)


# ---------------------------------------------------------------- submit / resend
def _bind(req: TaskRequest, session: dict[str, Any]) -> None:
    """A call on a task must come for the same user, phone and id number that started it."""
    mismatched = []
    if req.userId != session["user_id"]:
        mismatched.append("userId")
    mobile = normalise_mobile(req.mobile_no) or req.mobile_no
    if not hmac.compare_digest(crypto.keyed_hash(mobile), session["mobile_hash"]):
        mismatched.append("mobile_no")
    id_number = normalise_id_number(req.identity_card) or req.identity_card
    if not hmac.compare_digest(crypto.keyed_hash(id_number), session["id_hash"]):
        mismatched.append("identity_card")
    if mismatched:
        raise ApiError(403, f"请求信息与任务不一致: {', '.join(mismatched)}", task_data(session["task_id"]))


def _body_digest(body: str) -> str:
    """A keyed digest of the whole request body: replays match it, the code never leaves memory."""
    canonical = json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hmac.new(crypto.keyed_hash("request-digest").encode(), canonical, hashlib.sha256).hexdigest()


def _signal(request: dict[str, Any], code: str | None = None) -> dict[str, Any]:
    """Claim the parked token, hand the input to the machine, wait for what it answers next."""
    task_id, trace_id, action = request["task_id"], request["traceId"], request["action"]
    claimed = sessions.claim_token(task_id, trace_id)
    if claimed is None:
        current = sessions.get(task_id)
        if current is None:  # expired (TTL) between the binding check and the claim
            raise ApiError(404, "任务不存在", task_data(task_id))
        if current["status"] in sessions.FINAL:
            return {"status": 200, "body": render(current)}
        body = render(current)
        body.update(code=codes.SYSTEM_ERROR, message=STALE_TRACE)
        return {"status": 409, "body": body}
    output: dict[str, Any] = {"action": action}
    if code is not None:
        output["code_enc"] = crypto.encrypt(task_id, code)
    try:
        aws.client("stepfunctions").send_task_success(taskToken=claimed["task_token"], output=json.dumps(output))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in EXPIRED_TOKENS:
            raise
        logger.info("task token expired before the input arrived")
        return {"status": 200, "body": guide(task_id, codes.INPUT_TIMEOUT)}
    item = sessions.wait_for_checkpoint(task_id, int(claimed["seq"]), _deadline())
    return {"status": 200, "body": render(item)}


@cache
def _idempotency() -> tuple[DynamoDBPersistenceLayer, IdempotencyConfig]:
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(expires_after_seconds=3600, raise_on_no_idempotency_key=True)
    return persistence, config


def register_lambda_context(context: Any) -> None:
    _idempotency()[1].register_lambda_context(context)


def signal(action: str, body: str | None) -> tuple[int, dict]:
    model = SubmitRequest if action == "submit" else TaskRequest
    req = parse(model, body)
    logger.append_keys(task_id=req.task_id)
    session = sessions.get(req.task_id)
    if session is None:
        raise ApiError(404, "任务不存在", task_data(req.task_id))
    _bind(req, session)
    key = {"task_id": req.task_id, "traceId": req.traceId, "action": action, "digest": _body_digest(body or "")}
    persistence, config = _idempotency()
    run = idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)(_signal)
    code = req.auth_code if isinstance(req, SubmitRequest) else None
    deadline = _deadline()
    delay = 0.05
    while True:
        try:
            result = run(request=key, code=code)
            return result["status"], result["body"]
        except IdempotencyAlreadyInProgressError:
            # the same request is being processed right now: answer what it answers
            if time.monotonic() > deadline:
                return 200, envelope(codes.IN_PROGRESS, STILL_PROCESSING, task_data(req.task_id))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


# ---------------------------------------------------------------- status
def status(task_id: str) -> tuple[int, dict]:
    item = sessions.get(task_id)
    if item is None:
        raise ApiError(404, "任务不存在", task_data(task_id))
    body = render(item)
    if item["status"] in (sessions.SUCCESS, sessions.DEFEAT):
        body["data"]["result"] = item["status"]  # the callback's outcome, for apps that poll
    return 200, body
