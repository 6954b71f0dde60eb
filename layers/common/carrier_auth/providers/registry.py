"""Build the deployment's provider adapters from settings and Secrets Manager."""

from __future__ import annotations

from ..config import get_settings
from .base import CarrierProvider, IdentityProvider, ProviderError


def _secret(name: str) -> dict:
    # imported here, like the adapters: Powertools' parameters package loads every provider it has
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(name, transform="json", max_age=300)
    if not isinstance(value, dict):
        raise ProviderError(f"secret {name} must be a JSON object")
    return value


def _timeout() -> tuple[float, float]:
    """(connect, read) seconds for every upstream call of this deployment."""
    return (3.05, get_settings().upstream_timeout_seconds)


def carrier_provider(name: str | None = None) -> CarrierProvider:
    """The named carrier provider (default: the deployment's primary)."""
    settings = get_settings()
    name = name or settings.carrier_provider
    if name == "juxinli":
        from .juxinli import JuxinliProvider

        creds = _secret(settings.juxinli_secret)
        return JuxinliProvider(
            settings.juxinli_base_url,
            settings.juxinli_org,
            creds["client_secret"],
            query_pwd_key=settings.juxinli_query_pwd_key,
            timeout=_timeout(),
        )
    if name == "moxie":
        from .moxie import MoxieProvider

        creds = _secret(settings.moxie_secret)
        return MoxieProvider(settings.moxie_base_url, creds["apikey"], timeout=_timeout())
    raise ProviderError(f"unsupported carrier provider: {name}")


def identity_provider(name: str) -> IdentityProvider:
    settings = get_settings()
    if name == "three_factor":
        from .three_factor import ThreeFactorProvider

        creds = _secret(settings.three_factor_secret)
        return ThreeFactorProvider(settings.three_factor_base_url, creds["token"], timeout=_timeout())
    if name == "yuxin":
        from .yuxin import YuxinProvider

        creds = _secret(settings.yuxin_secret)
        options = {k: creds[k] for k in ("mode", "iv_length", "key_encoding", "output_encoding", "form") if k in creds}
        return YuxinProvider(
            settings.yuxin_base_url, creds["token"], creds["aes_key"], timeout=_timeout(), **options
        )
    raise ProviderError(f"unsupported identity provider: {name}")
