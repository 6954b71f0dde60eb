"""The state machine's steps and the collection poll.

One public entry point per Task state, at the end of this file: login (identity pre-check and
login), send_input (submit / resend), check_login, answer_busy, failover, publish_result,
input_timeout, system_error. Each step reads the session, talks to one upstream, writes its
checkpoint and returns a small outcome for the ASL Choice states (never a secret).

The steps that can lead to the user's input are ``waitForTaskToken`` tasks: when the provider
asks for a code the step parks its own token with the prompt (one write), and the app's next
request resumes the machine; otherwise the step completes its task at once (``_settle``).
Collection is polled outside the machine (``collect_poll``, driven by an SQS message's
visibility), so a long collection costs no state transitions."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from . import aws, codes, crypto, events, identity, sessions, telemetry
from .config import get_settings
from .errors import EXPIRED_TOKENS, SessionNotFound
from .providers.base import (
    CarrierProvider,
    CarrierStep,
    Identity,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from .providers.registry import carrier_provider

logger = Logger(child=True)


def _session(task_id: str) -> dict[str, Any]:
    item = sessions.get(task_id)
    if item is None:
        raise SessionNotFound(task_id)
    return item


def _secrets(session: dict[str, Any]) -> tuple[Identity, str]:
    """The task's person and carrier service password: one KMS call (``secrets_enc``); a task
    started before that attribute existed has two ciphertexts."""
    task_id = session["task_id"]
    if "secrets_enc" in session:
        data = json.loads(crypto.decrypt(task_id, session["secrets_enc"]))
        password = data.pop("password")
    else:
        data = json.loads(crypto.decrypt(task_id, session["identity_enc"]))
        password = crypto.decrypt(task_id, session["password_enc"])
    return Identity(name=data["name"], id_number=data["id_number"], mobile=data["mobile"]), password


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- identity pre-check
def _verify_identity(
    session: dict[str, Any], person: Identity, deadline: float
) -> tuple[dict[str, Any], bool, str]:
    """The deployment's identity policy for the task's person (identity.verify_person), once per
    task: (values to record on the session, rejected?, guide code when rejected)."""
    checks = identity.verify_person(person, scope=str(session.get("tenant", "")), deadline=deadline)
    reject, guide = identity.decide(checks)
    logger.info("identity decided", extra={"rejected": reject, "answered": sorted(checks)})
    values: dict[str, Any] = {f"identity_{provider}": rec for provider, rec in checks.items()}
    values["identity_verdict"] = "rejected" if reject else "accepted"
    return values, reject, guide


# ---------------------------------------------------------------- carrier steps
WRONG_INPUT_GUIDES = (codes.WRONG_SMS_CODE, codes.WRONG_IMAGE_CODE, codes.WRONG_QUERY_PASSWORD)

# A session checkpoint to write: (status, answer)
Checkpoint = tuple[str, dict[str, Any]]


def _route(session: dict[str, Any], provider: str, step: CarrierStep, call: str = "", token: str = "") -> dict[str, str]:
    """Persist what the provider said and turn it into the outcome the ASL routes on.

    ``call``: the key of the state-changing call this step answers, recorded with the outcome in
    the same write, so a step invoked again for the same input answers without calling again.
    ``token``: the step's own task token; when the provider asks for input it is parked in the
    same write, with the prompt published as the next checkpoint."""
    values: dict[str, Any] = {
        "provider": provider,
        "provider_state": {**session.get("provider_state", {}), **step.state},
        "upstream": {"code": step.raw_code, "message": step.raw_message},
    }
    logger.info("carrier step", extra={"outcome": step.outcome, "guide_code": step.guide_code, "upstream_code": step.raw_code})
    outcome, checkpoint = _next(session, step, values)
    if call:
        values["upstream_call"] = {"key": call, "outcome": outcome}
    if outcome == "NEED_INPUT" and token:
        checkpoint = (sessions.WAITING_INPUT, values.pop("pending"))
        values["task_token"] = token
    if checkpoint:
        sessions.checkpoint(session["task_id"], *checkpoint, values, remove=("pending",) if token else ())
    else:
        sessions.update(session["task_id"], values)
    return {"outcome": outcome}


def _next(session: dict[str, Any], step: CarrierStep, values: dict[str, Any]) -> tuple[str, Checkpoint | None]:
    """Where a provider step leads: the outcome and the checkpoint to write (None while the task
    goes on without one); counters and the pending prompt are added to ``values``."""
    settings = get_settings()
    if step.outcome == "NEED_INPUT":
        if step.guide_code in WRONG_INPUT_GUIDES:
            values["wrong_codes"] = int(session.get("wrong_codes", 0)) + 1
            if values["wrong_codes"] >= settings.wrong_code_limit:  # our own limit, before any more upstream calls
                return "FAILED", (sessions.FAILED, sessions.answer(codes.IN_PROGRESS, codes.TOO_MANY_WRONG_CODES))
        if step.guide_code == codes.NEED_SMS_CODE:
            values["code_sent_at"] = int(time.time())
        values["input_guide"] = step.guide_code  # what the task waits for, whatever answers come between
        values["pending"] = sessions.answer(
            codes.IN_PROGRESS, step.guide_code, step.guide_message or None, step.auth_image or ""
        )
        return "NEED_INPUT", None
    if step.outcome == "WORKING":
        values["checks"] = int(session.get("checks", 0)) + 1
        if values["checks"] > settings.max_login_checks:
            logger.warning("upstream login undecided after the check bound", extra={"checks": values["checks"]})
            return "FAILED", (sessions.FAILED, sessions.answer(codes.IN_PROGRESS, codes.CARRIER_BUSY))
        return "WORKING", None
    if step.outcome == "COLLECTING":
        values["polls"] = 0
        return "COLLECTING", (sessions.COLLECTING, sessions.answer(codes.SUBMITTED))
    if step.guide_code:
        ans = sessions.answer(codes.IN_PROGRESS, step.guide_code, step.guide_message or None)
        return "FAILED", (sessions.FAILED, ans)
    # an upstream answer with no seed meaning: a system error, raw text kept for support
    return "FAILED", (sessions.ERROR, sessions.answer(codes.SYSTEM_ERROR))


def _current_provider(session: dict[str, Any]) -> tuple[str, CarrierProvider]:
    name = session.get("provider") or get_settings().carrier_chain()[0]
    return name, carrier_provider(name)


# What a state-changing step decrypts before its call (given a pool to do it alongside the
# write-ahead record), and the call itself with what it decrypted.
Prepare = Callable[[dict[str, Any], ThreadPoolExecutor], Any]
Send = Callable[[CarrierProvider, dict[str, Any], Any], CarrierStep]


def _once(
    event: dict,
    prepare: Prepare,
    send: Send,
    session: dict[str, Any] | None = None,
    first: dict[str, Any] | None = None,
) -> dict:
    """``send`` - a state-changing upstream call (login, submit, resend) - at most once per step
    input, however often the step is invoked for it (docs/upstream-calls.md).

    Write-ahead: the step records the call's key (``upstream_call``: the action and the time the
    ASL entered the state, the same for every retry of that entry) before calling, and
    ``_route`` records the outcome with it. Invoked again with the key recorded, the step
    answers the recorded outcome, or - when the call never settled - asks the provider where
    the task stands instead of calling again. Only a call that provably never reached the
    provider (``ProviderUnavailable``) forgets the key, so that the ASL's retry calls again.
    ``first``: values to record in the same write as the key (the identity decision).
    ``prepare`` (KMS decrypts) runs while the key is written: the call waits for both."""
    session = session or _session(event["task_id"])
    name, provider = _current_provider(session)
    key = f"{event['action']}@{event['entered']}"
    token = event.get("task_token", "")
    record = session.get("upstream_call") or {}
    if record.get("key") == key:
        if "outcome" in record:
            logger.info("step invoked again after it finished", extra={"outcome": record["outcome"]})
            if record["outcome"] == "NEED_INPUT" and token:
                _park(session, token)
            return {"outcome": record["outcome"]}
        logger.warning("step invoked again after an unsettled upstream call: reconciling")
        return _reconcile(event, session, name, provider, key, {})
    task_id = session["task_id"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        marked = pool.submit(sessions.update, task_id, {**(first or {}), "upstream_call": {"key": key}})
        try:
            prepared = prepare(session, pool)
        except Exception:
            marked.result()
            sessions.update(task_id, {}, remove=("upstream_call",))  # nothing was sent
            raise
        session = marked.result()
    try:
        step = send(provider, session, prepared)
    except ProviderOutcomeUnknown as exc:
        logger.warning("upstream outcome unknown: reconciling", extra={"reason": str(exc)})
        return _reconcile(event, session, name, provider, key, exc.state)
    except ProviderUnavailable:
        sessions.update(session["task_id"], {}, remove=("upstream_call",))
        raise
    return _route(session, name, step, key, token)


def _reconcile(
    event: dict, session: dict[str, Any], name: str, provider: CarrierProvider, key: str, learnt: dict[str, Any]
) -> dict:
    """Route from where the upstream task stands after a call whose outcome is unknown.

    ``learnt``: what the adapter knew before the failure (a new upstream task), kept first so a
    step invoked again asks about the same task. A failed read raises ``ProviderUnavailable``
    with the key still recorded: the ASL's retry reconciles again. No visible effect: an input
    leaves the task waiting (90035); a login is forgotten and retried afresh by the ASL (then
    failed over) - the abandoned upstream task is never touched again."""
    state = {**session.get("provider_state", {}), **learnt}
    if learnt:
        session = sessions.update(session["task_id"], {"provider_state": state})
    step = provider.reconcile(state)
    token = event.get("task_token", "")
    if step is not None:
        logger.info("reconciled with the upstream", extra={"outcome": step.outcome})
        return _route(session, name, step, key, token)
    if event["action"] == "login":
        logger.warning("no effect of the login upstream: logging in afresh")
        sessions.update(session["task_id"], {"provider_state": {}}, remove=("upstream_call",))
        raise ProviderUnavailable(f"{name} shows no effect of the login")
    logger.warning("no effect of the input upstream: the task keeps waiting")
    return _keep_waiting(session["task_id"], token, {"upstream_call": {"key": key, "outcome": "NEED_INPUT"}})


def _login(
    event: dict,
    session: dict[str, Any] | None = None,
    first: dict[str, Any] | None = None,
    secrets: tuple[Identity, str] | None = None,
) -> dict:
    def prepare(session: dict[str, Any], _pool: ThreadPoolExecutor) -> tuple[Identity, str]:
        return secrets or _secrets(session)

    def login(provider: CarrierProvider, _session: dict[str, Any], secrets: tuple[Identity, str]) -> CarrierStep:
        return provider.login(*secrets)

    return _once({**event, "action": "login"}, prepare, login, session, first)


def _begin(event: dict) -> dict:
    """The first step: the identity pre-check (once per task: a retry or a failover reuses its
    decision), then the login. Only a definite mismatch ends the task before the login."""
    session = _session(event["task_id"])
    verdict = session.get("identity_verdict")
    if verdict == "rejected":
        return {"outcome": "FAILED"}
    if verdict is not None:
        return _login(event, session)
    person, password = _secrets(session)
    values, reject, guide = _verify_identity(session, person, deadline=_identity_deadline(event))
    if reject:
        sessions.checkpoint(event["task_id"], sessions.FAILED, sessions.answer(codes.IN_PROGRESS, guide), values)
        return {"outcome": "FAILED"}
    return _login(event, session, first=values, secrets=(person, password))


def _identity_deadline(event: dict) -> float:
    """Identity retries and fallback must leave the login its time within the step's timeout."""
    remaining = float(event.get("_remaining_seconds") or 60)
    reserve = 2 * get_settings().upstream_timeout_seconds + 5
    return time.monotonic() + max(remaining - reserve, 0)


