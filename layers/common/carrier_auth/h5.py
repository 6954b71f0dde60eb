"""The hosted H5 authorization page: one more client of the facades (docs/h5.md).

- ``create_link`` (``POST /carrier/auth/h5``, API key): the app backend asks for a page for one
  user. A session is created waiting for that user (``AWAITING_USER``: no execution yet), with
  the optional prefilled person encrypted and masked, and a single-use link token (its SHA-256
  only is stored) that expires after ``H5LinkTtlSeconds``. The answer is ``{h5_url, expires_at}``;
  the token rides in the URL's fragment, which browsers never send to a server or a log.
- ``page_function`` (``/h5/{task_id}...``, no API key): the page and its endpoints. The page
  trades the link token once for an HttpOnly, SameSite=Strict cookie scoped to the task's path;
  every other endpoint needs that cookie (the cookie's hash is on the session). POSTs need
  ``X-CarrierAuth-H5: 1`` and a JSON body, and a cross-origin ``Origin`` is refused: a form on
  another site can send neither. The endpoints call the same facades as the API (``launch``,
  ``signal_task``) with the same validation; the state machine does not know the page exists.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from boto3.dynamodb.conditions import Attr

from . import codes, crypto, facade, numbers, sessions, urlguard, validation
from .config import get_settings
from .envelope import envelope, guide, http, task_data
from .errors import ApiError
from .providers.base import Identity

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

logger = Logger(child=True)

# The agreement the page shows (functions/h5/static/index.html); a start must name this version,
# and the session records it with the consent time.
AGREEMENT_VERSION = "2026-11-23"
COOKIE = "carrier_auth_h5"
# how long the page's cookie works after the link was opened (the whole flow, collection included)
PAGE_SESSION_SECONDS = 7200
POLL_AFTER_MS = 1500
PROVIDER_NAMES = {"juxinli": "聚信立", "moxie": "魔蝎"}
WAITING_FOR_USER = "等待用户在授权页面完成授权"
LINK_INVALID = "链接无效，请回到应用重新发起授权"
LINK_USED = "此链接已使用，请回到应用重新发起授权"
LINK_EXPIRED = "链接已过期，请回到应用重新发起授权"
PAGE_EXPIRED = "授权页面已失效，请回到应用重新发起授权"
BAD_ORIGIN = "请求来源无效"
# where each input guide code is answered on the page
INPUT_STEPS = {
    codes.NEED_SMS_CODE: "sms",
    codes.WRONG_SMS_CODE: "sms",
    codes.NEED_IMAGE_CODE: "image",
    codes.WRONG_IMAGE_CODE: "image",
    codes.NEED_QUERY_PASSWORD: "query_password",
    codes.WRONG_QUERY_PASSWORD: "query_password",
}
FINAL_ADVICE = {
    sessions.DEFEAT: "运营商数据获取失败，请返回应用稍后重试",
    sessions.ERROR: "系统异常，请返回应用稍后重试",
    sessions.TIMED_OUT: codes.USER_NEXT_ACTIONS[codes.INPUT_TIMEOUT],
}
PERSON_FIELDS = ("name", "identity_card", "mobile_no")


def _digest(secret: str) -> str:
    """What the session keeps of a link token or a page cookie (256 random bits: no key needed)."""
    return hashlib.sha256(secret.encode("ascii", "replace")).hexdigest()


def _now() -> int:
    return int(time.time())


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def _prefix(event: dict[str, Any]) -> str:
    """The path before the route (the stage, or a custom domain's base path): ``/v1``."""
    full = str((event.get("requestContext") or {}).get("path") or "")
    path = str(event.get("path") or "")
    return full[: -len(path)] if path and full.endswith(path) else ""


def _https(event: dict[str, Any]) -> bool:
    return _headers(event).get("x-forwarded-proto", "https") == "https"


def public_base(event: dict[str, Any]) -> str:
    """Where this API is reached from a browser: ``H5BaseUrl`` when set, else the request's own
    domain (API Gateway's ``domainName``) and stage."""
    configured = get_settings().h5_base_url
    if configured:
        return configured
    host = (event.get("requestContext") or {}).get("domainName") or _headers(event).get("host", "")
    return f"{'https' if _https(event) else 'http'}://{host}{_prefix(event)}"


# ---------------------------------------------------------------- POST /carrier/auth/h5 (API key)
def create_link(req: validation.H5Request, tenant: str, event: dict[str, Any]) -> tuple[int, dict]:
    owner = facade.tenant_of(tenant)
    bad = validation.identity_guide_code(req.mobile_no, req.identity_card, req.name)  # the prefills given
    if bad:
        return 200, guide("", bad)
    facade.check_callback_url(owner, req.callback_set.callback_url)
    urlguard.check_url_for_api(req.return_url, field="return_url")
    settings = get_settings()
    task_id = str(uuid.uuid4())
    logger.append_keys(task_id=task_id)
    token = secrets.token_urlsafe(32)
    link_expires = _now() + settings.h5_link_seconds
    prefill: dict[str, str] = {}
    masks: dict[str, str | None] = dict.fromkeys(PERSON_FIELDS)
    item: dict[str, Any] = {
        "task_id": task_id,
        "tenant": owner.key_id,
        "tenant_name": owner.display_name,
        "user_id": req.userId,
        "callback_url": req.callback_set.callback_url,
        "return_url": req.return_url,
        "h5_link_hash": _digest(token),
        "h5_link_expires_at": link_expires,
        "answer": sessions.answer(codes.IN_PROGRESS, message=WAITING_FOR_USER),
    }
    if req.submitTime is not None:
        item["submit_time"] = req.submitTime
    if req.name is not None:
        prefill["name"] = req.name
        masks["name"] = crypto.mask_name(req.name)
    if req.identity_card is not None:
        prefill["identity_card"] = validation.normalise_id_number(req.identity_card) or req.identity_card
        masks["identity_card"] = crypto.mask_id_number(prefill["identity_card"])
    if req.mobile_no is not None:
        prefill["mobile_no"] = validation.normalise_mobile(req.mobile_no) or req.mobile_no
        masks["mobile_no"] = crypto.mask_mobile(prefill["mobile_no"])
        number = numbers.describe(prefill["mobile_no"])
        item.update(isp=number.isp, region=number.region)
    item["prefill"] = masks
    token_enc = facade.background(crypto.encrypt, task_id, req.callback_set.token) if req.callback_set.token else None
    if prefill:
        item["prefill_enc"] = crypto.encrypt(task_id, json.dumps(prefill, ensure_ascii=False))
    if token_enc is not None:
        item["callback_token_enc"] = token_enc.result()
    sessions.create(item, status=sessions.AWAITING_USER)
    logger.info("hosted page created", extra={"prefilled": sorted(prefill)})
    data = {
        **task_data(task_id),
        "h5_url": f"{public_base(event)}/h5/{task_id}#t={token}",
        "expires_at": str(link_expires * 1000),
    }
    return 200, envelope(codes.IN_PROGRESS, WAITING_FOR_USER, data)


# ---------------------------------------------------------------- the page's state
def _return_url(session: dict[str, Any], result: str, guide_code: str) -> str:
    url = urlsplit(session["return_url"])
    query = [*parse_qsl(url.query, keep_blank_values=True), ("task_id", session["task_id"]), ("result", result)]
    if guide_code:
        query.append(("guide_code", guide_code))
    return urlunsplit(url._replace(query=urlencode(query)))


def _step(session: dict[str, Any], guide_code: str) -> str:
    status = session["status"]
    if status == sessions.AWAITING_USER:
        return "form"
    if status in sessions.FINAL:
        return "done"
    if status == sessions.COLLECTING:
        return "waiting"
    if status == sessions.WAITING_INPUT:
        return INPUT_STEPS.get(guide_code) or INPUT_STEPS.get(session.get("input_guide", ""), "sms")
    return "processing"


def page_state(session: dict[str, Any], answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The envelope the page renders: the session's checkpoint (or ``answer``, a facade's answer
    about that same checkpoint, e.g. a refused resend) with what the page needs besides."""
    settings = get_settings()
    body = facade.render(session)
    if answer is not None and answer.get("trace_id") == session["trace_id"]:
        body = answer
    data = body.get("data") or {}
    guide_code = str(data.get("guide_code") or "")
    step = _step(session, guide_code)
    state: dict[str, Any] = {
        **task_data(session["task_id"], guide_code, str(data.get("guide_message") or ""), str(data.get("auth_code") or "")),
        "step": step,
        "tenant_name": session.get("tenant_name") or "",
        "provider_name": PROVIDER_NAMES.get(session.get("provider") or settings.carrier_provider, ""),
        "agreement": {"version": AGREEMENT_VERSION, "retention_days": settings.session_ttl_days},
        "prefill": session.get("prefill") or dict.fromkeys(PERSON_FIELDS),
        "isp": session.get("isp", ""),
        "region": session.get("region", ""),
        "next_action": codes.USER_NEXT_ACTIONS.get(guide_code, "") if guide_code else "",
    }
    if step in INPUT_STEPS.values():
        sent = int(session.get("code_sent_at", 0))
        wait = sent + settings.resend_interval_seconds - _now() if sent else 0
        state["resend"] = {
            "wait_seconds": max(0, wait),
            "left": max(0, settings.resend_limit - int(session.get("resends", 0))),
        }
    if step in ("processing", "waiting"):
        state["poll_after_ms"] = POLL_AFTER_MS
    if step == "done":
        result = session["status"]
        state["result"] = result
        state["return_url"] = _return_url(session, result, guide_code)
        state["next_action"] = state["next_action"] or FINAL_ADVICE.get(result, "")
    return envelope(body["code"], body["message"], state, session["trace_id"])


# ---------------------------------------------------------------- the page's endpoints
def _cookie(event: dict[str, Any]) -> str:
    for part in _headers(event).get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return ""


def _cookie_ok(session: dict[str, Any], event: dict[str, Any]) -> bool:
    cookie = _cookie(event)
    stored = session.get("h5_cookie_hash")
    return bool(
        cookie
        and stored
        and hmac.compare_digest(_digest(cookie), stored)
        and int(session.get("h5_cookie_expires_at", 0)) >= _now()
    )


def _task_session(task_id: str) -> dict[str, Any] | None:
    if not facade.TASK_ID.fullmatch(task_id):
        return None
    session = sessions.get(task_id)
    return session if session and session.get("h5_link_hash") else None  # API tasks have no page


def _page_session(task_id: str, event: dict[str, Any]) -> dict[str, Any]:
    session = _task_session(task_id)
    if session is None or not _cookie_ok(session, event):
        raise ApiError(401, PAGE_EXPIRED, {"reason": "expired"})
    logger.append_keys(task_id=task_id)
    return session


def _same_origin(event: dict[str, Any]) -> None:
    """CSRF: a custom header and a JSON body (a cross-site form can send neither without a
    CORS preflight, which this API never grants), and no cross-origin ``Origin``."""
    headers = _headers(event)
    if headers.get("x-carrierauth-h5") != "1":
        raise ApiError(403, BAD_ORIGIN)
    if not headers.get("content-type", "").lower().startswith("application/json"):
        raise ApiError(415, "请求体必须是JSON (Content-Type: application/json)")
    origin = headers.get("origin")
    if origin:
        allowed = {headers.get("host", ""), (event.get("requestContext") or {}).get("domainName") or ""}
        base = get_settings().h5_base_url
        if base:
            allowed.add(urlsplit(base).netloc)
        if urlsplit(origin).netloc not in allowed - {""}:
            raise ApiError(403, BAD_ORIGIN)


def _set_cookie(event: dict[str, Any], task_id: str, value: str) -> Any:
    from aws_lambda_powertools.shared.cookies import Cookie, SameSite

    return Cookie(
        name=COOKIE,
        value=value,
        path=f"{_prefix(event)}/h5/{task_id}",
        secure=_https(event),
        http_only=True,
        max_age=PAGE_SESSION_SECONDS,
        same_site=SameSite.STRICT_MODE,
    )


def _exchange(task_id: str, req: validation.H5LinkToken, event: dict[str, Any]) -> tuple[int, dict, list]:
    """The link token, once, for the page's cookie. The browser that used it may come back
    through the same link (a reload before the page dropped the fragment): its cookie works."""
    session = _task_session(task_id)
    if session is None or not hmac.compare_digest(_digest(req.token), session["h5_link_hash"]):
        raise ApiError(404, LINK_INVALID, {"reason": "invalid"})
    logger.append_keys(task_id=task_id)
    if session.get("h5_link_used_at"):
        if _cookie_ok(session, event):
            return 200, page_state(session), []
        raise ApiError(410, LINK_USED, {"reason": "used"})
    if _now() > int(session["h5_link_expires_at"]):
        raise ApiError(410, LINK_EXPIRED, {"reason": "expired"})
    cookie = secrets.token_urlsafe(32)
    values = {"h5_link_used_at": _now(), "h5_cookie_hash": _digest(cookie), "h5_cookie_expires_at": _now() + PAGE_SESSION_SECONDS}
    session = sessions.update_if(task_id, values, Attr("h5_link_used_at").not_exists())
    if session is None:  # another browser took it a moment ago
        raise ApiError(410, LINK_USED, {"reason": "used"})
    logger.info("hosted page opened")
    return 200, page_state(session), [_set_cookie(event, task_id, cookie)]


def _number(_session: dict[str, Any], req: validation.H5Number) -> tuple[int, dict]:
    """The carrier and region of a mobile number as the user types it (never in a URL)."""
    mobile = validation.normalise_mobile(req.mobile_no)
    if mobile is None:
        message = codes.guide_message(codes.BAD_MOBILE)
        data = {"valid": False, "isp": "", "region": "", "guide_code": codes.BAD_MOBILE, "guide_message": message}
        return 200, envelope(codes.IN_PROGRESS, message, data)
    number = numbers.describe(mobile)
    data = {"valid": True, "isp": number.isp, "region": number.region, "guide_code": "", "guide_message": ""}
    return 200, envelope(codes.IN_PROGRESS, "", data)


def _start(session: dict[str, Any], req: validation.H5Start) -> tuple[int, dict]:
    if req.agreement_version != AGREEMENT_VERSION:
        raise ApiError(400, "授权协议已更新，请刷新页面后重新阅读并同意")
    if session["status"] != sessions.AWAITING_USER:  # started already (a second tap, another tab)
        return 200, page_state(session)
    task_id = session["task_id"]
    prefill = json.loads(crypto.decrypt(task_id, session["prefill_enc"])) if session.get("prefill_enc") else {}
    person = {field: prefill.get(field) or getattr(req, field) or "" for field in PERSON_FIELDS}
    for field in PERSON_FIELDS:
        if not person[field]:
            raise ApiError(400, f"缺少必填字段: {field}")
    bad = validation.identity_guide_code(person["mobile_no"], person["identity_card"], person["name"])
    if bad:  # the form again: nothing was started, the link's task still waits for its user
        state = page_state(session)
        message = codes.guide_message(bad)
        state.update(code=codes.IN_PROGRESS, message=message)
        state["data"].update(guide_code=bad, guide_message=message, next_action=codes.USER_NEXT_ACTIONS[bad])
        return 200, state
    consent = {"version": AGREEMENT_VERSION, "at": int(time.time() * 1000)}
    answer, current = facade.launch(
        session["tenant"],
        session["user_id"],
        Identity(name=person["name"], id_number=person["identity_card"], mobile=person["mobile_no"]),
        req.password,
        {"consent": consent},
        task_id=task_id,
    )
    return 200, page_state(current or session, answer)


def _signal(action: str, session: dict[str, Any], req: validation.H5Resend) -> tuple[int, dict]:
    code = getattr(req, "auth_code", None)
    status, answer = facade.signal_task(action, session, req.trace_id, code, req.model_dump_json())
    # read again: the answer may be an idempotent replay of an earlier request (and it is an
    # envelope, without the counters the page shows)
    current = sessions.get(session["task_id"]) or session
    # a stale trace_id (409): the page renders the current checkpoint instead
    return status, page_state(current, answer if status == 200 else None)


# POST /h5/{task_id}/api/{action} behind the page's cookie (``session`` trades the link for it):
# action -> (the operation declared in api.PAGE_OPERATIONS, (session, request) -> (status, envelope))
PAGE_ACTIONS: dict[str, tuple[str, Callable[[dict[str, Any], Any], tuple[int, dict]]]] = {
    "number": ("h5PageNumber", _number),  # the session only proves the caller is the page
    "start": ("h5PageStart", _start),
    "code": ("h5PageCode", partial(_signal, "submit")),
    "resend": ("h5PageResend", partial(_signal, "resend")),
}


# ---------------------------------------------------------------- serving
IMMUTABLE = "public, max-age=31536000, immutable"


def security_headers(https: bool) -> dict[str, str]:
    ancestors = get_settings().h5_frame_ancestors
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
    }
    if ancestors.strip() == "'none'":
        headers["X-Frame-Options"] = "DENY"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}


class Assets:
    """The page's files (``functions/h5/static``), read once per environment. The version in
    their URLs is a hash of their content, so they may be cached for good. They are text: a
    ``str`` body is answered as is, where bytes would be base64 that API Gateway passes through
    undecoded unless the API declares binary media types."""

    def __init__(self, root: Path) -> None:
        files = {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.suffix in CONTENT_TYPES}
        self.version = hashlib.sha256(b"".join(files[n] for n in sorted(files))).hexdigest()[:12]
        self.files = {name: content.decode("utf-8") for name, content in files.items()}

    def page(self, base: str) -> str:
        from html import escape

        return self.files["index.html"].replace("{{BASE}}", escape(base)).replace("{{VERSION}}", self.version)


def page_function(static: Path) -> Callable[[dict, Any], Any]:
    """The Lambda handler of the page and its endpoints (``/h5/{task_id}`` and below)."""
    log = Logger()
    tracer = Tracer(patch_modules=("botocore",))
    metrics = Metrics()

    @cache
    def assets() -> Assets:
        return Assets(static)

    @cache
    def routed() -> APIGatewayRestResolver:
        # built on the first call, not at import: the event_handler package is a cold start's
        # largest import after boto3 (handlers.api_function does the same)
        from aws_lambda_powertools.event_handler import Response

        from . import api
        from .handlers import resolver

        def event() -> dict[str, Any]:
            return app.current_event.raw_event

        # the CSRF check comes before anything is said about a POST's body
        app = resolver(validated=True, before_body=lambda: _same_origin(event()))

        def json_answer(status: int, body: dict, cookies: list | None = None) -> Response:
            answer = http(status, body)
            answer.cookies = cookies or []
            return answer

        def declare(name: str, handler: Callable[..., Response]) -> None:
            declared = api.PAGE_OPERATIONS[name]
            handler.__signature__ = api.signature(declared)  # type: ignore[attr-defined]
            app.route(declared.path, method=declared.method, **api.route_kwargs(name, declared))(handler)

        def page(task_id: str) -> Response:
            if not facade.TASK_ID.fullmatch(task_id):
                raise ApiError(404, LINK_INVALID)
            body = assets().page(f"{_prefix(event())}/h5/{task_id}")
            return Response(200, CONTENT_TYPES[".html"], body)

        declare("h5Page", page)

        def state(task_id: str) -> Response:
            return json_answer(200, page_state(_page_session(task_id, event())))

        declare("h5PageState", state)

        def exchange(task_id: str, body: validation.H5LinkToken) -> Response:
            _same_origin(event())
            metrics.add_metric(name="H5SessionRequested", unit=MetricUnit.Count, value=1)
            return json_answer(*_exchange(task_id, body, event()))

        declare("h5PageSession", exchange)

        def action(name: str, handler: Callable[[dict[str, Any], Any], tuple[int, dict]]) -> Callable[..., Response]:
            def act(task_id: str, body: Any) -> Response:
                _same_origin(event())
                metrics.add_metric(name=f"H5{name.capitalize()}Requested", unit=MetricUnit.Count, value=1)
                if name in ("code", "resend"):  # idempotency's guard against the function's timeout
                    facade.register_lambda_context(app.lambda_context)
                return json_answer(*handler(_page_session(task_id, event()), body))

            return act

        for name, (operation, handler) in PAGE_ACTIONS.items():
            declare(operation, action(name, handler))

        @app.get("/h5/<task_id>/<asset>", include_in_schema=False, enable_validation=False)  # files
        def asset(task_id: str, asset: str) -> Response:
            content = assets().files.get(asset)
            if content is None or asset == "index.html":
                raise ApiError(404, "接口不存在")
            current = (app.current_event.query_string_parameters or {}).get("v") == assets().version
            headers = {"Cache-Control": IMMUTABLE} if current else None  # the rest: lambda_handler
            return Response(200, CONTENT_TYPES[Path(asset).suffix], content, headers=headers)

        return app

    @log.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict, context: Any) -> Any:
        result = routed().resolve(event, context)
        # every answer, errors included, carries the page's security headers (an asset's own
        # Cache-Control wins)
        headers = result.setdefault("multiValueHeaders", {})
        for key, value in security_headers(_https(event)).items():
            headers.setdefault(key, [value])
        return result

    return lambda_handler
