"""SQS (one message per collecting task) -> one collection poll per receive.

The state machine's Collect state sends the task's message (its task token inside) with
``DelaySeconds`` = the poll interval and waits. Each receive is one poll (``flow.collect_poll``;
the receive count is the poll number):
- decided (SUCCESS / DEFEAT, or the poll bound reached): SendTaskSuccess to the waiting
  state, and the message is deleted; a definite ``ProviderError`` fails the state with it
  (SendTaskFailure: SystemError, DEFEAT);
- still collecting: the message's visibility is set to the poll interval and the record is
  reported failed, so SQS hands the same message back for the next poll. A poll therefore
  costs one receive, one visibility change and a share of one invocation - no state
  transitions - and a crashed poll is simply the next receive.
The records of a batch are polled in parallel (each bounded by the upstream timeout).
"""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from carrier_auth import aws, flow
from carrier_auth.config import get_settings
from carrier_auth.providers.base import ProviderError
from carrier_auth.retry import process_in_threads, queue_url

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "requests"))  # what X-Ray patches: the libraries this function calls through
metrics = Metrics()
# Every record still collecting is a "failure": a batch of them is the normal case, not an error.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class StillCollecting(Exception):
    """Not an error: the record is left on the queue for the next poll."""


def _poll(record: SQSRecord) -> None:
    try:
        message = json.loads(record.body)
        task_id, token = str(message["task_id"]), str(message["task_token"])
    except (ValueError, KeyError, TypeError):
        logger.error("collection message that is not ours: dropped", extra={"message_id": record.message_id})
        return
    logger.thread_safe_append_keys(task_id=task_id)
    attempt = int(record.attributes.approximate_receive_count)
    metrics.add_metric(name="CollectionPoll", unit=MetricUnit.Count, value=1)
    try:
        outcome = flow.collect_poll(task_id, attempt)
    except ProviderError as exc:  # definite: the Collect state fails with it (SystemError: DEFEAT)
        logger.error("collection poll refused", extra={"error_type": type(exc).__name__})
        flow.resume(token, error=exc)
        return
    if outcome is None:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url(record.event_source_arn),
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=get_settings().poll_interval_seconds,
        )
        raise StillCollecting(task_id)
    metrics.add_metric(name=f"Collection{outcome.title()}", unit=MetricUnit.Count, value=1)
    logger.info("collection decided", extra={"outcome": outcome, "polls": attempt})
    flow.resume(token, {"outcome": outcome})


def _handler_for(pool: ThreadPoolExecutor):  # noqa: ANN202
    async def record_handler(record: SQSRecord) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(pool, _poll, record)
        except StillCollecting:
            raise
        except Exception as exc:  # polled again when the queue's visibility timeout ends
            logger.error("collection poll failed", extra={"error_type": type(exc).__name__})
            raise

    return record_handler


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event, context):
    return process_in_threads(event, context, processor, _handler_for, "collect")
