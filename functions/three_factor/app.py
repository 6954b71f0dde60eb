"""The state machine's identity pre-check: phone three-factor (name + id number + phone)."""

from aws_lambda_powertools import Logger, Tracer

from carrier_auth import flow

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    logger.append_keys(task_id=event.get("task_id"))
    return flow.identity_step(event["task_id"])
