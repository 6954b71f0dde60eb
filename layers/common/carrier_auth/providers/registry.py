"""Build the deployment's provider adapters from settings and Secrets Manager."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parameters import get_secret

from ..config import get_settings
from .base import CarrierProvider, IdentityProvider, ProviderError


def _secret(name: str) -> dict:
    value = get_secret(name, transform="json", max_age=300)
    if not isinstance(value, dict):
        raise ProviderError(f"secret {name} must be a JSON object")
    return value


def carrier_provider() -> CarrierProvider:
    settings = get_settings()
    if settings.carrier_provider == "juxinli":
        from .juxinli import JuxinliProvider

        creds = _secret(settings.juxinli_secret)
        return JuxinliProvider(settings.juxinli_base_url, settings.juxinli_org, creds["client_secret"])
    raise ProviderError(f"unsupported carrier provider: {settings.carrier_provider}")


def identity_provider() -> IdentityProvider:
    from .three_factor import ThreeFactorProvider

    settings = get_settings()
    creds = _secret(settings.three_factor_secret)
    return ThreeFactorProvider(settings.three_factor_base_url, creds["token"])
