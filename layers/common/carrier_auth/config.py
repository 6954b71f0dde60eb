"""Deployment settings, read from the function's environment.

Each setting is declared once below: its attribute, its environment variable, how its text is
read and its default. A setting is read when it is asked for, not before, so a function needs
only the variables of the settings it uses: template.yaml gives each function exactly those
(its own ``Environment``; ``Globals`` carries only Powertools' own variables), and
tests/unit/test_function_settings.py fails when the template and the code disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Called with the variable's name each time a setting is read (tests: which settings a
# function reads). Empty in production.
READ_HOOKS: list[Callable[[str], None]] = []


def env_int(name: str, default: int) -> int:
    """An integer variable outside Settings (the local stack's own knobs)."""
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


class _Var(Generic[T]):
    """One setting: the variable ``env``, read by ``parse`` (given the text, None when unset)."""

    def __init__(self, env: str, parse: Callable[[str | None], T]) -> None:
        self.env = env
        self.parse = parse

    def __get__(self, obj: object, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]  (the class attribute: Settings.variables())
        for hook in READ_HOOKS:
            hook(self.env)
        return self.parse(os.environ.get(self.env))


def _text(default: str = "") -> Callable[[str | None], str]:
    return lambda raw: default if raw is None else raw


def _text_or(default: str) -> Callable[[str | None], str]:
    """Empty counts as unset."""
    return lambda raw: raw or default


def _url(raw: str | None) -> str:
    return (raw or "").rstrip("/")


def _int(default: int) -> Callable[[str | None], int]:
    return lambda raw: int(raw) if raw and raw.strip() else default


def _seconds(default: float) -> Callable[[str | None], float]:
    return lambda raw: float(raw) if raw and raw.strip() else default


def _names(default: str = "", fallback: tuple[str, ...] = ()) -> Callable[[str | None], tuple[str, ...]]:
    """A comma list of lower-case names ("none" and blanks dropped); ``fallback`` when empty."""

    def parse(raw: str | None) -> tuple[str, ...]:
        text = default if raw is None else raw
        names = tuple(n.strip().lower() for n in text.split(",") if n.strip() and n.strip().lower() != "none")
        return names or fallback

    return parse


def _hosts(raw: str | None) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in (raw or "").split(",") if h.strip())


class Settings:
    # AWS resources of the stack
    sessions_table = _Var("SESSIONS_TABLE", _text())
    idempotency_table = _Var("IDEMPOTENCY_TABLE", _text())
    identity_cache_table = _Var("IDENTITY_CACHE_TABLE", _text())
    kms_key_id = _Var("KMS_KEY_ID", _text())
    event_bus_name = _Var("EVENT_BUS_NAME", _text("default"))
    state_machine_arn = _Var("STATE_MACHINE_ARN", _text())
    pii_hash_key_secret = _Var("PII_HASH_KEY_SECRET", _text())
    tenant_secret_prefix = _Var("TENANT_SECRET_PREFIX", _text("carrier-auth/tenants/"))
    # carrier providers
    carrier_provider = _Var("CARRIER_PROVIDER", _text("juxinli"))
    carrier_fallback = _Var("CARRIER_PROVIDER_FALLBACK", _names())
    juxinli_base_url = _Var("JUXINLI_BASE_URL", _url)
    juxinli_org = _Var("JUXINLI_ORG", _text())
    juxinli_secret = _Var("JUXINLI_SECRET", _text())
    juxinli_query_pwd_key = _Var("JUXINLI_QUERY_PASSWORD_FIELD", _text_or("queryPwd"))
    moxie_base_url = _Var("MOXIE_BASE_URL", _url)
    moxie_secret = _Var("MOXIE_SECRET", _text())
    upstream_timeout_seconds = _Var("UPSTREAM_TIMEOUT_SECONDS", _seconds(10))
    # identity providers and policy
    three_factor_base_url = _Var("THREE_FACTOR_BASE_URL", _url)
    three_factor_secret = _Var("THREE_FACTOR_SECRET", _text())
    yuxin_base_url = _Var("YUXIN_BASE_URL", _url)
    yuxin_secret = _Var("YUXIN_SECRET", _text())
    identity_providers = _Var("IDENTITY_PROVIDERS", _names("three_factor,yuxin", fallback=("three_factor",)))
    identity_policy = _Var("IDENTITY_POLICY", _text("fallback"))
    identity_unknown_rule = _Var("IDENTITY_UNKNOWN_RULE", _text("continue"))
    identity_cache_seconds = _Var("IDENTITY_CACHE_SECONDS", _int(86400))
    # the flow's timing and limits
    input_timeout_seconds = _Var("INPUT_TIMEOUT_SECONDS", _int(300))
    poll_interval_seconds = _Var("POLL_INTERVAL_SECONDS", _int(30))
    max_collect_polls = _Var("MAX_COLLECT_POLLS", _int(20))
    max_login_checks = _Var("MAX_LOGIN_CHECKS", _int(60))
    check_interval_seconds = _Var("CHECK_INTERVAL_SECONDS", _int(2))
    facade_wait_seconds = _Var("FACADE_WAIT_SECONDS", _int(20))
    session_ttl_days = _Var("SESSION_TTL_DAYS", _int(30))
    resend_limit = _Var("RESEND_LIMIT", _int(5))
    resend_interval_seconds = _Var("RESEND_INTERVAL_SECONDS", _int(60))
    wrong_code_limit = _Var("WRONG_CODE_LIMIT", _int(5))
    # callbacks
    callback_allowed_hosts = _Var("CALLBACK_ALLOWED_HOSTS", _hosts)
    callback_timeout_seconds = _Var("CALLBACK_TIMEOUT_SECONDS", _int(5))
    callback_retry_base_seconds = _Var("CALLBACK_RETRY_BASE_SECONDS", _int(30))
    # the hosted page
    h5_link_seconds = _Var("H5_LINK_TTL_SECONDS", _int(600))
    h5_frame_ancestors = _Var("H5_FRAME_ANCESTORS", _text_or("'none'"))
    h5_base_url = _Var("H5_BASE_URL", _url)

    def carrier_chain(self) -> tuple[str, ...]:
        """The primary carrier provider, then the ordered fallback (no repeats)."""
        return tuple(dict.fromkeys((self.carrier_provider, *self.carrier_fallback)))

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Every setting's attribute -> its environment variable."""
        return {name: var.env for name, var in vars(cls).items() if isinstance(var, _Var)}


_SETTINGS = Settings()


def get_settings() -> Settings:
    """The settings; each attribute reads the environment when asked (cheap), so tests and the
    local stack may change the environment at any time."""
    return _SETTINGS

