"""`python -m local` (what `make run` starts) as a subprocess, driven over HTTP like an app:
the demo, a look at the tables through the moto endpoint, and a scan of everything it printed;
and what it does when a port it needs is taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests

from local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("sandbox-pass", "11010519491231002X")


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory):
    ports = {"api": free_port(), "moto": free_port(), "callback": free_port()}
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
        "CARRIER_AUTH_API_PORT": str(ports["api"]),
        "CARRIER_AUTH_MOTO_PORT": str(ports["moto"]),
        "CARRIER_AUTH_CALLBACK_PORT": str(ports["callback"]),
        "CARRIER_AUTH_API_KEY": "e2e-key",
        "CARRIER_AUTH_CALLBACK_SECRET": "e2e-callback-secret",
    }
    out = tmp_path_factory.mktemp("stack") / "output.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        api = f"http://127.0.0.1:{ports['api']}"
        deadline = time.monotonic() + 120  # 9 s on an idle machine; CI runs two suites side by side
        while True:
            assert proc.poll() is None, out.read_text(errors="replace")
            try:
                if requests.get(f"{api}/carrier/auth/ping", headers={"x-api-key": "e2e-key"}, timeout=1).status_code == 404:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting up
                pass
            assert time.monotonic() < deadline, "the stack did not come up"
            time.sleep(0.2)
        yield {"api": api, "ports": ports, "env": env, "output": out, "proc": proc}
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_walks_the_happy_flow_to_success(running_stack):
    env = {
        **running_stack["env"],
        "CARRIER_AUTH_API_URL": running_stack["api"],
        "CARRIER_AUTH_API_KEY": "e2e-key",
        "CARRIER_AUTH_CALLBACK_URL": f"http://127.0.0.1:{running_stack['ports']['callback']}/callback",
    }
    done = subprocess.run([sys.executable, "-m", "local.demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"code": "105"' in done.stdout
    assert "result SUCCESS" in done.stdout
    assert "sandbox-pass" not in done.stdout  # the demo masks what it prints
    output = running_stack["output"]
    deadline = time.monotonic() + 30
    while "signature=valid answered=200" not in output.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the callback receiver never logged a valid delivery"
        time.sleep(0.1)


def test_moto_endpoint_shows_tables_and_executions(running_stack):
    moto = f"http://127.0.0.1:{running_stack['ports']['moto']}"
    kw = {"endpoint_url": moto, "region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    tables = boto3.client("dynamodb", **kw).list_tables()["TableNames"]
    assert any(t.endswith("SessionsTable") for t in tables)
    machines = boto3.client("stepfunctions", **kw).list_state_machines()["stateMachines"]
    assert len(machines) == 1


def test_wrong_api_key_is_403(running_stack):
    resp = requests.post(f"{running_stack['api']}/carrier/auth", json={}, headers={"x-api-key": "nope"}, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["code"] == "103"


def test_the_second_tenant_is_served_too(running_stack):
    url = f"{running_stack['api']}/carrier/auth/no-such-task"
    resp = requests.get(url, headers={"x-api-key": "dev-api-key-2"}, timeout=30)
    assert resp.status_code == 404 and "x-amzn-RequestId" in resp.headers  # the function answered: the key is good
    banner = running_stack["output"].read_text(errors="replace")
    assert "e2e-key" in banner and "devkey0001" in banner and "dev-api-key-2" in banner and "devkey0002" in banner


@pytest.mark.parametrize("variable", ["CARRIER_AUTH_API_PORT", "CARRIER_AUTH_MOTO_PORT", "CARRIER_AUTH_CALLBACK_PORT"])
def test_a_taken_port_is_named_in_one_line_and_nothing_starts(variable):
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'layers' / 'common'}{os.pathsep}{ROOT}",
        "CARRIER_AUTH_API_PORT": str(free_port()),
        "CARRIER_AUTH_MOTO_PORT": str(free_port()),
        "CARRIER_AUTH_CALLBACK_PORT": str(free_port()),
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "local"], cwd=ROOT, env={**env, variable: str(port)},
                              capture_output=True, text=True, timeout=30)
    assert time.monotonic() - started < 5
    assert done.returncode == 1
    assert done.stderr == f"port {port} is taken: set {variable} to a free port\n"
    assert done.stdout == ""


def test_h5_demo_prints_a_link_that_opens_the_page(running_stack):
    env = {
        **running_stack["env"],
        "CARRIER_AUTH_API_URL": running_stack["api"],
        "CARRIER_AUTH_API_KEY": "e2e-key",
        "CARRIER_AUTH_CALLBACK_URL": f"http://127.0.0.1:{running_stack['ports']['callback']}/callback",
        "CARRIER_AUTH_H5_MOBILE": "13800138000",
    }
    done = subprocess.run([sys.executable, "-m", "local.h5_demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith(f"{running_stack['api']}/v1/h5/") and "#t=" in url
    page = requests.get(url.split("#")[0], timeout=10)
    assert page.status_code == 200 and "运营商授权" in page.text
    token = url.split("#t=")[1]
    opened = requests.post(f"{url.split('#')[0]}/api/session", json={"token": token},
                           headers={"X-CarrierAuth-H5": "1"}, timeout=30)
    assert opened.status_code == 200 and opened.json()["data"]["step"] == "form"


def test_nothing_printed_holds_a_secret(running_stack):
    text = running_stack["output"].read_text(errors="replace")
    assert "callback received" in text
    for secret in SECRETS:
        assert secret not in text
    assert '"123456"' not in text and "=123456" not in text