def _input(event: dict) -> dict:
    """The app's input, as the facade handed it to the machine: a code to submit or a resend."""
    given = event.get("input") or {}
    if given.get("action") == "submit":
        return _submit({**event, "action": "submit", "input": given})
    if given.get("action") == "resend":
        return _resend({**event, "action": "resend"})
    raise ValueError(f"unknown input action: {given.get('action')!r}")


def _submit(event: dict) -> dict:
    def prepare(session: dict[str, Any], pool: ThreadPoolExecutor) -> tuple[Identity, str, str]:
        secrets = pool.submit(_secrets, session)
        code = crypto.decrypt(session["task_id"], event["input"]["code_enc"])
        return (*secrets.result(), code)

    def submit(provider: CarrierProvider, session: dict[str, Any], given: tuple[Identity, str, str]) -> CarrierStep:
        return provider.submit(session.get("provider_state", {}), *given)

    return _once(event, prepare, submit)


def _resend(event: dict) -> dict:
    def prepare(session: dict[str, Any], _pool: ThreadPoolExecutor) -> tuple[Identity, str]:
        return _secrets(session)

    def resend(provider: CarrierProvider, session: dict[str, Any], secrets: tuple[Identity, str]) -> CarrierStep:
        return provider.resend(session.get("provider_state", {}), *secrets)

    return _once(event, prepare, resend)


