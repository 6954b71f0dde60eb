"""Identity checks (three-factor, 驭信 real-name): one answer shape, a keyed-hash cache, and the
deployment's policy for the carrier flow's pre-check.

The cache key is the provider plus a keyed HMAC of name + id number + phone: DynamoDB never
sees the identity, and an identical check within ``IDENTITY_CACHE_SECONDS`` costs no upstream
call. Only definite answers (consistent / inconsistent / invalid) are cached.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger

from . import aws, codes, crypto
from .config import get_settings
from .providers.base import Identity, IdentityResult, ProviderError, ProviderUnavailable
from .providers.registry import identity_provider

logger = Logger(child=True)

CACHEABLE = ("consistent", "inconsistent", "invalid")
VERDICT_MESSAGES = {
    "consistent": "信息一致",
    "inconsistent": "信息不一致",
    "unknown": "无法确认（无记录或上游暂不支持）",
    "invalid": "输入信息有误",
}


def _cache_key(provider: str, identity: Identity, scope: str) -> str:
    return f"{scope}#{provider}#" + crypto.keyed_hash(f"{identity.name}|{identity.id_number}|{identity.mobile}")


def check(provider: str, identity: Identity, scope: str) -> tuple[IdentityResult, bool]:
    """The provider's answer for this identity and whether it came from the cache.

    ``scope`` (the tenant) partitions the cache: a cached answer would tell one tenant that
    another one checked the same person recently."""
    settings = get_settings()
    table = aws.table(settings.identity_cache_table) if settings.identity_cache_table else None
    key = _cache_key(provider, identity, scope) if table is not None and settings.identity_cache_seconds > 0 else ""
    if key:
        item = table.get_item(Key={"cache_key": key}).get("Item")
        if item and int(item["expires_at"]) > time.time():
            logger.info("identity answered from the cache", extra={"provider": provider})
            return IdentityResult(**item["result"]), True
    result = identity_provider(provider).verify(identity)
    if key and result.verdict in CACHEABLE:
        table.put_item(
            Item={
                "cache_key": key,
                "result": asdict(result),
                "expires_at": int(time.time()) + settings.identity_cache_seconds,
            }
        )
    return result, False


def record(result: IdentityResult, cached: bool) -> dict[str, Any]:
    """The one answer shape of both identity checks (API ``data`` and the session record)."""
    return {
        "verdict": result.verdict,
        "message": VERDICT_MESSAGES[result.verdict],
        "guide_code": result.guide_code,
        "isp": result.isp,
        "provider": result.provider,
        "raw_code": result.raw_code,
        "raw_message": result.raw_message,
        "request_id": result.request_id,
        "cached": cached,
    }


def decide(checks: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """Apply the deployment's policy to the recorded checks: (reject?, guide code when rejected).

    Only a definite "inconsistent" / "invalid" stops a task; "unknown" (and no answer at all,
    when every provider failed) follows IDENTITY_UNKNOWN_RULE."""
    settings = get_settings()
    answered = [checks[p] for p in settings.identity_providers if p in checks]
    if settings.identity_policy == "both" and len(answered) < len(settings.identity_providers):
        answered = answered + [{"verdict": "unknown", "guide_code": ""}]  # a failed provider cannot agree
    negative = next((c for c in answered if c["verdict"] in ("inconsistent", "invalid")), None)
    if negative:
        return True, negative.get("guide_code") or codes.IDENTITY_MISMATCH
    if answered and all(c["verdict"] == "consistent" for c in answered):
        return False, ""
    if settings.identity_unknown_rule == "reject":
        return True, codes.IDENTITY_MISMATCH
    return False, ""


# An unavailable provider is asked again this often, after full-jitter backoff (1 s, then 2 s)
# - what the state machine's Retry did when each check was its own state - then the policy
# falls back.
UNAVAILABLE_ATTEMPTS = 3


def _ask(provider: str, person: Identity, scope: str, deadline: float) -> dict[str, Any] | None:
    """One provider's recorded answer for ``person``, or None when it gave none (unavailable
    after its retries, or an answer we cannot use)."""
    for attempt in range(UNAVAILABLE_ATTEMPTS):
        try:
            result, cached = check(provider, person, scope)
        except ProviderUnavailable:
            pause = random.uniform(0, 2**attempt)
            if attempt + 1 == UNAVAILABLE_ATTEMPTS or time.monotonic() + pause > deadline:
                logger.warning("identity provider unavailable", extra={"provider": provider, "attempts": attempt + 1})
                return None
            time.sleep(pause)
        except ProviderError as exc:
            logger.warning("identity provider failed", extra={"provider": provider, "error_type": type(exc).__name__})
            return None
        else:
            logger.info("identity checked", extra={"provider": provider, "verdict": result.verdict, "cached": cached})
            return record(result, cached)
    return None


def verify_person(person: Identity, scope: str, deadline: float) -> dict[str, dict[str, Any]]:
    """The checks the deployment's policy asks for, by provider (only those that answered).

    ``fallback``: the first provider of IDENTITY_PROVIDERS, and the next one only if it gave no
    answer. ``both``: every provider at once. ``deadline`` (monotonic) stops retries and the
    fallback so that the carrier login keeps its time."""
    settings = get_settings()
    providers = settings.identity_providers
    if settings.identity_policy == "both":
        with ThreadPoolExecutor(max_workers=len(providers)) as pool:
            answers = list(pool.map(lambda p: _ask(p, person, scope, deadline), providers))
        return {p: a for p, a in zip(providers, answers) if a is not None}
    for provider in providers[:2]:
        answer = _ask(provider, person, scope, deadline)
        if answer is not None:
            return {provider: answer}
        if time.monotonic() > deadline:
            break
    return {}
