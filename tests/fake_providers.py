"""Fake upstream providers behind the provider interface (``carrier_auth.providers.base``), and a
guard that fails a test when anything tries the network instead.

``FakeProviders`` stands in for ``carrier_auth.providers.registry``: ``carrier_provider(name)`` /
``identity_provider(name)`` hand out one ``FakeCarrier`` / ``FakeIdentity`` per provider name. Each
fake records its calls (in memory only: they hold the plaintext person, password and codes) and
answers what the test configured: a ``CarrierStep`` / ``CollectResult`` / ``IdentityResult``, or an
exception instance to raise (``ProviderUnavailable``, ``ProviderError``, ...).

    providers = FakeProviders().install(monkeypatch)
    providers.carrier("juxinli").poll_result = CollectResult("SUCCESS")
    ... run a handler ...
    assert providers.carrier("juxinli").operations == ["poll"]
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest
from carrier_auth.config import get_settings
from carrier_auth.providers.base import (
    CarrierStep,
    CollectResult,
    Identity,
    IdentityResult,
    ProviderError,
)

CARRIERS = ("juxinli", "moxie")
IDENTITIES = ("three_factor", "yuxin")


def _give(answer: Any) -> Any:
    if isinstance(answer, BaseException):
        raise answer
    return answer


@dataclass
class FakeCarrier:
    """A ``CarrierProvider``: each operation answers its attribute (or raises it)."""

    name: str
    login_step: CarrierStep | BaseException = field(default_factory=lambda: CarrierStep("NEED_INPUT", "90001"))
    submit_step: CarrierStep | BaseException = field(default_factory=lambda: CarrierStep("COLLECTING"))
    resend_step: CarrierStep | BaseException = field(default_factory=lambda: CarrierStep("NEED_INPUT", "90001"))
    check_step: CarrierStep | BaseException = field(default_factory=lambda: CarrierStep("NEED_INPUT", "90001"))
    reconcile_step: CarrierStep | None | BaseException = None
    poll_result: CollectResult | BaseException = field(default_factory=lambda: CollectResult("RUNNING"))
    # (operation, its arguments) in call order
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    @property
    def operations(self) -> list[str]:
        return [op for op, _args in self.calls]

    def login(self, identity: Identity, password: str) -> CarrierStep:
        self.calls.append(("login", (identity, password)))
        return _give(self.login_step)

    def submit(self, state: dict[str, Any], identity: Identity, password: str, code: str) -> CarrierStep:
        self.calls.append(("submit", (dict(state), identity, password, code)))
        return _give(self.submit_step)

    def resend(self, state: dict[str, Any], identity: Identity, password: str) -> CarrierStep:
        self.calls.append(("resend", (dict(state), identity, password)))
        return _give(self.resend_step)

    def check(self, state: dict[str, Any]) -> CarrierStep:
        self.calls.append(("check", (dict(state),)))
        return _give(self.check_step)

    def reconcile(self, state: dict[str, Any]) -> CarrierStep | None:
        self.calls.append(("reconcile", (dict(state),)))
        return _give(self.reconcile_step)

    def poll(self, state: dict[str, Any]) -> CollectResult:
        self.calls.append(("poll", (dict(state),)))
        return _give(self.poll_result)


@dataclass
class FakeIdentity:
    """An ``IdentityProvider``: ``verify`` answers ``result`` (or raises it)."""

    name: str
    result: IdentityResult | BaseException | None = None  # None: consistent
    calls: list[Identity] = field(default_factory=list)

    def verify(self, identity: Identity) -> IdentityResult:
        self.calls.append(identity)
        if self.result is None:
            return IdentityResult(verdict="consistent", provider=self.name, raw_code="0", request_id="fake-1")
        return _give(self.result)


class FakeProviders:
    """The registry's two factories, handing out fakes; ``built`` lists what was asked for."""

    def __init__(self) -> None:
        self.carriers: dict[str, FakeCarrier] = {}
        self.identities: dict[str, FakeIdentity] = {}
        self.built: list[tuple[str, str]] = []

    def carrier(self, name: str) -> FakeCarrier:
        if name not in CARRIERS:
            raise ProviderError(f"unsupported carrier provider: {name}")
        return self.carriers.setdefault(name, FakeCarrier(name))

    def identity(self, name: str) -> FakeIdentity:
        if name not in IDENTITIES:
            raise ProviderError(f"unsupported identity provider: {name}")
        return self.identities.setdefault(name, FakeIdentity(name))

    # the registry's signatures
    def carrier_provider(self, name: str | None = None) -> FakeCarrier:
        name = name or get_settings().carrier_provider
        self.built.append(("carrier", name))
        return self.carrier(name)

    def identity_provider(self, name: str) -> FakeIdentity:
        self.built.append(("identity", name))
        return self.identity(name)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(provider, operation) of every call to any fake."""
        return [(c.name, op) for c in self.carriers.values() for op in c.operations] + [
            (i.name, "verify") for i in self.identities.values() for _ in i.calls
        ]

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
        """Replace the factories where they are looked up: the modules that imported them by name
        (``flow``, ``identity``) and the registry itself."""
        from carrier_auth import flow, identity
        from carrier_auth.providers import registry

        for module in (flow, registry):
            monkeypatch.setattr(module, "carrier_provider", self.carrier_provider)
        for module in (identity, registry):
            monkeypatch.setattr(module, "identity_provider", self.identity_provider)
        return self


class NetworkGuard:
    """Every attempt to open a connection (a socket ``connect``, a ``requests`` session send) is
    refused and recorded in ``attempts``: the code under test may swallow the error, the test
    checks the list. Host names resolve only from ``hosts`` (name -> address); any other name
    is unknown (``socket.gaierror``; numeric addresses stand for themselves), so no DNS query
    leaves the process either."""

    def __init__(self, hosts: dict[str, str] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.attempts: list[str] = []
        self.lookups: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
        import requests

        guard = self

        def connect(sock: socket.socket, address: Any) -> None:
            guard.attempts.append(f"connect {address!r}")
            raise ConnectionRefusedError(f"unit tests make no connections ({address!r})")

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard.attempts.append(f"connect {address!r}")
            return 111

        def send(session: Any, request: Any, **_kwargs: Any) -> Any:
            guard.attempts.append(f"HTTP {request.method} {request.url}")
            raise requests.ConnectionError(f"unit tests make no HTTP requests ({request.url})")

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
            name = host.decode() if isinstance(host, bytes) else str(host)
            guard.lookups.append(name)
            try:  # a numeric address needs no lookup
                address: str | None = str(ipaddress.ip_address(name))
            except ValueError:
                address = guard.hosts.get(name.lower().rstrip("."))
            if address is None:
                raise socket.gaierror(socket.EAI_NONAME, f"unknown host in unit tests: {name}")
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, int(port or 0), 0, 0) if family == socket.AF_INET6 else (address, int(port or 0))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(requests.Session, "send", send)
        return self
