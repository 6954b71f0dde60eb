"""`make run`: the embedded stack in the foreground until Ctrl-C.

Two tenants (apps), each with its own API key and callback signing secret:
CARRIER_AUTH_API_KEY (dev-api-key) / CARRIER_AUTH_CALLBACK_SECRET (dev-callback-secret) and
CARRIER_AUTH_API_KEY_2 (dev-api-key-2) / CARRIER_AUTH_CALLBACK_SECRET_2 (dev-callback-secret-2).
The same secret signs X-CarrierAuth-Signature and the Standard Webhooks webhook-signature; the
banner shows each secret's whsec_ form for the Standard Webhooks libraries (the defaults':
whsec_ZGV2LWNhbGxiYWNrLXNlY3JldA== and whsec_ZGV2LWNhbGxiYWNrLXNlY3JldC0y).
Environment: CARRIER_AUTH_INPUT_TIMEOUT_SECONDS (300), CARRIER_AUTH_POLL_INTERVAL_SECONDS (1),
CARRIER_AUTH_UPSTREAM_TIMEOUT_SECONDS (5), CARRIER_AUTH_API_PORT (3000),
CARRIER_AUTH_MOTO_PORT (5000), CARRIER_AUTH_CALLBACK_PORT (3001),
CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS (execution environments per function: 10 per CPU),
CARRIER_AUTH_LOCAL_FUNCTION_NICE (10: the environments' CPU priority below the stack's own
process; the API functions' 5 lower still; 0 = all alike).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

PORTS = (("CARRIER_AUTH_API_PORT", 3000), ("CARRIER_AUTH_MOTO_PORT", 5000), ("CARRIER_AUTH_CALLBACK_PORT", 3001))

BANNER = """
Carrier Auth Gateway (运营商认证网关) - embedded stack with sandbox providers

  API              {api}      (header x-api-key: a tenant's key)
  OpenAPI document {api}/openapi.json   (no key; the same as docs/openapi.json)
  funnel           {api}/_local/funnel   (no key; the dashboard's figures, HTML in a browser; python -m ops funnel)
  tenants          {tenants}
                   callbacks are signed with the tenant's secret: CARRIER_AUTH_CALLBACK_SECRET (_2),
                   both X-CarrierAuth-Signature and webhook-signature (Standard Webhooks: whsec_ form)
  moto (AWS APIs)  {moto}      e.g. aws --endpoint-url {moto} dynamodb scan --table-name {table}
  state machine    {sm}
  callback receiver {callback}  (loopback callbacks are allowed locally; it logs what it gets
                   and which tenant's secret signed it)

Try it:   make demo   (in another terminal: walks the happy flow, printing every request and answer)
          or the curl walk-through in README.md ("Try it by hand").
          make h5-demo   (a hosted H5 page link for a browser: {api}/v1/h5/<task>#t=<token>)

Sandbox numbers: 13800138000 happy | 001 identity mismatch | 002 wrong password |
                 003 collection fails (DEFEAT) | 004 second SMS code. Any code but 123456 is wrong.
                 005-030: one per upstream condition (every guide code), see README.md.
Ctrl-C stops it.
"""
TENANT = ("{name:<10} x-api-key: {key:<16} API key id {key_id}\n"
          "                              its callback secret for Standard Webhooks: {whsec}")


def taken_port() -> str | None:
    """What to say when a port the stack needs is taken (checked before anything starts)."""
    for variable, default in PORTS:
        port = int(os.environ.get(variable, default))
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return f"port {port} is taken: set {variable} to a free port"
    return None


def main() -> int:
    problem = taken_port()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from .stack import EmbeddedStack  # imported after the check: a taken port is reported at once

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stack = EmbeddedStack(
        api_port=int(os.environ.get("CARRIER_AUTH_API_PORT", "3000")),
        moto_port=int(os.environ.get("CARRIER_AUTH_MOTO_PORT", "5000")),
        receiver_port=int(os.environ.get("CARRIER_AUTH_CALLBACK_PORT", "3001")),
    )
    stack.start()
    from carrier_auth.callback import standard_secret

    tenants = [
        TENANT.format(name=t.name, key=t.api_key, key_id=t.api_key_id, whsec=standard_secret(t.callback_secret))
        for t in stack.tenants
    ]
    print(
        BANNER.format(
            api=stack.api_url,
            tenants="\n                   ".join(tenants),
            moto=stack.moto_url,
            table=stack.tables["SessionsTable"],
            sm=stack.state_machine_arn,
            callback=stack.receiver.url,
        ),
        flush=True,
    )
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
