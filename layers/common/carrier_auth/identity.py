"""Identity checks (three-factor, 驭信 real-name): one answer shape, a keyed-hash cache, and the
deployment's policy for the carrier flow's pre-check.

The cache key is the provider plus a keyed HMAC of name + id number + phone: DynamoDB never
sees the identity, and an identical check within ``IDENTITY_CACHE_SECONDS`` costs no upstream
call. Only definite answers (consistent / inconsistent / invalid) are cached.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger

from . import aws, codes, crypto
from .config import get_settings
from .providers.base import Identity, IdentityResult
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