def _check(event: dict) -> dict:
    session = _session(event["task_id"])
    name, provider = _current_provider(session)
    return _route(session, name, provider.check(session.get("provider_state", {})), token=event.get("task_token", ""))


def _failover(event: dict) -> dict:
    """The current provider stayed unavailable at login (after ASL retries): try the next one."""
    session = _session(event["task_id"])
    chain = get_settings().carrier_chain()
    tried = list(session.get("providers_tried") or [session.get("provider") or chain[0]])
    following = [name for name in chain if name not in tried]
    if following:
        logger.warning("carrier provider unavailable, failing over", extra={"from": tried[-1], "to": following[0]})
        sessions.update(
            event["task_id"],
            {"provider": following[0], "provider_state": {}, "providers_tried": [*tried, following[0]]},
        )
        return {"outcome": "RETRY"}
    logger.error("every carrier provider is unavailable", extra={"tried": tried})
    ans = sessions.answer(codes.IN_PROGRESS, codes.CARRIER_BUSY)
    sessions.checkpoint(event["task_id"], sessions.FAILED, ans, {"providers_tried": tried})
    return {"outcome": "FAILED"}


def _keep_waiting(task_id: str, token: str = "", values: dict[str, Any] | None = None) -> dict:
    """Answer 90035 and keep the task waiting for input (on ``token`` when the step has one)."""
    pending = sessions.answer(codes.IN_PROGRESS, codes.CARRIER_BUSY)
    if token:
        sessions.checkpoint(task_id, sessions.WAITING_INPUT, pending, {**(values or {}), "task_token": token})
    else:
        sessions.update(task_id, {"pending": pending, **(values or {})})
    return {"outcome": "NEED_INPUT"}


