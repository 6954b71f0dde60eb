"""providers/http.py's failure classification against real local servers that misbehave.

A read (``changes_state=False``) may always be repeated: every failure is ``ProviderUnavailable``.
A state-changing call is ``ProviderUnavailable`` only when it provably never reached the
provider (no connection) or was refused as busy (429); after anything else it may have taken
effect: ``ProviderOutcomeUnknown``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from carrier_auth.providers import http
from carrier_auth.providers.base import ProviderError, ProviderOutcomeUnknown, ProviderUnavailable

TIMEOUT = (2, 0.3)
SECRET_QUERY = {"client_secret": "do-not-print-me"}

Behaviour = Callable[[socket.socket], None]


class RawServer:
    """A TCP server on 127.0.0.1 running ``behaviour`` on every accepted connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.released = threading.Event()  # behaviours that hold a connection wait for this
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/api"

    def _serve(self) -> None:
        while not self.released.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self.requests.append(read_request(conn))
                self._behaviour(conn)

    def close(self) -> None:
        self.released.set()
        self._thread.join(timeout=5)
        self._listener.close()


def read_request(conn: socket.socket) -> bytes:
    """The whole request: headers, then Content-Length bytes of body."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def answer(status: int, body: bytes, content_type: str = "application/json") -> Behaviour:
    def behaviour(conn: socket.socket) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)

    return behaviour


def close_after_reading(conn: socket.socket) -> None:
    """The connection is lost after the request was sent (and read)."""


def half_an_answer(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"succ")


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    servers: list[RawServer] = []

    def start(behaviour: Behaviour) -> RawServer:
        servers.append(RawServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def never_answer(server_ref: list[RawServer]) -> Behaviour:
    def behaviour(conn: socket.socket) -> None:
        server_ref[0].released.wait(10)

    return behaviour


def call(url: str, changes_state: bool) -> dict:
    if changes_state:
        return http.post_json(
            url, {"code": "123456"}, provider="juxinli", operation="submit", changes_state=True, timeout=TIMEOUT
        )
    return http.get_json(url, params=SECRET_QUERY, timeout=TIMEOUT, provider="juxinli", operation="status")


def refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"  # nothing listens there any more


# ---------------------------------------------------------------- never reached: always retryable
@pytest.mark.parametrize("changes_state", [True, False])
def test_connection_refused_is_unavailable(changes_state: bool) -> None:
    with pytest.raises(ProviderUnavailable, match="ConnectionError"):
        call(refused_url(), changes_state)


@pytest.mark.parametrize("changes_state", [True, False])
def test_429_is_unavailable(serve, changes_state: bool) -> None:
    server = serve(answer(429, b'{"message": "slow down"}'))
    with pytest.raises(ProviderUnavailable, match="HTTP 429"):
        call(server.url, changes_state)


# ---------------------------------------------------------------- may have reached: depends on the call
AMBIGUOUS: list[tuple[str, Behaviour, str]] = [
    ("closed after reading", close_after_reading, "ConnectionError"),
    ("half an answer", half_an_answer, "ConnectionError|ChunkedEncodingError"),
    ("503", answer(503, b"Service Temporarily Unavailable", "text/plain"), "HTTP 503"),
    ("500", answer(500, b'{"message": "boom"}'), "HTTP 500"),
    ("HTML 200", answer(200, "<html><body>系统维护中</body></html>".encode(), "text/html"), "not JSON"),
    ("truncated JSON", answer(200, b'{"success": true, "da'), "not JSON"),
    ("JSON but not an object", answer(200, b'["success"]'), "not a JSON object"),
]


@pytest.mark.parametrize(("name", "behaviour", "match"), AMBIGUOUS, ids=[a[0] for a in AMBIGUOUS])
def test_state_changing_call_may_have_taken_effect(serve, name: str, behaviour: Behaviour, match: str) -> None:
    server = serve(behaviour)

    with pytest.raises(ProviderOutcomeUnknown, match=match):
        call(server.url, changes_state=True)
    assert len(server.requests) == 1 and b"123456" in server.requests[0]  # it did arrive


@pytest.mark.parametrize(("name", "behaviour", "match"), AMBIGUOUS, ids=[a[0] for a in AMBIGUOUS])
def test_read_is_just_unavailable(serve, name: str, behaviour: Behaviour, match: str) -> None:
    server = serve(behaviour)

    with pytest.raises(ProviderUnavailable, match=match) as caught:
        call(server.url, changes_state=False)
    assert "do-not-print-me" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes_state", "expected"), [(True, ProviderOutcomeUnknown), (False, ProviderUnavailable)]
)
def test_read_timeout(serve, changes_state: bool, expected: type[ProviderError]) -> None:
    holder: list[RawServer] = []
    holder.append(serve(never_answer(holder)))

    with pytest.raises(expected, match="ReadTimeout"):
        call(holder[0].url, changes_state)
    assert len(holder[0].requests) == 1


# ---------------------------------------------------------------- definite answers
@pytest.mark.parametrize("changes_state", [True, False])
@pytest.mark.parametrize("status", [400, 401, 404])
def test_other_statuses_are_definite_errors(serve, changes_state: bool, status: int) -> None:
    server = serve(answer(status, b'{"message": "no"}'))

    with pytest.raises(ProviderError, match=f"HTTP {status}") as caught:
        call(server.url, changes_state)
    assert not isinstance(caught.value, (ProviderUnavailable, ProviderOutcomeUnknown))


@pytest.mark.parametrize("changes_state", [True, False])
def test_json_object_is_returned(serve, changes_state: bool) -> None:
    server = serve(answer(200, '{"success": true, "message": "好"}'.encode()))

    assert call(server.url, changes_state) == {"success": True, "message": "好"}


def test_unsettled_picks_the_class_by_the_call() -> None:
    assert type(http.unsettled("x", changes_state=True)) is ProviderOutcomeUnknown
    assert type(http.unsettled("x", changes_state=False)) is ProviderUnavailable
