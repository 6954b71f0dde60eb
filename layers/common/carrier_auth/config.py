"""Deployment settings, read from the function environment (set by template.yaml Globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


def _names(raw: str) -> tuple[str, ...]:
    return tuple(n.strip().lower() for n in raw.split(",") if n.strip() and n.strip().lower() != "none")


@dataclass(frozen=True)
class Settings:
    sessions_table: str
    idempotency_table: str
    kms_key_id: str
    event_bus_name: str
    state_machine_arn: str
    pii_hash_key_secret: str
    carrier_provider: str
    carrier_fallback: tuple[str, ...]
    juxinli_base_url: str
    juxinli_org: str
    juxinli_secret: str
    juxinli_query_pwd_key: str
    moxie_base_url: str
    moxie_secret: str
    three_factor_base_url: str
    three_factor_secret: str
    input_timeout_seconds: int
    poll_interval_seconds: int
    max_collect_polls: int
    facade_wait_seconds: int
    callback_allowed_hosts: frozenset[str]
    session_ttl_days: int
    resend_limit: int
    resend_interval_seconds: int
    wrong_code_limit: int
    max_login_checks: int
    check_interval_seconds: int
    yuxin_base_url: str
    yuxin_secret: str
    identity_providers: tuple[str, ...]
    identity_policy: str
    identity_unknown_rule: str
    identity_cache_seconds: int
    identity_cache_table: str
    upstream_timeout_seconds: float
    tenant_secret_prefix: str
    h5_link_seconds: int
    h5_frame_ancestors: str
    h5_base_url: str

    def carrier_chain(self) -> tuple[str, ...]:
        """The primary carrier provider, then the ordered fallback (no repeats)."""
        return tuple(dict.fromkeys((self.carrier_provider, *self.carrier_fallback)))


def get_settings() -> Settings:
    """Read settings now (cheap): tests and the local stack may change the environment."""
    env = os.environ.get
    return Settings(
        sessions_table=env("SESSIONS_TABLE", ""),
        idempotency_table=env("IDEMPOTENCY_TABLE", ""),
        kms_key_id=env("KMS_KEY_ID", ""),
        event_bus_name=env("EVENT_BUS_NAME", "default"),
        state_machine_arn=env("STATE_MACHINE_ARN", ""),
        pii_hash_key_secret=env("PII_HASH_KEY_SECRET", ""),
        carrier_provider=env("CARRIER_PROVIDER", "juxinli"),
        carrier_fallback=_names(env("CARRIER_PROVIDER_FALLBACK", "")),
        juxinli_base_url=env("JUXINLI_BASE_URL", "").rstrip("/"),
        juxinli_org=env("JUXINLI_ORG", ""),
        juxinli_secret=env("JUXINLI_SECRET", ""),
        juxinli_query_pwd_key=env("JUXINLI_QUERY_PASSWORD_FIELD", "") or "queryPwd",
        moxie_base_url=env("MOXIE_BASE_URL", "").rstrip("/"),
        moxie_secret=env("MOXIE_SECRET", ""),
        three_factor_base_url=env("THREE_FACTOR_BASE_URL", "").rstrip("/"),
        three_factor_secret=env("THREE_FACTOR_SECRET", ""),
        input_timeout_seconds=env_int("INPUT_TIMEOUT_SECONDS", 300),
        poll_interval_seconds=env_int("POLL_INTERVAL_SECONDS", 30),
        max_collect_polls=env_int("MAX_COLLECT_POLLS", 20),
        facade_wait_seconds=env_int("FACADE_WAIT_SECONDS", 20),
        callback_allowed_hosts=frozenset(
            h.strip().lower() for h in env("CALLBACK_ALLOWED_HOSTS", "").split(",") if h.strip()
        ),
        session_ttl_days=env_int("SESSION_TTL_DAYS", 30),
        resend_limit=env_int("RESEND_LIMIT", 5),
        resend_interval_seconds=env_int("RESEND_INTERVAL_SECONDS", 60),
        wrong_code_limit=env_int("WRONG_CODE_LIMIT", 5),
        max_login_checks=env_int("MAX_LOGIN_CHECKS", 60),
        check_interval_seconds=env_int("CHECK_INTERVAL_SECONDS", 2),
        yuxin_base_url=env("YUXIN_BASE_URL", "").rstrip("/"),
        yuxin_secret=env("YUXIN_SECRET", ""),
        identity_providers=_names(env("IDENTITY_PROVIDERS", "three_factor,yuxin")) or ("three_factor",),
        identity_policy=env("IDENTITY_POLICY", "fallback"),
        identity_unknown_rule=env("IDENTITY_UNKNOWN_RULE", "continue"),
        identity_cache_seconds=env_int("IDENTITY_CACHE_SECONDS", 86400),
        identity_cache_table=env("IDENTITY_CACHE_TABLE", ""),
        upstream_timeout_seconds=float(env("UPSTREAM_TIMEOUT_SECONDS", "") or 10),
        tenant_secret_prefix=env("TENANT_SECRET_PREFIX", "carrier-auth/tenants/"),
        h5_link_seconds=env_int("H5_LINK_TTL_SECONDS", 600),
        h5_frame_ancestors=env("H5_FRAME_ANCESTORS", "") or "'none'",
        h5_base_url=env("H5_BASE_URL", "").rstrip("/"),
    )
