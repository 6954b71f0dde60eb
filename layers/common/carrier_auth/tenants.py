"""Tenants: the apps that share one deployment.

A tenant is an API Gateway API key (with its own usage plan: rate, burst, quota) plus a
Secrets Manager secret named ``<TENANT_SECRET_PREFIX><API key id>``::

    {"name": "loan-app",                          # for logs and operators
     "display_name": "某某借款",                    # optional: the app's name on the hosted page
     "callback_secret": "…",                      # signs this tenant's callbacks
     "callback_secret_previous": "…",             # optional: also signs during a rotation
     "callback_hosts": ["cb.example.com", "*.example.net"]}   # optional allowlist

The tenant of a request is the API key id API Gateway puts in the request context, never
anything in the body. Every task is bound to the tenant that started it; for any other tenant
it does not exist. Adding a tenant is configuration only (docs/tenants.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import get_settings

# Secrets Manager is read at most every 5 minutes per environment: a rotated secret or a
# changed allowlist takes effect within that time.
CACHE_SECONDS = 300


class UnknownTenant(Exception):
    """No usable tenant configuration for this API key id."""


@dataclass(frozen=True)
class Tenant:
    key_id: str
    name: str
    # the current secret first; during a rotation the previous one signs too
    callback_secrets: tuple[str, ...]
    # empty: any public host; else exact host names or "*.suffix" (subdomains of suffix)
    callback_hosts: tuple[str, ...] = ()
    # the app's name as its users know it (the hosted page's agreement names it)
    display_name: str = ""

    def allows_callback_host(self, host: str) -> bool:
        if not self.callback_hosts:
            return True
        host = host.lower().rstrip(".")
        for allowed in self.callback_hosts:
            if allowed.startswith("*."):
                if host.endswith(allowed[1:]) and len(host) > len(allowed) - 1:
                    return True
            elif host == allowed:
                return True
        return False


def key_id_of(event: dict[str, Any]) -> str:
    """The API key id of an API Gateway REST proxy event ("" when there is none)."""
    identity = (event.get("requestContext") or {}).get("identity") or {}
    return str(identity.get("apiKeyId") or "")


def get(key_id: str) -> Tenant:
    """The tenant behind an API key id; UnknownTenant when it has no valid configuration."""
    if not key_id:
        raise UnknownTenant("request without an API key id")
    # imported here: Powertools' parameters package loads every provider it has (tens of ms)
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

    name = get_settings().tenant_secret_prefix + key_id
    try:
        value = get_secret(name, transform="json", max_age=CACHE_SECONDS)
    except (GetParameterError, TransformParameterError):
        raise UnknownTenant(f"no tenant secret for API key id {key_id}") from None
    return _tenant(key_id, value)


def _tenant(key_id: str, value: Any) -> Tenant:
    if not isinstance(value, dict) or not isinstance(value.get("callback_secret"), str) or not value["callback_secret"]:
        raise UnknownTenant(f"tenant secret of {key_id} lacks callback_secret")
    secrets = [value["callback_secret"]]
    previous = value.get("callback_secret_previous")
    if isinstance(previous, str) and previous and previous != secrets[0]:
        secrets.append(previous)
    hosts = value.get("callback_hosts") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise UnknownTenant(f"tenant secret of {key_id}: callback_hosts must be a list of host names")
    return Tenant(
        key_id=key_id,
        name=str(value.get("name") or key_id),
        callback_secrets=tuple(secrets),
        callback_hosts=tuple(h.strip().lower().rstrip(".") for h in hosts),
        display_name=str(value.get("display_name") or value.get("name") or key_id),
    )
