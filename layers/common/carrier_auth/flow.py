"""The state machine's steps: identity pre-check, carrier login/submit/resend/poll, park,
finish, timeout and failure. Each step reads the session, talks to one upstream, writes its
checkpoint and returns a small outcome for the ASL Choice states (never a secret)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from aws_lambda_powertools import Logger
from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from . import codes, crypto, events, identity, sessions
from .config import get_settings
from .errors import SessionNotFound
from .providers.base import CarrierProvider, CarrierStep, Identity, ProviderOutcomeUnknown, ProviderUnavailable
from .providers.registry import carrier_provider

logger = Logger(child=True)


def _session(task_id: str) -> dict[str, Any]:
    item = sessions.get(task_id)
    if item is None:
        raise SessionNotFound(task_id)
    return item


def _identity(session: dict[str, Any]) -> Identity:
    data = json.loads(crypto.decrypt(session["task_id"], session["identity_enc"]))
    return Identity(name=data["name"], id_number=data["id_number"], mobile=data["mobile"])


def _password(session: dict[str, Any]) -> str:
    return crypto.decrypt(session["task_id"], session["password_enc"])


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- identity pre-check
def identity_step(task_id: str, provider: str) -> dict[str, str]:
    """One provider's check for the task's person, recorded on the session (cache first)."""
    session = _session(task_id)
    result, cached = identity.check(provider, _identity(session), scope=str(session.get("tenant", "")))
    rec = identity.record(result, cached)
    logger.info("identity checked", extra={"verdict": result.verdict, "provider": provider, "cached": cached})
    sessions.update(task_id, {f"identity_{provider}": rec})
    return {"verdict": result.verdict}


def _identity_decision(event: dict) -> dict:
    """After the checks the policy asked for: stop the task only on a definite mismatch."""
    session = _session(event["task_id"])
    checks = {p: session[f"identity_{p}"] for p in get_settings().identity_providers if f"identity_{p}" in session}
    reject, guide = identity.decide(checks)
    if reject:
        sessions.checkpoint(event["task_id"], sessions.FAILED, sessions.answer(codes.IN_PROGRESS, guide))
        return {"verdict": "rejected"}
    return {"verdict": "accepted"}


# ---------------------------------------------------------------- carrier steps
WRONG_INPUT_GUIDES = (codes.WRONG_SMS_CODE, codes.WRONG_IMAGE_CODE, codes.WRONG_QUERY_PASSWORD)

# A session checkpoint to write: (status, answer)
Checkpoint = tuple[str, dict[str, Any]]


def _route(session: dict[str, Any], provider: str, step: CarrierStep, call: str = "") -> dict[str, str]:
    """Persist what the provider said and turn it into the outcome the ASL routes on.

    ``call``: the key of the state-changing call this step answers, recorded with the outcome in
    the same write, so a step invoked again for the same input answers without calling again."""
    values: dict[str, Any] = {
        "provider": provider,
        "provider_state": {**session.get("provider_state", {}), **step.state},
        "upstream": {"code": step.raw_code, "message": step.raw_message},
    }
    logger.info("carrier step", extra={"outcome": step.outcome, "guide_code": step.guide_code, "upstream_code": step.raw_code})
    outcome, checkpoint = _next(session, step, values)
    if call:
        values["upstream_call"] = {"key": call, "outcome": outcome}
    if checkpoint:
        sessions.checkpoint(session["task_id"], *checkpoint, values)
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


def _once(event: dict, call: Callable[[CarrierProvider, dict[str, Any]], CarrierStep]) -> dict:
    """``call`` - a state-changing upstream call (login, submit, resend) - at most once per step
    input, however often the step is invoked for it (docs/upstream-calls.md).

    Write-ahead: the step records the call's key (``upstream_call``: the action and the time the
    ASL entered the state, the same for every retry of that entry) before calling, and
    ``_route`` records the outcome with it. Invoked again with the key recorded, the step
    answers the recorded outcome, or - when the call never settled - asks the provider where
    the task stands instead of calling again. Only a call that provably never reached the
    provider (``ProviderUnavailable``) forgets the key, so that the ASL's retry calls again."""
    session = _session(event["task_id"])
    name, provider = _current_provider(session)
    key = f"{event['action']}@{event['entered']}"
    record = session.get("upstream_call") or {}
    if record.get("key") == key:
        if "outcome" in record:
            logger.info("step invoked again after it finished", extra={"outcome": record["outcome"]})
            return {"outcome": record["outcome"]}
        logger.warning("step invoked again after an unsettled upstream call: reconciling")
        return _reconcile(event, session, name, provider, key, {})
    session = sessions.update(session["task_id"], {"upstream_call": {"key": key}})
    try:
        step = call(provider, session)
    except ProviderOutcomeUnknown as exc:
        logger.warning("upstream outcome unknown: reconciling", extra={"reason": str(exc)})
        return _reconcile(event, session, name, provider, key, exc.state)
    except ProviderUnavailable:
        sessions.update(session["task_id"], {}, remove=("upstream_call",))
        raise
    return _route(session, name, step, key)


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
    if step is not None:
        logger.info("reconciled with the upstream", extra={"outcome": step.outcome})
        return _route(session, name, step, key)
    if event["action"] == "login":
        logger.warning("no effect of the login upstream: logging in afresh")
        sessions.update(session["task_id"], {"provider_state": {}}, remove=("upstream_call",))
        raise ProviderUnavailable(f"{name} shows no effect of the login")
    logger.warning("no effect of the input upstream: the task keeps waiting")
    return _keep_waiting(session["task_id"], {"upstream_call": {"key": key, "outcome": "NEED_INPUT"}})


