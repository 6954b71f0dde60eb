"""Sandbox emulators of the upstream providers, for the local stack and tests. Never deployed.

``server`` (the HTTP server, ``SandboxProviders``), one emulator module per provider (``juxinli``,
``moxie``, ``three_factor``, ``yuxin``, as in ``carrier_auth.providers``), ``common`` (what they
share) and ``scenarios`` (the mobile-number table they all read; ``readme`` renders it for the
README).
"""

from .common import mask_mobile
from .scenarios import SMS_CODE
from .server import SandboxProviders

__all__ = ["SMS_CODE", "SandboxProviders", "mask_mobile"]
