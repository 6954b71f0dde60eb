"""Sandbox emulators of the upstream providers, for the local stack and tests. Never deployed."""

from .server import SMS_CODE, SandboxProviders, mask_mobile

__all__ = ["SMS_CODE", "SandboxProviders", "mask_mobile"]
