"""aws.states execution status change (FAILED / TIMED_OUT / ABORTED) -> end the session.

The machine catches its own errors; this covers what it cannot: an execution aborted by an
operator, an execution-level timeout, a crash outside a Catch. The task gets a 103 answer,
or a DEFEAT callback if 105 was already answered. Idempotent.
"""

from aws_lambda_powertools import Logger, Tracer

from carrier_auth import flow

logger = Logger()
tracer = Tracer(patch_modules=("botocore",))  # what X-Ray patches: the libraries this function calls through


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event, context):
    # the event as it comes, not Powertools' EventBridgeEvent: its data_classes package loads the
    # wrapper of every event source there is, and two keys of "detail" are all this needs
    task_id = event["detail"]["name"]
    status = event["detail"]["status"]
    logger.append_keys(task_id=task_id)
    logger.info("execution ended outside the flow", extra={"execution_status": status})
    flow.end_with_error(task_id, f"execution {status}")
    return {"task_id": task_id, "status": status}