def _busy(event: dict) -> dict:
    """The provider stayed unavailable for a submit / resend: say so, keep waiting for input."""
    return _keep_waiting(event["task_id"], event.get("task_token", ""))


def _park(session: dict[str, Any], token: str) -> None:
    """Wait for the app's input on ``token``: publish the pending prompt as the next checkpoint,
    or - already waiting (a retried step) - swap in the new token and keep the trace_id."""
    task_id = session["task_id"]
    if session.get("status") == sessions.WAITING_INPUT:
        sessions.update(task_id, {"task_token": token})
        return
    pending = session.get("pending") or sessions.answer(codes.IN_PROGRESS, codes.NEED_SMS_CODE)
    sessions.checkpoint(task_id, sessions.WAITING_INPUT, pending, {"task_token": token}, remove=("pending",))


def _settle(event: dict, result: dict) -> dict:
    """A carrier step is a waitForTaskToken task: when the provider asks for input its token is
    already parked on the session (the app's code or resend request resumes it) and a heartbeat
    starts the user's input timeout; otherwise the step completes its own task at once."""
    token = event.get("task_token")
    if token and result["outcome"] == "NEED_INPUT":
        # the user's InputTimeoutSeconds (the state's HeartbeatSeconds) start now
        try:
            aws.client("stepfunctions").send_task_heartbeat(taskToken=token)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in EXPIRED_TOKENS:
                raise
    elif token:
        resume(token, result)
    return result


