"""SQS (CarrierAuthFinished events) -> signed POST to the app's callback_url.

Failed records are reported as batch item failures and their visibility timeout grows with
each receive (30 s, 60 s, 120 s, ... capped at 6 h), so SQS retries them for hours before the
redrive policy parks them in the dead-letter queue.
"""

import json

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from carrier_auth import callback, sessions
from carrier_auth.retry import backoff_visibility
from carrier_auth.errors import CallbackDeliveryFailed, SessionNotFound

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    detail = json.loads(record.body)["detail"]
    logger.append_keys(task_id=detail["task_id"], event_id=detail["event_id"])
    session = sessions.get(detail["task_id"])
    if session is None:
        raise SessionNotFound(detail["task_id"])
    try:
        status = callback.deliver(session, detail)
    except CallbackDeliveryFailed as exc:
        attempts = int(record.attributes.approximate_receive_count)
        logger.warning("callback not delivered", extra={"reason": str(exc), "attempt": attempts})
        metrics.add_metric(name="CallbackFailed", unit=MetricUnit.Count, value=1)
        backoff_visibility(record.event_source_arn, record.receipt_handle, attempts)
        raise
    sessions.update(detail["task_id"], {"callback_status": "DELIVERED", "callback_http_status": status})
    metrics.add_metric(name="CallbackDelivered", unit=MetricUnit.Count, value=1)
    logger.info("callback delivered", extra={"http_status": status})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
