"""The state machine's carrier step: login, submit, resend, park, poll, finish, timeout, fail.

Invoked by Step Functions with ``{"action": ..., "task_id": ...}`` (login, submit and resend also
carry ``entered``, the key of their upstream call); returns the outcome the ASL routes on.
``ProviderUnavailable`` and ``ProviderError`` propagate: their class names are the ASL
Retry/Catch names. ``ProviderOutcomeUnknown`` never does: ``flow.carrier_step`` settles it
(docs/upstream-calls.md).
"""

from aws_lambda_powertools import Logger, Tracer

from carrier_auth import flow

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    logger.append_keys(task_id=event.get("task_id"), action=event.get("action"))
    return flow.carrier_step(event)
