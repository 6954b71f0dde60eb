"""On-call tools for the Carrier Auth Gateway: ``python -m ops --help``.

- ``show TASK_ID``: the session (masks and hashes only), its execution and callback attempts;
- ``stuck``: tasks that failed, timed out or stopped moving;
- ``redrive-callbacks``: the callback dead-letter queue back into the callback queue;
- ``abort TASK_ID``: stop an execution and end its session;
- ``funnel``: the embedded stack's funnel (``GET /_local/funnel``).

Against the embedded stack (``--local``, the default: ``make run``'s moto) or a deployed stack
(``--stack NAME`` with the usual AWS credentials and region). Only the standard library, boto3
and the gateway's own ``carrier_auth`` package (layers/common): the session writes are the
flow's own (``carrier_auth.sessions``). Each command is also a function (``ops.tasks``,
``ops.callbacks``, ``ops.funnel``) taking the ``ops.resources.Resources`` it works on.

Exit codes: 0 done, 1 not found or nothing to do (or AWS refused), 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_LAYER = ROOT / "layers" / "common"
if str(_LAYER) not in sys.path:  # carrier_auth, as the functions import it from their layer
    sys.path.append(str(_LAYER))


class OpsError(Exception):
    """An expected failure, said to the operator in one line (no stack trace)."""

    exit_code = 1


class NotFound(OpsError):
    """No such task, stack or queue."""


class NothingToDo(OpsError):
    """The command had nothing to act on (an empty queue, a task already final)."""


class UsageError(OpsError):
    exit_code = 2
