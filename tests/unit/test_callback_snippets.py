"""docs/callbacks.md: the four receiver snippets really verify the gateway's callbacks.

Each snippet is cut out of the document by its first-line file name, built with its own
toolchain (Python always; Go, Java and Node.js when on PATH, else skipped with the reason), run
as a real HTTP server on a free loopback port and sent the same cases: deliveries signed with the
Standard Webhooks reference library (``standardwebhooks``), a repeat, a rotation, a tampered
body, stale timestamps and malformed headers. Nothing is downloaded (Go: GOPROXY=off,
GOTOOLCHAIN=local) and nothing sleeps: every wait polls against a deadline.

Timings on the 2-core development machine, build + start (the 26 cases then take well under a
second per language): Python 0.1 s, Node.js 0.2 s, Go 0.6-1.2 s with a warm build cache (about
9 s cold: `go vet` + `go build` of the standard library parts it needs), Java 1-2 s (javac, then
the classes; `java Receiver.java` itself is checked once, 1.2-1.5 s). The whole file: 4-8 s.
Every language stays far below 30 s, so all four run their servers: none is compile-only.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "callbacks.md"
DEADLINE = 30.0  # seconds for any one wait (a server to listen, a line to appear, a process to exit)

# language -> (file name on the snippet's first line, its comment marker, the toolchain it needs)
SNIPPETS = {
    "python": ("receiver.py", "#", None),
    "go": ("receiver.go", "//", "go"),
    "java": ("Receiver.java", "//", "javac"),
    "node": ("receiver.js", "//", "node"),
}


def doc_text() -> str:
    if not DOC.is_file():
        pytest.fail(f"{DOC.relative_to(ROOT)} is missing")
    return DOC.read_text(encoding="utf-8")


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)^```\s*$", text, re.MULTILINE | re.DOTALL)


def snippet(file_name: str, marker: str) -> str:
    first_line = re.compile(rf"{re.escape(marker)} {re.escape(file_name)}(?![\w.])")
    found = [block for block in code_blocks(doc_text()) if first_line.match(block)]
    if len(found) != 1:
        pytest.fail(f"docs/callbacks.md: expected one code block whose first line is '{marker} {file_name}', "
                    f"found {len(found)}")
    return found[0]


# --- building and running a snippet ----------------------------------------------------------------


@dataclass
class Built:
    language: str
    command: list[str]
    cwd: Path
    env: dict[str, str]


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _go_env(go: str, work: Path) -> dict[str, str]:
    """Nothing may download (GOPROXY=off, GOTOOLCHAIN=local); the user's build cache is reused when
    it exists (a warm cache builds in about a second), else a fresh one under tmp."""
    env = dict(os.environ, GOTOOLCHAIN="local", GOPROXY="off", GOFLAGS="", GOWORK="off", CGO_ENABLED="0",
               GOPATH=str(work / "gopath"))
    env.pop("GOCACHE", None)
    cache = subprocess.run([go, "env", "GOCACHE"], capture_output=True, text=True, env=env).stdout.strip()
    if not cache or not Path(cache).is_dir():
        env["GOCACHE"] = str(work / "gocache")
    return env


def build(language: str, work: Path) -> Built:
    file_name, marker, tool = SNIPPETS[language]
    source = work / file_name
    source.write_text(snippet(file_name, marker), encoding="utf-8")
    if tool and not shutil.which(tool):
        pytest.skip(f"{tool} is not on PATH: the {file_name} snippet is not tested")
    if language == "python":
        return Built(language, [sys.executable, file_name], work, dict(os.environ))
    if language == "go":
        env = _go_env(shutil.which("go"), work)
        _run(["go", "vet", file_name], work, env)
        _run(["go", "build", "-o", "receiver", file_name], work, env)
        return Built(language, [str(work / "receiver")], work, dict(os.environ))
    if language == "java":
        if not shutil.which("java"):
            pytest.skip("java is not on PATH: the Receiver.java snippet is not tested")
        _run(["javac", "-Xlint:all", "-Werror", "-d", "classes", file_name], work)
        return Built(language, ["java", "-cp", "classes", "Receiver"], work, dict(os.environ))
    _run(["node", "--check", file_name], work)
    return Built(language, ["node", file_name], work, dict(os.environ))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


@dataclass
class Server:
    built: Built
    key: bytes
    port: int = field(default_factory=free_port)
    lines: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def secret(self) -> str:
        return whsec(self.key)

    def start(self, log: Path) -> "Server":
        env = dict(self.built.env, CALLBACK_SECRET=self.secret, PORT=str(self.port))
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(self.built.command, cwd=self.built.cwd, env=env, stdin=subprocess.DEVNULL,
                                            stdout=subprocess.PIPE, stderr=stderr, text=True, encoding="utf-8",
                                            errors="replace")
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + DEADLINE
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"{self.built.language} receiver exited ({self.process.returncode}): {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{self.built.language} receiver did not listen on {self.port}: {log.read_text()}")
                with self._changed:
                    self._changed.wait(0.02)  # a poll interval, not a sleep that waits for something

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)

    def _read(self) -> None:
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def processed(self, msg_id: str) -> list[str]:
        with self._changed:
            return [line for line in self.lines if line.startswith(f"processed {msg_id} ")]

    def wait_processed(self, msg_id: str) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: any(ln.startswith(f"processed {msg_id} ") for ln in self.lines),
                                          timeout=DEADLINE):
                pytest.fail(f"no 'processed {msg_id}' line; stdout so far: {self.lines}")

    def post(self, body: bytes, headers: dict[str, str | bytes], path: str = "/callbacks/carrier-auth?v=1") -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            conn.putrequest("POST", path, skip_accept_encoding=True)
            for name, value in {"Content-Type": "application/json; charset=utf-8",
                                "Content-Length": str(len(body)), **headers}.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def sync(self) -> None:
        """The server is alive and serving: a fresh valid delivery is processed. Requests are sent
        one after another, so every line an earlier request printed is on stdout before this one's."""
        assert self.process.poll() is None, f"{self.built.language} receiver died"
        msg_id, body = new_event()
        assert 200 <= self.post(body, signed(self.secret, msg_id, body)) < 300
        self.wait_processed(msg_id)


