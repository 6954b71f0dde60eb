"""The state machine's carrier steps: begin (identity pre-check + login), input (submit /
resend), check, busy, failover, finish, timeout, fail.

Invoked by Step Functions with ``{"action": ..., "task_id": ...}`` (begin and input also carry
``entered``, the key of their upstream call, and the waiting steps their ``task_token``);
returns the outcome the ASL routes on.
``ProviderUnavailable`` and ``ProviderError`` propagate (``carrier_auth.errors``): the first is
the ASL's Retry/Catch name, the second ends at its ``States.ALL`` catch. ``ProviderOutcomeUnknown`` never does: ``flow.carrier_step`` settles it
(docs/upstream-calls.md).
"""

from aws_lambda_powertools import Logger, Tracer

from carrier_auth import flow

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # what X-Ray patches: the libraries this function calls through


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    logger.append_keys(task_id=event.get("task_id"), action=event.get("action"))
    return flow.carrier_step(event, context.get_remaining_time_in_millis() / 1000)