def resume(token: str, output: dict[str, Any] | None = None, error: Exception | None = None) -> bool:
    """SendTaskSuccess with ``output``, or SendTaskFailure naming ``error``'s class (an ASL error
    name; no message: it may echo upstream text); False when the task no longer waits."""
    sfn = aws.client("stepfunctions")
    try:
        if error is not None:
            sfn.send_task_failure(taskToken=token, error=type(error).__name__, cause="see the task's logs")
        else:
            sfn.send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in EXPIRED_TOKENS:
            raise
        logger.info("the task no longer waits for this token")
        return False
    return True


# ---------------------------------------------------------------- collection
def collect_poll(task_id: str, attempt: int) -> str | None:
    """One collection poll (the collect function, once per receive of the task's message):
    SUCCESS / DEFEAT when the collection is decided, None to poll again after the interval.

    A poll the provider did not answer counts like any other: after ``MaxCollectPolls`` the
    task is DEFEAT. A definite ``ProviderError`` (e.g. our credentials refused) propagates: the
    caller fails the Collect state with it (SystemError: DEFEAT, 系统错误). A task that is no
    longer collecting answers what it became."""
    session = sessions.get(task_id)
    if session is None:
        logger.warning("collection poll for a task that no longer exists")
        return codes.CALLBACK_DEFEAT
    if session["status"] != sessions.COLLECTING:
        return session["status"] if session["status"] in (sessions.SUCCESS, sessions.DEFEAT) else codes.CALLBACK_DEFEAT
    _name, provider = _current_provider(session)
    state = session.get("provider_state", {})
    try:
        result = provider.poll(state)
        status, raw_code, learnt = result.status, result.raw_code, result.state
    except (ProviderUnavailable, ProviderOutcomeUnknown) as exc:  # a read: unavailable or not the protocol
        logger.warning("collection poll unanswered", extra={"error_type": type(exc).__name__})
        status, raw_code, learnt = "RUNNING", "unavailable", {}
    outcome: str | None = None
    if status == "SUCCESS":
        outcome = codes.CALLBACK_SUCCESS
    elif status == "FAILED":
        logger.info("collection failed", extra={"upstream_code": raw_code})
        outcome = codes.CALLBACK_DEFEAT
    elif attempt >= get_settings().max_collect_polls:
        logger.warning("collection still running after the poll bound", extra={"polls": attempt})
        outcome = codes.CALLBACK_DEFEAT
    # written when something changed or the collection is decided: a poll that only says
    # "still running" costs a read
    if outcome is not None or any(state.get(k) != v for k, v in learnt.items()):
        sessions.update(task_id, {"polls": attempt, "provider_state": {**state, **learnt}})
    return outcome


def finish(task_id: str, result: str, error_message: str) -> bool:
    """Mark a 105'd task SUCCESS / DEFEAT once and publish CarrierAuthFinished.

    Safe to retry: a retry after a failed PutEvents publishes the same event id again.
    Returns False when the task was never accepted (no callback before 105)."""
    session = _session(task_id)
    status = session["status"]
    if status == sessions.COLLECTING:
        session = sessions.update(
            task_id,
            {
                "status": result,
                "result_message": error_message,
                "event_id": str(uuid.uuid4()),
                "finished_at": _utc_now(),
            },
            remove=("task_token",),
            condition=Attr("status").eq(sessions.COLLECTING),
        )
        # counted by the write that decided the task, never by a re-publish
        telemetry.funnel("FunnelSucceeded" if result == codes.CALLBACK_SUCCESS else "FunnelDefeated", session)
    elif status not in (codes.CALLBACK_SUCCESS, codes.CALLBACK_DEFEAT) or session.get("published_at"):
        return False
    events.publish_finished(events.finished_detail(session))
    sessions.update(task_id, {"published_at": _utc_now()})
    logger.info("task finished", extra={"result": session["status"]})
    return True


def _finish(event: dict) -> dict:
    result = event["result"]
    message = codes.CALLBACK_MESSAGES["success" if result == codes.CALLBACK_SUCCESS else "defeat"]
    finish(event["task_id"], result, message)
    return {"result": result}


def _timeout(event: dict) -> dict:
    sessions.checkpoint(
        event["task_id"],
        sessions.TIMED_OUT,
        sessions.answer(codes.IN_PROGRESS, codes.INPUT_TIMEOUT),
        remove=("task_token",),
    )
    return {}