def new_event(error_code: str = "SUCCESS") -> tuple[str, bytes]:
    msg_id = str(uuid.uuid4())
    message = {"SUCCESS": "运营商认证成功", "DEFEAT": "运营商认证失败"}[error_code]
    body = {"error_message": message, "error_code": error_code, "success": error_code == "SUCCESS",
            "callback_set": {"callback_url": "https://app.example.com/cb", "token": "令牌-token"},
            "task_id": str(uuid.uuid4()), "userId": "u-1", "finished_at": "2026-11-23T03:20:39Z", "event_id": msg_id}
    return msg_id, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed(secret: str, msg_id: str, body: bytes, age: float = 0, sign_id: str | None = None,
           signature: str | None = None) -> dict[str, str | bytes]:
    """The Standard Webhooks headers, signed by the reference library (``age`` seconds ago)."""
    when = datetime.now(timezone.utc) - timedelta(seconds=age)
    mac = Webhook(secret).sign(sign_id or msg_id, when, body.decode("utf-8"))
    return {"webhook-id": msg_id.encode("utf-8"), "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": signature.replace("{sig}", mac) if signature else mac}


# --- the cases, the same for every language ----------------------------------------------------------

CASES: dict[str, Callable[[Server], None]] = {}


def case(function: Callable[[Server], None]) -> Callable[[Server], None]:
    CASES[function.__name__] = function
    return function


def other_secret() -> str:
    return whsec(secrets.token_bytes(32))


@case
def valid_delivery(server: Server) -> None:
    msg_id, body = new_event("DEFEAT")
    assert 200 <= server.post(body, signed(server.secret, msg_id, body)) < 300
    server.wait_processed(msg_id)
    assert server.processed(msg_id) == [f"processed {msg_id} DEFEAT"]


@case
def repeat_is_acknowledged_not_processed(server: Server) -> None:
    msg_id, body = new_event()
    headers = signed(server.secret, msg_id, body)
    assert 200 <= server.post(body, headers) < 300
    assert 200 <= server.post(body, headers) < 300  # the same attempt again
    assert 200 <= server.post(body, signed(server.secret, msg_id, body, age=-1)) < 300  # a redelivery: new signature
    server.sync()
    assert server.processed(msg_id) == [f"processed {msg_id} SUCCESS"]


@case
def rotation_wrong_first_signature_right_second(server: Server) -> None:
    msg_id, body = new_event()
    old = Webhook(other_secret()).sign(msg_id, datetime.now(timezone.utc), body.decode())
    assert 200 <= server.post(body, signed(server.secret, msg_id, body, signature=f"{old} {{sig}}")) < 300
    server.wait_processed(msg_id)


@case
def other_versions_are_ignored(server: Server) -> None:
    msg_id, body = new_event()
    assert 200 <= server.post(body, signed(server.secret, msg_id, body, signature="v0,not/base64@@ {sig}")) < 300
    server.wait_processed(msg_id)


