"""The API facades: validate, signal the state machine, wait for its next checkpoint, answer.

They never decide the flow: the state machine's steps write every checkpoint. A facade only
creates the session (start), claims the parked task token (submit / resend) and renders
the seed-000 envelope from the session item.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from botocore.exceptions import ClientError

from . import aws, codes, crypto, events, identity, numbers, sessions, tenants, urlguard, validation
from .config import get_settings
from .envelope import envelope, guide, task_data
from .errors import EXPIRED_TOKENS, ApiError
from .providers.base import Identity, ProviderError
from .validation import (
    identity_guide_code,
    load_json,
    normalise_id_number,
    normalise_mobile,
)

logger = Logger(child=True)

STILL_PROCESSING = "处理中，请稍后通过 GET /carrier/auth/{task_id} 查询结果"
STALE_TRACE = "traceId已失效或任务当前不等待验证码，请使用最近一次返回的trace_id"
NOT_FOUND = "任务不存在"
TASK_ID = re.compile(r"[0-9A-Za-z-]{1,64}")
MISMATCH = "请求信息与任务不一致"
UNKNOWN_TENANT = "API Key 未配置租户，请联系网关管理员"
# A waiting step's own work before it parks its token (identity check, login): at most the
# carrier function's Timeout (60 s in template.yaml), with room to spare.
WAITING_STEP_ALLOWANCE_SECONDS = 300


def render(item: dict[str, Any]) -> dict[str, Any]:
    """The envelope for a session's current checkpoint (trace_id = the one the next call needs)."""
    task_id = item["task_id"]
    ans = item.get("answer")
    if not ans or item["status"] in (sessions.PENDING, sessions.PROCESSING):
        return envelope(codes.IN_PROGRESS, STILL_PROCESSING, task_data(task_id), item["trace_id"])
    data = task_data(task_id, ans["guide_code"], ans["guide_message"], ans["auth_code"])
    return envelope(ans["code"], ans["message"], data, item["trace_id"])


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="facade")


def background(fn: Callable[..., Any], *args: Any) -> Future:
    """Run an AWS call alongside the request's next one (boto3 clients are thread-safe)."""
    return _pool().submit(fn, *args)


def _deadline() -> float:
    return time.monotonic() + get_settings().facade_wait_seconds


def tenant_of(key_id: str) -> tenants.Tenant:
    try:
        return tenants.get(key_id)
    except tenants.UnknownTenant as exc:
        logger.warning("request from an API key without a tenant", extra={"reason": str(exc)})
        raise ApiError(403, UNKNOWN_TENANT) from None


def _own_session(task_id: str, tenant: str) -> dict[str, Any]:
    """The task's session if this tenant started it. Another tenant's task answers exactly as an
    unknown one does (404): its existence is not revealed. A string that cannot be a task id is
    never sent to DynamoDB (keys over 2 KiB are a ValidationException there)."""
    if not TASK_ID.fullmatch(task_id):
        raise ApiError(404, NOT_FOUND, task_data())
    session = sessions.get(task_id)
    if session is None or session.get("tenant") != tenant:
        raise ApiError(404, NOT_FOUND, task_data(task_id))
    return session


# ---------------------------------------------------------------- start
def start(req: validation.StartRequest, tenant: str) -> tuple[int, dict]:
    owner = tenant_of(tenant)
    bad = identity_guide_code(req.mobile_no, req.identity_card, req.name)
    if bad:
        return 200, guide("", bad)
    check_callback_url(owner, req.callback_set.callback_url)
    person = Identity(name=req.name, id_number=req.identity_card, mobile=req.mobile_no)
    body, _current = launch(
        owner.key_id,
        req.userId,
        person,
        req.password,
        {"callback_url": req.callback_set.callback_url, "submit_time": req.submitTime},
        callback_token=req.callback_set.token,
    )
    return 200, body


