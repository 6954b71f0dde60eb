"""SQS (CarrierAuthFinished events) -> signed POST to the app's callback_url.

The records of a batch are delivered in parallel, each attempt bounded by
``CALLBACK_TIMEOUT_SECONDS`` (whole attempt: connect, send, status line), so a batch takes as
long as its slowest attempt - never the sum - and one slow endpoint neither delays nor resends
another task's callback. A record still undecided when the function's own budget runs low
(``DEADLINE_MARGIN_SECONDS`` before its timeout) is reported failed before the function could
time out: SQS redelivers only the failed records, and the others are deleted.

Failed records are reported as batch item failures and their visibility timeout grows with
each receive (30 s, 60 s, 120 s, ... capped at 6 h), so SQS retries them for hours before the
redrive policy parks them in the dead-letter queue. A 429 or 503 with Retry-After may lengthen
that wait (never shorten it, never past 6 h). A 410 Gone ends the retries: the record is not
failed (SQS deletes it) and the session records callback_status GONE.
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from carrier_auth import callback, sessions, tenants
from carrier_auth.config import get_settings
from carrier_auth.errors import CallbackDeliveryFailed, CallbackGone, SessionNotFound
from carrier_auth.retry import backoff_visibility, process_in_threads

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = AsyncBatchProcessor(event_type=EventType.SQS)

# Room left after the slowest attempt for the failure bookkeeping and returning the response.
DEADLINE_MARGIN_SECONDS = 3.0


class CallbackBudgetExhausted(CallbackDeliveryFailed):
    """The function's time ran out before the attempt finished: retried like any failure."""


def _deliver(record: SQSRecord, timeout: float) -> None:
    """One attempt for one record (runs in a worker thread)."""
    detail = json.loads(record.body)["detail"]
    logger.thread_safe_append_keys(task_id=detail["task_id"], event_id=detail["event_id"])
    session = sessions.get(detail["task_id"])
    if session is None:
        raise SessionNotFound(detail["task_id"])
    try:
        owner = tenants.get(str(session.get("tenant", "")))
    except tenants.UnknownTenant as exc:
        raise CallbackDeliveryFailed(str(exc)) from None
    try:
        status = callback.deliver(session, detail, owner, timeout)
    except CallbackGone:
        # the app asked for no more attempts: done, not failed (SQS deletes the record)
        sessions.update(detail["task_id"], {"callback_status": "GONE", "callback_http_status": 410})
        metrics.add_metric(name="CallbackGone", unit=MetricUnit.Count, value=1)
        logger.info("callback endpoint answered 410 Gone: no more attempts", extra={"http_status": 410})
        return
    sessions.update(detail["task_id"], {"callback_status": "DELIVERED", "callback_http_status": status})
    metrics.add_metric(name="CallbackDelivered", unit=MetricUnit.Count, value=1)
    logger.info("callback delivered", extra={"http_status": status})


def _failed(record: SQSRecord, exc: Exception) -> None:
    attempts = int(record.attributes.approximate_receive_count)
    retry_after = getattr(exc, "retry_after", None)  # a 429/503's Retry-After, in seconds
    logger.warning(
        "callback not delivered",
        extra={"reason": str(exc), "attempt": attempts, "message_id": record.message_id, "retry_after": retry_after},
    )
    metrics.add_metric(name="CallbackFailed", unit=MetricUnit.Count, value=1)
    backoff_visibility(record.event_source_arn, record.receipt_handle, attempts, retry_after)


def _handler_for(context, pool: ThreadPoolExecutor):  # noqa: ANN001, ANN202
    attempt = float(get_settings().callback_timeout_seconds)
    budget = context.get_remaining_time_in_millis() / 1000 - DEADLINE_MARGIN_SECONDS

    async def record_handler(record: SQSRecord) -> None:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(pool, _deliver, record, min(attempt, max(budget, 0.1)))
        try:
            await asyncio.wait_for(work, timeout=max(budget, 0.1))
        except asyncio.TimeoutError:
            exc: Exception = CallbackBudgetExhausted("the function's time budget ran out")
            _failed(record, exc)
            raise exc from None
        except (CallbackDeliveryFailed, SessionNotFound) as exc:
            _failed(record, exc)
            raise

    return record_handler


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    # one thread per record: no delivery waits for another one's slow endpoint; a stuck attempt
    # is never waited for past the budget
    return process_in_threads(event, context, processor, lambda pool: _handler_for(context, pool), "callback")