def end_with_error(task_id: str, reason: str) -> None:
    """A system failure: DEFEAT by callback if 105 was answered, else a 103 answer. Idempotent."""
    session = sessions.get(task_id)
    if session is None:
        return
    status = session["status"]
    if status in (codes.CALLBACK_SUCCESS, codes.CALLBACK_DEFEAT):
        finish(task_id, status, session.get("result_message", ""))  # publishes only if it never did
        return
    if status in sessions.FINAL:
        return
    logger.error("task ended by a system error", extra={"reason": reason, "status": status})
    if status == sessions.COLLECTING:
        finish(task_id, codes.CALLBACK_DEFEAT, codes.CALLBACK_MESSAGES["error"])
        return
    try:
        sessions.checkpoint(
            task_id, sessions.ERROR, sessions.answer(codes.SYSTEM_ERROR), {"error": reason}, remove=("task_token",)
        )
    except ClientError as exc:
        if not sessions.is_conditional_failure(exc):
            raise


def _fail(event: dict) -> dict:
    error = event.get("error") or {}
    end_with_error(event["task_id"], str(error.get("Error", "States.Runtime")))
    return {}


# ---------------------------------------------------------------- the Task states' entry points
# One per Task state of statemachine/definition.py, each run by its own Lambda function
# (functions/<name>/app.py: ``handlers.step_function(flow.<name>)``; the README's table).
# ``remaining_seconds``: the invocation's time left. ``ProviderUnavailable`` and ``ProviderError``
# propagate (the first is the ASL's Retry / Catch name, the second ends at its ``States.ALL``
# catch); ``ProviderOutcomeUnknown`` never does (docs/upstream-calls.md).
def _run(step: Callable[[dict], dict], event: dict, remaining_seconds: float | None, waits: bool) -> dict:
    """``waits``: a waitForTaskToken task - the step parks its token when the provider asks for
    input, or completes its own task (``_settle``)."""
    if remaining_seconds is not None:
        event = {**event, "_remaining_seconds": remaining_seconds}
    try:
        return _settle(event, step(event)) if waits else step(event)
    except ProviderOutcomeUnknown as exc:
        # Not an ASL error name: a read that met one (nothing changed upstream) is just an
        # unavailable provider; a state-changing call's key is still recorded, so the retry
        # reconciles instead of repeating it.
        raise ProviderUnavailable(str(exc)) from None


def login(event: dict, remaining_seconds: float | None = None) -> dict:
    """Begin (LoginFunction): the identity pre-check, then the carrier login."""
    return _run(_begin, event, remaining_seconds, waits=True)


def send_input(event: dict, remaining_seconds: float | None = None) -> dict:
    """CarrierInput (SendInputFunction): the app's SMS / captcha code or resend, sent upstream."""
    return _run(_input, event, remaining_seconds, waits=True)


def check_login(event: dict, remaining_seconds: float | None = None) -> dict:
    """CarrierCheck (CheckLoginFunction): where an asynchronous login stands."""
    return _run(_check, event, remaining_seconds, waits=True)


def answer_busy(event: dict, remaining_seconds: float | None = None) -> dict:
    """UpstreamBusy (AnswerBusyFunction): 90035, and the task keeps waiting for input."""
    return _run(_busy, event, remaining_seconds, waits=True)


def failover(event: dict, remaining_seconds: float | None = None) -> dict:
    """Failover (FailoverFunction): the next provider of the chain, or 90035."""
    return _run(_failover, event, remaining_seconds, waits=False)


def publish_result(event: dict, remaining_seconds: float | None = None) -> dict:
    """Finish (PublishResultFunction): SUCCESS / DEFEAT and the CarrierAuthFinished event."""
    return _run(_finish, event, remaining_seconds, waits=False)


def input_timeout(event: dict, remaining_seconds: float | None = None) -> dict:
    """InputTimedOut (InputTimeoutFunction): no input in time, 90032."""
    return _run(_timeout, event, remaining_seconds, waits=False)


def system_error(event: dict, remaining_seconds: float | None = None) -> dict:
    """SystemError (SystemErrorFunction): 103, or DEFEAT by callback after 105."""
    return _run(_fail, event, remaining_seconds, waits=False)