@case
def timestamp_four_minutes_old_is_accepted(server: Server) -> None:
    msg_id, body = new_event()
    assert 200 <= server.post(body, signed(server.secret, msg_id, body, age=240)) < 300
    server.wait_processed(msg_id)


def rejected(server: Server, body: bytes, headers: dict[str, str | bytes], statuses: set[int], msg_id: str) -> None:
    assert server.post(body, headers) in statuses
    server.sync()
    assert server.processed(msg_id) == []


@case
def tampered_body_401(server: Server) -> None:
    msg_id, body = new_event()
    rejected(server, body.replace(b"SUCCESS", b"DEFEAT!"), signed(server.secret, msg_id, body), {401}, msg_id)


@case
def wrong_secret_401(server: Server) -> None:
    msg_id, body = new_event()
    rejected(server, body, signed(other_secret(), msg_id, body), {401}, msg_id)


@case
def signature_for_another_id_401(server: Server) -> None:
    msg_id, body = new_event()
    rejected(server, body, signed(server.secret, msg_id, body, sign_id="another-id"), {401}, msg_id)


@case
def timestamp_ten_minutes_old_401(server: Server) -> None:
    msg_id, body = new_event()
    rejected(server, body, signed(server.secret, msg_id, body, age=600), {401}, msg_id)


@case
def timestamp_ten_minutes_ahead_401(server: Server) -> None:
    msg_id, body = new_event()
    rejected(server, body, signed(server.secret, msg_id, body, age=-600), {401}, msg_id)


def malformed(change: Callable[[dict[str, str | bytes]], None], statuses: frozenset[int] = frozenset({400})):
    def run(server: Server) -> None:
        msg_id, body = new_event()
        headers = signed(server.secret, msg_id, body)
        change(headers)
        rejected(server, body, headers, set(statuses), msg_id)
    return run


MALFORMED: dict[str, Callable[[dict[str, str | bytes]], None]] = {
    "missing_webhook_id": lambda h: h.pop("webhook-id"),
    "missing_webhook_timestamp": lambda h: h.pop("webhook-timestamp"),
    "missing_webhook_signature": lambda h: h.pop("webhook-signature"),
    "empty_webhook_id": lambda h: h.update({"webhook-id": ""}),
    "empty_signature": lambda h: h.update({"webhook-signature": ""}),
    "timestamp_abc": lambda h: h.update({"webhook-timestamp": "abc"}),
    "timestamp_negative": lambda h: h.update({"webhook-timestamp": "-5"}),
    "timestamp_huge": lambda h: h.update({"webhook-timestamp": "9" * 8000}),
    "timestamp_non_ascii_digits": lambda h: h.update({"webhook-timestamp": "１７９５４０４０３９".encode()}),
    "signature_undecodable": lambda h: h.update({"webhook-signature": "v1,@@@"}),
    "signature_no_v1_entry": lambda h: h.update({"webhook-signature": "v2," + h["webhook-signature"][3:]}),
    "signature_non_ascii": lambda h: h.update({"webhook-signature": "v1,签名".encode()}),
}
for _name, _change in MALFORMED.items():
    CASES[f"malformed_{_name}_400"] = malformed(_change)
# well-formed but unverifiable, or strange enough that a receiver may call it malformed: 400 or 401
CASES["huge_signature_400_or_401"] = malformed(
    lambda h: h.update({"webhook-signature": "v1," + base64.b64encode(os.urandom(6000)).decode()}),
    frozenset({400, 401}))
CASES["non_ascii_webhook_id_400_or_401"] = malformed(
    lambda h: h.update({"webhook-id": "事件-1".encode()}), frozenset({400, 401}))


@case
def signed_body_not_json_400(server: Server) -> None:
    msg_id, body = str(uuid.uuid4()), "不是 JSON".encode()
    rejected(server, body, signed(server.secret, msg_id, body), {400}, msg_id)


@case
def client_disconnects_mid_body(server: Server) -> None:
    msg_id, body = new_event()
    headers = signed(server.secret, msg_id, body)
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        head = [b"POST /cb HTTP/1.1", b"Host: 127.0.0.1", f"Content-Length: {len(body) + 100}".encode()]
        head += [name.encode() + b": " + (value if isinstance(value, bytes) else value.encode())
                 for name, value in headers.items()]
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body[:10])
    server.sync()
    assert server.processed(msg_id) == []


# --- the tests ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(SNIPPETS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[Server]:
    running = Server(built, key=secrets.token_bytes(32))  # a whsec_ secret made from a random key
    try:
        yield running.start(built.cwd / "stderr.log")
    finally:
        running.stop()