def _login(event: dict) -> dict:
    return _once(event, lambda provider, session: provider.login(_identity(session), _password(session)))


def _submit(event: dict) -> dict:
    def submit(provider: CarrierProvider, session: dict[str, Any]) -> CarrierStep:
        code = crypto.decrypt(session["task_id"], event["input"]["code_enc"])
        return provider.submit(session.get("provider_state", {}), _identity(session), _password(session), code)

    return _once(event, submit)


def _resend(event: dict) -> dict:
    def resend(provider: CarrierProvider, session: dict[str, Any]) -> CarrierStep:
        return provider.resend(session.get("provider_state", {}), _identity(session), _password(session))

    return _once(event, resend)


def _check(event: dict) -> dict:
    session = _session(event["task_id"])
    name, provider = _current_provider(session)
    return _route(session, name, provider.check(session.get("provider_state", {})))


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


def _keep_waiting(task_id: str, values: dict[str, Any] | None = None) -> dict:
    """Answer 90035 and keep the task waiting for input."""
    pending = sessions.answer(codes.IN_PROGRESS, codes.CARRIER_BUSY)
    sessions.update(task_id, {"pending": pending, **(values or {})})
    return {"outcome": "NEED_INPUT"}


def _busy(event: dict) -> dict:
    """The provider stayed unavailable for a submit / resend: say so, keep waiting for input."""
    return _keep_waiting(event["task_id"])


def _park(event: dict) -> dict:
    """Entered by AwaitInput (waitForTaskToken): keep the newest token and publish the prompt."""
    session = _session(event["task_id"])
    pending = session.get("pending") or sessions.answer(codes.IN_PROGRESS, codes.NEED_SMS_CODE)
    sessions.checkpoint(
        event["task_id"], sessions.WAITING_INPUT, pending, {"task_token": event["task_token"]}, remove=("pending",)
    )
    return {}


def _poll(event: dict) -> dict:
    session = _session(event["task_id"])
    _name, provider = _current_provider(session)
    result = provider.poll(session.get("provider_state", {}))
    state = {**session.get("provider_state", {}), **result.state}
    return _count_poll(session, result.status, {"provider_state": state}, result.raw_code)


def _poll_failed(event: dict) -> dict:
    """A poll that stayed unavailable after retries counts against the bound like any other."""
    return _count_poll(_session(event["task_id"]), "RUNNING", {}, "unavailable")


def _count_poll(session: dict[str, Any], status: str, values: dict[str, Any], raw_code: str) -> dict:
    polls = int(session.get("polls", 0)) + 1
    sessions.update(session["task_id"], {"polls": polls, **values})
    if status == "SUCCESS":
        return {"outcome": codes.CALLBACK_SUCCESS}
    if status == "FAILED":
        logger.info("collection failed", extra={"upstream_code": raw_code})
        return {"outcome": codes.CALLBACK_DEFEAT}
    if polls >= get_settings().max_collect_polls:
        logger.warning("collection still running after the poll bound", extra={"polls": polls})
        return {"outcome": codes.CALLBACK_DEFEAT}
    return {"outcome": "COLLECTING"}


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
    elif status not in (codes.CALLBACK_SUCCESS, codes.CALLBACK_DEFEAT) or session.get("published_at"):
        return False
    events.publish_finished(
        {
            "task_id": task_id,
            "event_id": session["event_id"],
            "result": session["status"],
            "error_message": session["result_message"],
            "finished_at": session["finished_at"],
        }
    )
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


ACTIONS: dict[str, Callable[[dict], dict]] = {
    "login": _login,
    "submit": _submit,
    "resend": _resend,
    "identity": _identity_decision,
    "check": _check,
    "failover": _failover,
    "busy": _busy,
    "park": _park,
    "poll": _poll,
    "poll_failed": _poll_failed,
    "finish": _finish,
    "timeout": _timeout,
    "fail": _fail,
}


def carrier_step(event: dict) -> dict:
    action = event.get("action")
    if action not in ACTIONS:
        raise ValueError(f"unknown carrier action: {action!r}")
    try:
        return ACTIONS[action](event)
    except ProviderOutcomeUnknown as exc:
        # Not an ASL error name: a read that met one (nothing changed upstream) is just an
        # unavailable provider; a state-changing call's key is still recorded, so the retry
        # reconciles instead of repeating it.
        raise ProviderUnavailable(str(exc)) from None
