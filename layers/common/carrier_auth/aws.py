"""Lazily created, cached AWS clients.

Module-level clients escape moto and the local stack's endpoint: build them on first use
so tests and the embedded stack can point them where they need (``AWS_ENDPOINT_URL``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


@cache
def table(name: str) -> Any:
    return boto3.resource("dynamodb", config=_CONFIG).Table(name)


def reset() -> None:
    """Forget cached clients (the local stack and tests call this after changing endpoints)."""
    client.cache_clear()
    table.cache_clear()