@pytest.fixture(params=list(CASES))
def receiver_case(request: pytest.FixtureRequest) -> Callable[[Server], None]:
    return CASES[request.param]


def test_receiver(server: Server, receiver_case: Callable[[Server], None]) -> None:
    receiver_case(server)
    server.sync()  # still alive and serving


@pytest.mark.parametrize("secret", ["", "dev-callback-secret", "whsec_@@@", "whsec_"])
def test_a_bad_secret_stops_the_receiver_at_startup(built: Built, secret: str) -> None:
    env = dict(built.env, CALLBACK_SECRET=secret, PORT=str(free_port()))
    process = subprocess.Popen(built.command, cwd=built.cwd, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=DEADLINE)
    assert process.returncode != 0
    assert stderr.strip(), "the receiver says why it stopped"
    if not secret.startswith("whsec_"):
        assert b"CALLBACK_SECRET must be whsec_" in stderr


def test_java_receiver_runs_with_the_source_launcher(tmp_path: Path) -> None:
    """`java Receiver.java`, as the document says (the other tests run javac's classes: faster)."""
    if not shutil.which("java"):
        pytest.skip("java is not on PATH")
    (tmp_path / "Receiver.java").write_text(snippet("Receiver.java", "//"), encoding="utf-8")
    done = subprocess.run(["java", "Receiver.java"], cwd=tmp_path, env=dict(os.environ, CALLBACK_SECRET="nope"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "CALLBACK_SECRET must be whsec_" in done.stderr  # it compiled and ran up to the secret check


# --- the document's other claims ---------------------------------------------------------------------


def test_each_snippet_is_short() -> None:
    for file_name, marker, _ in SNIPPETS.values():
        assert len(snippet(file_name, marker).splitlines()) <= 80, file_name


def test_whsec_shell_one_liner_matches_the_rule() -> None:
    """The documented one-liner gives the whsec_ form of a long secret (GNU base64 wraps at 76)."""
    one_liner = 'echo "whsec_$(printf %s "$SECRET" | base64 | tr -d \'\\n\')"'
    assert one_liner in doc_text()
    for secret in ["dev-callback-secret", secrets.token_hex(32), "密钥-" + secrets.token_hex(40)]:
        out = subprocess.run(["sh", "-c", one_liner], env={**os.environ, "SECRET": secret},
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == whsec(secret.encode("utf-8"))
        Webhook(out)  # the reference library takes it


def test_worked_example_in_the_document_is_correct() -> None:
    """The example delivery's headers are what the secret makes of its body."""
    import hashlib
    import hmac

    text = doc_text()
    example = next((b for b in code_blocks(text) if b.startswith("POST /cb HTTP/1.1")), None)
    assert example, "docs/callbacks.md: the example delivery (a block starting 'POST /cb HTTP/1.1') is missing"
    head, _, body = example.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    raw = body.rstrip("\n").encode("utf-8")
    secret = re.search(r"secret `([^`]+)`,\s+whose\s+`whsec_`\s+form\s+is\s+`(whsec_[^`]+)`", text)
    assert secret, "the example names its secret and its whsec_ form"
    assert secret[2] == whsec(secret[1].encode())
    stamp = int(headers["webhook-timestamp"])
    expected = Webhook(secret[2]).sign(headers["webhook-id"], datetime.fromtimestamp(stamp, timezone.utc), raw.decode())
    assert headers["webhook-signature"] == expected
    legacy = hmac.new(secret[1].encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert headers["X-CarrierAuth-Signature"] == f"t={stamp},v1={legacy}"
    assert headers["X-CarrierAuth-Event-Id"] == headers["webhook-id"] == json.loads(raw)["event_id"]
    assert headers["Content-Length"] == str(len(raw))


def test_library_example_in_the_document_works(monkeypatch: pytest.MonkeyPatch) -> None:
    block = next((b for b in code_blocks(doc_text()) if "from standardwebhooks import Webhook" in b), None)
    assert block, "docs/callbacks.md: the 'Verify with a library' Python example is missing"
    secret = whsec(secrets.token_bytes(24))
    monkeypatch.setenv("CALLBACK_SECRET", secret)
    namespace: dict = {}
    exec(compile(block, "callbacks.md", "exec"), namespace)
    verified_event = namespace["verified_event"]
    msg_id, body = new_event()
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in signed(secret, msg_id, body).items()}
    assert verified_event(body, headers)["event_id"] == msg_id
    assert verified_event(body + b" ", headers) is None
    for broken in ("v1abc", "v1,@@@", ""):
        assert verified_event(body, {**headers, "webhook-signature": broken}) is None