def check_callback_url(owner: tenants.Tenant, url: str) -> None:
    """The URL guard (public http(s) address) and the tenant's callback host allowlist."""
    urlguard.check_url_for_api(url)
    if not owner.allows_callback_host(urlsplit(url).hostname or ""):
        raise ApiError(400, "callback_set.callback_url 不在本租户允许的回调域名内")


def masked_person(person: Identity) -> dict[str, Any]:
    """What the session keeps of a person: masks and keyed hashes (and the number's carrier)."""
    number = numbers.describe(person.mobile)
    return {
        "isp": number.isp,
        "region": number.region,
        "mobile_masked": crypto.mask_mobile(person.mobile),
        "id_masked": crypto.mask_id_number(person.id_number),
        "name_masked": crypto.mask_name(person.name),
        "mobile_hash": crypto.keyed_hash(person.mobile),
        "id_hash": crypto.keyed_hash(person.id_number),
    }


def launch(
    tenant_key: str,
    user_id: str,
    person: Identity,
    password: str,
    fields: dict[str, Any],
    callback_token: str = "",
    task_id: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Create the session, start the execution, answer its first checkpoint: the envelope and
    the session item it renders.

    ``fields``: more session attributes (callback_url, submit_time, ...). ``task_id``: a session
    created earlier and waiting for its user (the hosted page): it is started at most once, by a
    conditional write; a second start answers the task's current checkpoint."""
    settings = get_settings()
    waiting_session = task_id is not None
    task_id = task_id or str(uuid.uuid4())
    logger.append_keys(task_id=task_id)
    person = Identity(
        name=person.name,
        id_number=normalise_id_number(person.id_number) or person.id_number,
        mobile=normalise_mobile(person.mobile) or person.mobile,
    )
    # the person and the service password in one ciphertext: the steps that need one need both
    secrets = json.dumps(
        {"name": person.name, "id_number": person.id_number, "mobile": person.mobile, "password": password},
        ensure_ascii=False,
    )
    item = {"task_id": task_id, "tenant": tenant_key, "user_id": user_id, **masked_person(person), **fields}
    # the two KMS calls at once: one round trip
    token_enc = background(crypto.encrypt, task_id, callback_token) if callback_token else None
    item["secrets_enc"] = crypto.encrypt(task_id, secrets)
    if token_enc is not None:
        item["callback_token_enc"] = token_enc.result()
    if waiting_session:
        if not sessions.begin_awaiting(task_id, item):
            current = sessions.get(task_id)  # the hosted page's task, started by an earlier request
            return (render(current) if current else envelope(codes.SYSTEM_ERROR)), current
    else:
        sessions.create(item)
    execution_input = {
        "task_id": task_id,
        "settings": {
            # the user's time to answer, from the moment a step parks its token (heartbeat) ...
            "input_timeout": settings.input_timeout_seconds,
            # ... within the whole waiting task, which also covers the step's own upstream calls
            "wait_timeout": settings.input_timeout_seconds + WAITING_STEP_ALLOWANCE_SECONDS,
            "poll_interval": settings.poll_interval_seconds,
            "check_interval": settings.check_interval_seconds,
            # the backstop should the collection polls stop (the collect function decides first)
            "collect_timeout": max(settings.poll_interval_seconds, 1) * (settings.max_collect_polls + 1) + 120,
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
    from . import telemetry

    telemetry.funnel("FunnelStarted", item)  # once: a task's execution starts once (create / begin_awaiting)
    current = sessions.wait_for_checkpoint(task_id, 0, _deadline())
    body = render(current)
    body["data"].update(isp=item["isp"], region=item["region"])  # extra fields: carrier and region of the number
    return body, current


# ---------------------------------------------------------------- submit / resend
def _bind(req: validation.TaskRequest, session: dict[str, Any]) -> None:
    """A call on a task must come for the same user, phone and id number that started it.

    The answer does not say which field differs, and every field is compared (in constant
    time) whatever the others gave: a guessed phone or id number cannot be confirmed one
    field at a time."""
    mobile = normalise_mobile(req.mobile_no) or req.mobile_no
    id_number = normalise_id_number(req.identity_card) or req.identity_card
    same = [
        hmac.compare_digest(req.userId.encode("utf-8"), str(session["user_id"]).encode("utf-8")),
        hmac.compare_digest(crypto.keyed_hash(mobile), session["mobile_hash"]),
        hmac.compare_digest(crypto.keyed_hash(id_number), session["id_hash"]),
    ]
    if not all(same):
        logger.info("request does not match the task's identity")
        raise ApiError(403, MISMATCH, task_data(session["task_id"]))


def _body_digest(body: str) -> str:
    """A keyed digest of the whole request body: replays match it, the code never leaves memory."""
    canonical = json.dumps(load_json(body), sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hmac.new(crypto.keyed_hash("request-digest").encode(), canonical, hashlib.sha256).hexdigest()


def _signal(request: dict[str, Any], session: dict[str, Any], code: str | None = None) -> dict[str, Any]:
    """Claim the parked token, hand the input to the machine, wait for what it answers next."""
    task_id, trace_id, action = request["task_id"], request["traceId"], request["action"]
    if action == "resend":
        refused = _resend_refused(session, trace_id)
        if refused:
            return {"status": 200, "body": refused}
    # the code is encrypted while the token is claimed (wasted only on a refused claim)
    code_enc = background(crypto.encrypt, task_id, code) if code is not None else None
    claimed = sessions.claim_token(task_id, trace_id, count="resends" if action == "resend" else None)
    if claimed is None:
        current = sessions.get(task_id)
        if current is None:  # expired (TTL) between the binding check and the claim
            raise ApiError(404, NOT_FOUND, task_data(task_id))
        if current["status"] in sessions.FINAL:
            return {"status": 200, "body": render(current)}
        body = render(current)
        body.update(code=codes.SYSTEM_ERROR, message=STALE_TRACE)
        return {"status": 409, "body": body}
    output: dict[str, Any] = {"action": action}
    if code_enc is not None:
        output["code_enc"] = code_enc.result()
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=claimed["task_token"], output=json.dumps({"outcome": "INPUT", "input": output})
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in EXPIRED_TOKENS:
            raise
        logger.info("task token expired before the input arrived")
        return {"status": 200, "body": guide(task_id, codes.INPUT_TIMEOUT)}
    item = sessions.wait_for_checkpoint(task_id, int(claimed["seq"]), _deadline())
    return {"status": 200, "body": render(item)}


def _resend_refused(session: dict[str, Any], trace_id: str) -> dict | None:
    """Our own limits, before anything reaches the upstream: at most ``resend_limit`` resends per
    task and none within ``resend_interval_seconds`` of the last code. The task keeps waiting:
    the answer carries the still-valid trace_id."""
    settings = get_settings()
    if session["status"] != sessions.WAITING_INPUT or session["trace_id"] != trace_id:
        return None  # the claim decides (stale or final)
    too_many = int(session.get("resends", 0)) >= settings.resend_limit
    too_soon = time.time() - int(session.get("code_sent_at", 0)) < settings.resend_interval_seconds
    if not (too_many or too_soon):
        return None
    logger.info("resend refused by our limits", extra={"too_many": too_many, "too_soon": too_soon})
    return guide(session["task_id"], codes.SMS_TOO_FREQUENT, trace_id=trace_id)


@cache
def _idempotency() -> tuple[Any, IdempotencyConfig]:
    """``_signal`` made idempotent on the ``request`` key (task, traceId, action, body digest)."""
    persistence = DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=aws.client("dynamodb")
    )
    config = IdempotencyConfig(expires_after_seconds=3600, raise_on_no_idempotency_key=True)
    run = idempotent_function(data_keyword_argument="request", persistence_store=persistence, config=config)(_signal)
    return run, config


def register_lambda_context(context: Any) -> None:
    _idempotency()[1].register_lambda_context(context)


def signal(action: str, req: validation.TaskRequest, tenant: str) -> tuple[int, dict]:
    logger.append_keys(task_id=req.task_id)
    session = _own_session(req.task_id, tenant)
    _bind(req, session)
    code = req.auth_code if isinstance(req, validation.SubmitRequest) else None
    return signal_task(action, session, req.traceId, code, req.model_dump_json())


def signal_task(action: str, session: dict[str, Any], trace_id: str, code: str | None, body: str) -> tuple[int, dict]:
    """Hand the app's input (``submit`` a code, ``resend``) to the task waiting on ``trace_id``,
    idempotent on (task, trace_id, action, a keyed digest of the request ``body``: the validated
    request's JSON, so a replay matches whatever its spacing or ignored fields)."""
    task_id = session["task_id"]
    key = {"task_id": task_id, "traceId": trace_id, "action": action, "digest": _body_digest(body)}
    run = _idempotency()[0]
    deadline = _deadline()
    delay = 0.05
    while True:
        try:
            result = run(request=key, session=session, code=code)
            return result["status"], result["body"]
        except IdempotencyAlreadyInProgressError:
            # the same request is being processed right now: answer what it answers
            if time.monotonic() > deadline:
                return 200, envelope(codes.IN_PROGRESS, STILL_PROCESSING, task_data(task_id))
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


# ---------------------------------------------------------------- status
def status(task_id: str, tenant: str) -> tuple[int, dict]:
    item = _own_session(task_id, tenant)
    body = render(item)
    if item["status"] in (sessions.SUCCESS, sessions.DEFEAT):
        body["data"]["result"] = item["status"]  # the callback's outcome, for apps that poll
    return 200, body


# ---------------------------------------------------------------- callback redelivery
REDELIVERED = "回调已重新投递"
NO_CALLBACK = "任务没有可重新投递的回调（尚未结束，或以交互错误结束）"


def redeliver(_request: None, tenant: str, task_id: str) -> tuple[int, dict]:
    """POST /carrier/auth/{task_id}/callback: the final callback once more, with the same event
    id (the app dedupes on it), through the same queue, retries and signatures."""
    logger.append_keys(task_id=task_id)
    session = _own_session(task_id, tenant)
    if session["status"] not in (sessions.SUCCESS, sessions.DEFEAT) or not session.get("event_id"):
        body = render(session)
        body.update(code=codes.SYSTEM_ERROR, message=NO_CALLBACK)
        raise ApiError(409, NO_CALLBACK, body["data"])
    events.publish_finished(events.finished_detail(session))
    sessions.update(task_id, {"callback_redelivered_at": int(time.time())})
    logger.info("callback redelivery requested", extra={"event_id": session["event_id"]})
    data = {"task_id": task_id, "event_id": session["event_id"]}
    return 202, envelope(codes.SUBMITTED, REDELIVERED, data)


# ---------------------------------------------------------------- identity checks as APIs
def identity_check(provider: str, req: validation.IdentityRequest, tenant: str) -> tuple[int, dict]:
    """POST /identity/three-factor and /identity/realname: check (cache first), answer."""
    bad = identity_guide_code(req.mobile_no, req.identity_card, req.name)
    if bad:  # never pay for a doomed call
        return 200, guide("", bad)
    person = Identity(
        name=req.name,
        id_number=normalise_id_number(req.identity_card) or req.identity_card,
        mobile=normalise_mobile(req.mobile_no) or req.mobile_no,
    )
    try:
        result, cached = identity.check(provider, person, scope=tenant)
    except ProviderError as exc:
        logger.warning("identity provider failed", extra={"provider": provider, "error_type": type(exc).__name__})
        raise ApiError(503, "身份核验服务暂不可用，请稍后再试") from None
    data = identity.record(result, cached)
    logger.info("identity checked", extra={"provider": provider, "verdict": result.verdict, "cached": cached})
    message = codes.guide_message(data["guide_code"]) if data["guide_code"] else data["message"]
    return 200, envelope(codes.IN_PROGRESS, message, data)
