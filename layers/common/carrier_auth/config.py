"""Deployment settings, read from the function environment (set by template.yaml Globals)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


@dataclass(frozen=True)
class Settings:
    sessions_table: str
    idempotency_table: str
    kms_key_id: str
    event_bus_name: str
    state_machine_arn: str
    pii_hash_key_secret: str
    callback_secret: str
    carrier_provider: str
    juxinli_base_url: str
    juxinli_org: str
    juxinli_secret: str
    three_factor_base_url: str
    three_factor_secret: str
    input_timeout_seconds: int
    poll_interval_seconds: int
    max_collect_polls: int
    facade_wait_seconds: int
    callback_allowed_hosts: frozenset[str]
    session_ttl_days: int


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
        callback_secret=env("CALLBACK_SECRET", ""),
        carrier_provider=env("CARRIER_PROVIDER", "juxinli"),
        juxinli_base_url=env("JUXINLI_BASE_URL", "").rstrip("/"),
        juxinli_org=env("JUXINLI_ORG", ""),
        juxinli_secret=env("JUXINLI_SECRET", ""),
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
    )
