"""`make run`: the embedded stack in the foreground until Ctrl-C.

Environment: CARRIER_AUTH_API_KEY (dev-api-key), CARRIER_AUTH_CALLBACK_SECRET
(dev-callback-secret), CARRIER_AUTH_INPUT_TIMEOUT_SECONDS (300),
CARRIER_AUTH_POLL_INTERVAL_SECONDS (1), CARRIER_AUTH_API_PORT (3000),
CARRIER_AUTH_MOTO_PORT (5000), CARRIER_AUTH_CALLBACK_PORT (3001).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from .stack import EmbeddedStack

BANNER = """
Carrier Auth Gateway (运营商认证网关) - embedded stack with sandbox providers

  API              {api}      (header x-api-key: {key})
  moto (AWS APIs)  {moto}      e.g. aws --endpoint-url {moto} dynamodb scan --table-name {table}
  state machine    {sm}
  callback receiver {callback}  (loopback callbacks are allowed locally; it logs what it gets)

Try it:   make demo   (in another terminal: walks the happy flow, printing every request and answer)
          or the curl walk-through in README.md ("Try it by hand").

Sandbox numbers: 13800138000 happy | 001 identity mismatch | 002 wrong password |
                 003 collection fails (DEFEAT) | 004 second SMS code. Any code but 123456 is wrong.
                 005-028: one per upstream condition (every guide code), see README.md.
Ctrl-C stops it.
"""


def main() -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    stack = EmbeddedStack(
        api_port=int(os.environ.get("CARRIER_AUTH_API_PORT", "3000")),
        moto_port=int(os.environ.get("CARRIER_AUTH_MOTO_PORT", "5000")),
        receiver_port=int(os.environ.get("CARRIER_AUTH_CALLBACK_PORT", "3001")),
    )
    stack.start()
    print(
        BANNER.format(
            api=stack.api_url,
            key=stack.api_key,
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
